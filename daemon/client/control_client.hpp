#pragma once
// kairosctl's side of kairosd's control socket: connect, send one request line, read one answer
// line, all under one deadline.
#include <chrono>
#include <expected>
#include <string>
#include <string_view>

namespace kairos {

struct ControlError {
  bool unreachable = false;  // no socket, nobody listening, or no permission: kairosd is out of reach
  std::string message;
};

// Sends {"command":COMMAND} to the socket at `path` and returns the answer line (without its
// newline), which may be an {"error":...} object from the daemon.
std::expected<std::string, ControlError> control_request(const std::string& path, std::string_view command,
                                                         std::chrono::milliseconds timeout);

}  // namespace kairos
