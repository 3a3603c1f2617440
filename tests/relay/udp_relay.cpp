#include "udp_relay.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace kairos::relay {
namespace {

bool same_address(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

}  // namespace

Result<UdpRelay> UdpRelay::open(const SocketAddress& listen, const SocketAddress& upstream) {
  auto fd = open_socket(listen.family(), SOCK_DGRAM);
  if (!fd) return std::unexpected(fd.error());
  if (::bind(fd->get(), listen.get(), listen.length) != 0) {
    return fail("bind " + listen.to_string() + ": " + std::strerror(errno));
  }
  return UdpRelay(std::move(*fd), upstream);
}

void UdpRelay::add_poll_fds(std::vector<pollfd>& fds) const {
  fds.push_back(pollfd{.fd = listen_.get(), .events = POLLIN, .revents = 0});
  for (const auto& p : peers_) fds.push_back(pollfd{.fd = p->upstream.get(), .events = POLLIN, .revents = 0});
}

UdpRelay::Peer* UdpRelay::peer_for(const SocketAddress& client) {
  for (auto& p : peers_) {
    if (same_address(p->client, client)) return p.get();
  }
  auto fd = open_socket(upstream_.family(), SOCK_DGRAM);
  if (!fd) return nullptr;
  if (::connect(fd->get(), upstream_.get(), upstream_.length) != 0) return nullptr;
  peers_.push_back(std::make_unique<Peer>(Peer{client, std::move(*fd)}));
  return peers_.back().get();
}

void UdpRelay::on_readable(int fd, Impairer& impairer, Clock::time_point now) {
  std::array<std::uint8_t, 65536> buffer{};
  if (fd == listen_.get()) {
    // Drain: several clients may have sent since the last poll.
    for (;;) {
      SocketAddress from;
      from.length = sizeof(from.storage);
      const ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from.storage),
                                   &from.length);
      if (n < 0) return;
      if (const Peer* peer = peer_for(from)) {
        queue(Direction::kRequest, *peer, std::span(buffer.data(), static_cast<std::size_t>(n)), impairer, now);
      }
    }
  }
  for (const auto& p : peers_) {
    if (p->upstream.get() != fd) continue;
    for (;;) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0) return;  // EAGAIN, or ECONNREFUSED while the server is not up: nothing to relay
      queue(Direction::kResponse, *p, std::span(buffer.data(), static_cast<std::size_t>(n)), impairer, now);
    }
  }
}

void UdpRelay::queue(Direction direction, const Peer& peer, std::span<const std::uint8_t> bytes, Impairer& impairer,
                     Clock::time_point now) {
  for (Delivery& d : impairer.impair(direction, bytes)) {
    const auto due = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(d.delay));
    queue_.emplace(due, Pending{direction, &peer, std::move(d.bytes)});
  }
}

void UdpRelay::send_due(Impairer& impairer, Clock::time_point now) {
  while (!queue_.empty() && queue_.begin()->first <= now) {
    const Pending p = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    ssize_t n = -1;
    if (p.direction == Direction::kRequest) {
      n = ::send(p.peer->upstream.get(), p.bytes.data(), p.bytes.size(), 0);
    } else {
      n = ::sendto(listen_.get(), p.bytes.data(), p.bytes.size(), 0, p.peer->client.get(), p.peer->client.length);
    }
    if (n >= 0) ++impairer.counters(p.direction).sent;
  }
}

std::optional<Clock::time_point> UdpRelay::next_due() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first;
}

}  // namespace kairos::relay
