#include "daemon/client/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kairos {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

std::string SocketAddress::host() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host, sizeof host);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host, sizeof host);
  } else if (family() == AF_PACKET) {
    // A PTP master over Ethernet (IEEE 1588 Annex E) is known by its MAC.
    const auto* sll = reinterpret_cast<const sockaddr_ll*>(&storage);
    std::string mac;
    for (std::size_t i = 0; i < sll->sll_halen && i < sizeof sll->sll_addr; ++i) {
      char pair[4];
      std::snprintf(pair, sizeof pair, i == 0 ? "%02x" : ":%02x", sll->sll_addr[i]);
      mac += pair;
    }
    return mac;
  }
  return host;
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET) {
    return host() + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port));
  }
  if (family() == AF_INET6) {
    return "[" + host() + "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port));
  }
  if (family() == AF_PACKET) return host();
  return "unknown address";
}

Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text, std::uint16_t default_port) {
  std::string host = text;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return fail("missing ']' in address " + text);
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return fail("unexpected text after ']' in " + text);
      port = text.substr(close + 2);
    }
  } else if (const auto colon = text.find(':'); colon != std::string::npos) {
    if (text.find(':', colon + 1) != std::string::npos) {
      host = text;  // a bare IPv6 address
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
  }
  if (host.empty()) return fail("empty host name in " + text);
  if (port.empty()) return std::pair{host, default_port};
  unsigned long value = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || value > 65535) return fail("bad port in " + text);
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value == 0 || value > 65535) return fail("bad port in " + text);
  return std::pair{host, static_cast<std::uint16_t>(value)};
}

Result<std::vector<SocketAddress>> resolve(const std::string& host, std::uint16_t port, int socktype) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
    // AI_ADDRCONFIG hides loopback-only setups; try again without it.
    hints.ai_flags = 0;
    rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  }
  if (rc != 0) return fail("cannot resolve " + host + ": " + gai_strerror(rc));
  return take_addresses(list, host);
}

Result<std::vector<SocketAddress>> take_addresses(addrinfo* list, const std::string& host) {
  std::vector<SocketAddress> out;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress address;
    std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
    address.length = a->ai_addrlen;
    out.push_back(address);
  }
  freeaddrinfo(list);
  if (out.empty()) return fail("no usable address for " + host);
  return out;
}

Result<void> set_nonblocking_cloexec(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return fail(std::string("fcntl: ") + std::strerror(errno));
  }
  return {};
}

Result<UniqueFd> open_socket(int family, int type) {
  UniqueFd fd(socket(family, type, 0));
  if (!fd) return fail(std::string("socket: ") + std::strerror(errno));
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return std::unexpected(ok.error());
  return fd;
}

int poll_timeout_ms(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count() + 1, 1'000'000));
}

Result<short> wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, poll_timeout_ms(deadline));
    if (rc > 0) return p.revents;
    if (rc == 0) return short{0};
    if (errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
  }
}

Result<UniqueFd> connect_tcp(const std::vector<SocketAddress>& addresses, Deadline deadline) {
  std::string errors;
  for (const SocketAddress& address : addresses) {
    auto fd = open_socket(address.family(), SOCK_STREAM);
    if (!fd) return fd;
    if (connect(fd->get(), address.get(), address.length) != 0 && errno != EINPROGRESS) {
      errors += " " + address.to_string() + ": " + std::strerror(errno) + ";";
      continue;
    }
    auto ready = wait_for(fd->get(), POLLOUT, deadline);
    if (!ready) return std::unexpected(ready.error());
    if (*ready == 0) return fail("timed out connecting to " + address.to_string());
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == 0) return std::move(*fd);
    errors += " " + address.to_string() + ": " + std::strerror(error) + ";";
  }
  return fail("cannot connect:" + errors);
}

}  // namespace kairos
