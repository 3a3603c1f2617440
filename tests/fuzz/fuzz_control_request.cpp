// Any bytes as one control socket request line: a command or a readable error, never a crash;
// the same answer every time (no state between requests).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/control_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto command = kairos::parse_control_request(line);
  if (!command && command.error().message.empty()) abort();
  auto again = kairos::parse_control_request(line);
  if (command.has_value() != again.has_value() || (command && *command != *again)) abort();
  if (command && line.find('{') == std::string_view::npos) abort();  // only an object is a request
  return 0;
}
