#pragma once
// Errors as values across the core: every parser and builder returns Result<T>.
#include <expected>
#include <string>
#include <utility>

namespace kairos {

struct Error {
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

}  // namespace kairos
