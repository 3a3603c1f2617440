#pragma once
// Small socket helpers shared by kairosctl and kairosd. Only socket/bind/connect/send/recv/
// sendmsg/recvmsg and fcntl are used on sockets, so the binaries run under syscall-interposing
// clock and network simulators (as chrony's tests do with clknetsim).
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "clock/result.hpp"

namespace kairos {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  std::string to_string() const;  // "1.2.3.4:123" or "[::1]:123"
  std::string host() const;       // "1.2.3.4", "::1" (without the port) or a MAC "02:00:00:00:00:01"
};

// "host", "host:port", "[v6]:port" → host and port (default_port when absent).
Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text, std::uint16_t default_port);
// Resolves a host name or address; addresses come back in resolver order.
Result<std::vector<SocketAddress>> resolve(const std::string& host, std::uint16_t port, int socktype);
// getaddrinfo's answer as addresses, in its order, and the list freed (the one loop over an
// addrinfo list: resolve() and the resolver's numeric parse share it).
Result<std::vector<SocketAddress>> take_addresses(addrinfo* list, const std::string& host);

// O_NONBLOCK and FD_CLOEXEC through fcntl (see above: not SOCK_* or TFD_* creation flags).
Result<void> set_nonblocking_cloexec(int fd);
// A non-blocking, close-on-exec socket.
Result<UniqueFd> open_socket(int family, int type);

using Deadline = std::chrono::steady_clock::time_point;
// Milliseconds left until the deadline for poll(), at least 0.
int poll_timeout_ms(Deadline deadline);
// Waits for events on fd until the deadline; returns revents, or 0 on timeout.
Result<short> wait_for(int fd, short events, Deadline deadline);

// Connects a TCP socket to the first address that answers before the deadline.
Result<UniqueFd> connect_tcp(const std::vector<SocketAddress>& addresses, Deadline deadline);

}  // namespace kairos
