#include "daemon/client/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "daemon/client/net.hpp"

namespace kairos {
namespace {

// Far above any answer (a few kB per source): only a broken peer gets here.
constexpr std::size_t kMaxAnswer = 16 << 20;

std::unexpected<ControlError> error(std::string message, bool unreachable = false) {
  return std::unexpected(ControlError{unreachable, std::move(message)});
}

}  // namespace

std::expected<std::string, ControlError> control_request(const std::string& path, std::string_view command,
                                                         std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) return error("control socket path too long: " + path);
  std::memcpy(address.sun_path, path.data(), path.size());
  auto fd = open_socket(AF_UNIX, SOCK_STREAM);
  if (!fd) return error(fd.error().message);
  if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED) {
      return error("kairosd not running? " + std::string(e == ENOENT ? "no control socket at " : "nobody answers on ") +
                       path, true);
    }
    if (e == EACCES || e == EPERM) {
      return error("no permission to use the control socket " + path + " (is this user in its group?)", true);
    }
    // A Unix socket's connect never blocks half-way: EAGAIN is a full backlog.
    if (e == EAGAIN) return error("kairosd is busy: the control socket " + path + " accepts no more connections", true);
    return error("connecting to " + path + ": " + std::strerror(e), true);
  }

  std::string out = nlohmann::json{{"command", command}}.dump() + "\n";
  while (!out.empty()) {
    auto ready = wait_for(fd->get(), POLLOUT, deadline);
    if (!ready) return error(ready.error().message);
    if (*ready == 0) return error("kairosd did not take the request in time");
    const ssize_t n = ::send(fd->get(), out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return error(std::string("sending the request: ") + std::strerror(errno));
    }
    out.erase(0, static_cast<std::size_t>(n));
  }

  std::string in;
  char buffer[8192];
  for (;;) {
    if (auto newline = in.find('\n'); newline != std::string::npos) return in.substr(0, newline);
    if (in.size() > kMaxAnswer) return error("the answer is too long");
    auto ready = wait_for(fd->get(), POLLIN, deadline);
    if (!ready) return error(ready.error().message);
    if (*ready == 0) return error("no answer from kairosd in time");
    const ssize_t n = ::recv(fd->get(), buffer, sizeof buffer, 0);
    if (n == 0) return error("kairosd closed the connection without an answer");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return error(std::string("reading the answer: ") + std::strerror(errno));
    }
    in.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace kairos
