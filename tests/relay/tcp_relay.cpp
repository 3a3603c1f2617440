#include "tcp_relay.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <span>

namespace kairos::relay {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(2);
constexpr auto kSendTimeout = std::chrono::seconds(2);

// Non-blocking sockets: wait for room when the peer reads slowly.
bool send_all(int fd, std::span<const std::uint8_t> bytes) {
  const Deadline deadline = std::chrono::steady_clock::now() + kSendTimeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto ready = wait_for(fd, POLLOUT, deadline);
      if (!ready || *ready == 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

Result<TcpRelay> TcpRelay::open(const SocketAddress& listen, const SocketAddress& upstream) {
  auto fd = open_socket(listen.family(), SOCK_STREAM);
  if (!fd) return std::unexpected(fd.error());
  const int on = 1;
  ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (::bind(fd->get(), listen.get(), listen.length) != 0 || ::listen(fd->get(), 64) != 0) {
    return fail("listen " + listen.to_string() + ": " + std::strerror(errno));
  }
  return TcpRelay(std::move(*fd), upstream);
}

void TcpRelay::add_poll_fds(std::vector<pollfd>& fds) const {
  fds.push_back(pollfd{.fd = listen_.get(), .events = POLLIN, .revents = 0});
  for (const Pair& p : pairs_) {
    if (p.client.reading) fds.push_back(pollfd{.fd = p.client.fd.get(), .events = POLLIN, .revents = 0});
    if (p.server.reading) fds.push_back(pollfd{.fd = p.server.fd.get(), .events = POLLIN, .revents = 0});
  }
}

void TcpRelay::accept_one() {
  UniqueFd client(::accept(listen_.get(), nullptr, nullptr));
  if (!client || !set_nonblocking_cloexec(client.get())) return;
  ++counters_.connections;
  auto server = connect_tcp({upstream_}, std::chrono::steady_clock::now() + kConnectTimeout);
  if (!server) {
    ++counters_.failed;
    return;  // closing the client tells it the server is not there
  }
  pairs_.push_back(Pair{Side{std::move(client)}, Side{std::move(*server)}});
}

bool TcpRelay::forward(Side& from, Side& to, std::uint64_t& bytes) {
  std::array<std::uint8_t, 16384> buffer{};
  for (;;) {
    const ssize_t n = ::recv(from.fd.get(), buffer.data(), buffer.size(), 0);
    if (n > 0) {
      if (!send_all(to.fd.get(), std::span(buffer.data(), static_cast<std::size_t>(n)))) return false;
      bytes += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0) return false;  // reset: the whole exchange is over
    from.reading = false;
    ::shutdown(to.fd.get(), SHUT_WR);
    return to.reading;
  }
}

void TcpRelay::on_readable(int fd) {
  if (fd == listen_.get()) {
    accept_one();
    return;
  }
  for (auto it = pairs_.begin(); it != pairs_.end(); ++it) {
    bool alive = true;
    if (it->client.fd.get() == fd) {
      alive = forward(it->client, it->server, counters_.bytes_up);
    } else if (it->server.fd.get() == fd) {
      alive = forward(it->server, it->client, counters_.bytes_down);
    } else {
      continue;
    }
    if (!alive) pairs_.erase(it);
    return;
  }
}

}  // namespace kairos::relay
