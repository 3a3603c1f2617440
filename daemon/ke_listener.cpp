#include "daemon/ke_listener.hpp"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "daemon/client_rate.hpp"
#include "nts/ke_client.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {
namespace {

// Bytes read from a client per readiness event, and per recv.
constexpr int kReadsPerEvent = 4;
constexpr std::size_t kReadChunk = 4096;
// After answering we read and drop what the client still sends (its close_notify) until it
// closes; more than this is not a client finishing politely.
constexpr std::size_t kMaxDiscard = 16 * 1024;

std::string errno_text(int error) { return std::strerror(error); }

Result<UniqueFd> open_listener(const SocketAddress& address, bool reuse_port) {
  auto fd = open_socket(address.family(), SOCK_STREAM);
  if (!fd) return fd;
  const int on = 1;
  // Restarting kairosd must not wait for old connections in TIME_WAIT to expire.
  if (setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    return fail("SO_REUSEADDR on " + address.to_string() + ": " + errno_text(errno));
  }
  // One listener per worker on the same address; the kernel spreads new connections over them.
  if (reuse_port && setsockopt(fd->get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    return fail("SO_REUSEPORT on " + address.to_string() + ": " + errno_text(errno));
  }
  // "[::]" means IPv6 only, so "0.0.0.0" can be listed beside it without a clash.
  if (address.family() == AF_INET6 && setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
    return fail("IPV6_V6ONLY on " + address.to_string() + ": " + errno_text(errno));
  }
  if (bind(fd->get(), address.get(), address.length) != 0) {
    return fail("cannot bind NTS-KE listener to " + address.to_string() + ": " + errno_text(errno));
  }
  if (listen(fd->get(), SOMAXCONN) != 0) {
    return fail("cannot listen on " + address.to_string() + ": " + errno_text(errno));
  }
  return fd;
}

Result<std::vector<UniqueFd>> open_listeners(const std::vector<std::string>& listen, bool reuse_port) {
  if (listen.empty()) return fail("NTS-KE server has no listen address");
  std::vector<UniqueFd> fds;
  for (const std::string& text : listen) {
    auto host_port = split_host_port(text, kNtsKeDefaultPort);
    if (!host_port) return std::unexpected(host_port.error());
    auto addresses = resolve(host_port->first, host_port->second, SOCK_STREAM);
    if (!addresses) return std::unexpected(addresses.error());
    for (const SocketAddress& address : *addresses) {
      auto fd = open_listener(address, reuse_port);
      if (!fd) return std::unexpected(fd.error());
      fds.push_back(std::move(*fd));
    }
  }
  return fds;
}



std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(EventLoop::Clock::now().time_since_epoch()).count();
}

}  // namespace

void KeListenerCounters::add(const KeListenerCounters& o) {
  accepted += o.accepted;
  over_limit += o.over_limit;
  evicted += o.evicted;
  rate_limited += o.rate_limited;
  handshakes_ok += o.handshakes_ok;
  handshakes_failed += o.handshakes_failed;
  responses += o.responses;
  no_agreement += o.no_agreement;
  error_records += o.error_records;
  aborted += o.aborted;
  timed_out += o.timed_out;
  accept_errors += o.accept_errors;
  credential_loads += o.credential_loads;
}

std::chrono::nanoseconds eviction_age(double timeout_seconds) {
  const auto quarter = std::chrono::duration<double>(timeout_seconds / 4);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::min(quarter, std::chrono::duration<double>(1.0)));
}

Result<std::unique_ptr<KeListener>> KeListener::create(const KeServerConfig& config, EventLoop& loop, KeyRing& ring,
                                                       std::optional<std::uint16_t> announced_port,
                                                       KeListenerShare share) {
  KeServerOptions options{
      .aeads = config.aeads,
      .ntp_server = config.ntp_server,
      .ntp_port = announced_port,
      .max_request = config.max_request,
      .cookie_nonces = {},
  };
  if (auto ok = check_ke_server_options(options); !ok) return fail("NTS-KE server: " + ok.error().message);
  // The listener's own nonce stream: a listener serves one thread (a worker, or the loop).
  auto nonces = counter_mode_random(system_random());
  if (!nonces) return fail("NTS-KE server: cookie nonces: " + nonces.error().message);
  options.cookie_nonces = std::move(*nonces);
  if (config.max_connections == 0) return fail("NTS-KE server: max-connections must be at least 1");
  if (!std::isfinite(config.timeout) || config.timeout <= 0 || config.timeout > 3600) {
    return fail("NTS-KE server: timeout must be more than 0 and at most 3600 seconds");
  }
  auto ctx = make_tls_server_context(config.certificate, config.private_key);
  if (!ctx) return std::unexpected(ctx.error());
  auto listeners = open_listeners(config.listen, share.reuse_port);
  if (!listeners) return std::unexpected(listeners.error());
  return std::make_unique<KeListener>(Private{}, config, loop, ring, std::move(options), std::move(*ctx),
                                      std::move(*listeners), std::move(share));
}

KeListener::KeListener(Private, const KeServerConfig& config, EventLoop& loop, KeyRing& ring,
                       KeServerOptions options, SslCtxPtr ctx, std::vector<UniqueFd> listeners, KeListenerShare share)
    : config_(config),
      loop_(loop),
      ring_(ring),
      options_(std::move(options)),
      ctx_(std::move(ctx)),
      listeners_(std::move(listeners)),
      rate_limiter_(std::move(share.rate_limiter)),
      timeout_(std::chrono::duration_cast<EventLoop::Clock::duration>(std::chrono::duration<double>(config.timeout))),
      eviction_age_(std::chrono::duration_cast<EventLoop::Clock::duration>(eviction_age(config.timeout))) {
  if (!rate_limiter_ && config.rate_limit) {
    rate_limiter_ = std::make_shared<SharedRateLimiter>(make_rate_limiter(*config.rate_limit));
  }
  watch_listeners();
}

KeListener::~KeListener() {
  unwatch_listeners();
  if (paused_) loop_.cancel_timer(pause_timer_);
  for (auto& [fd, c] : connections_) {
    loop_.unwatch(fd);
    loop_.cancel_timer(c.deadline);
  }
}

Result<void> KeListener::reload_credentials() {
  auto ctx = make_tls_server_context(config_.certificate, config_.private_key);
  if (!ctx) return std::unexpected(ctx.error());
  use_credentials(std::move(*ctx));
  return {};
}

void KeListener::use_credentials(SslCtxPtr ctx) {
  // Sessions in flight hold their own reference to the old context (SSL_new takes one), so it
  // lives until the last of them ends.
  ctx_ = std::move(ctx);
  ++counters_.credential_loads;
}

std::vector<SocketAddress> KeListener::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const UniqueFd& fd : listeners_) {
    SocketAddress address;
    address.length = sizeof address.storage;
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address.storage), &address.length) == 0) {
      out.push_back(address);
    }
  }
  return out;
}

void KeListener::watch_listeners() {
  for (const UniqueFd& fd : listeners_) {
    const int listen_fd = fd.get();
    loop_.watch(listen_fd, POLLIN, [this, listen_fd](short) { on_listener_ready(listen_fd); });
  }
}

void KeListener::unwatch_listeners() {
  for (const UniqueFd& fd : listeners_) loop_.unwatch(fd.get());
}

void KeListener::on_listener_ready(int listen_fd) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    SocketAddress peer;
    peer.length = sizeof peer.storage;
    // accept4 sets both flags in the one call, where accept and fcntl took four per connection;
    // under an interposing simulator (portable loop) accept and fcntl, the calls it serves.
    const bool portable = loop_.portable();
    const int fd = portable ? accept(listen_fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length)
                            : accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length,
                                      SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && portable && !set_nonblocking_cloexec(fd)) {
      ::close(fd);
      ++counters_.accept_errors;
      continue;
    }
    if (fd < 0) {
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) return;
      if (error == EINTR) continue;
      ++counters_.accept_errors;
      // The connection that failed is gone (aborted, refused by a firewall hook); the next one
      // may be fine.
      if (error == ECONNABORTED || error == EPROTO || error == EPERM) continue;
      // Out of descriptors or kernel memory: the backlog stays readable, so watching it now would
      // spin the loop without making progress.
      pause_accepting(error);
      return;
    }
    UniqueFd connection(fd);
    ++counters_.accepted;
    if (!admit(peer)) continue;  // closes the connection
    start_connection(std::move(connection));
  }
}

void KeListener::pause_accepting(int error) {
  if (paused_) return;
  const auto now = EventLoop::Clock::now();
  if (now - last_pause_warning_ > std::chrono::seconds(60)) {
    spdlog::warn("NTS-KE: accept failed ({}); not accepting for {} ms (logged once a minute)", errno_text(error),
                 kAcceptPause.count());
    last_pause_warning_ = now;
  }
  paused_ = true;
  unwatch_listeners();
  pause_timer_ = loop_.add_timer(kAcceptPause, [this] {
    paused_ = false;
    watch_listeners();
  });
}

bool KeListener::admit(const SocketAddress& peer) {
  if (rate_limiter_) {
    // kKiss and kDrop alike: NTS-KE has no kiss, so an over-limit client is just closed.
    auto key = rate_key_of(peer.storage);
    if (key && rate_limiter_->check(*key, monotonic_ns()) != RateDecision::kAllow) {
      ++counters_.rate_limited;
      return false;
    }
  }
  if (connections_.size() >= config_.max_connections && !evict_oldest()) {
    ++counters_.over_limit;
    return false;
  }
  return true;
}

bool KeListener::evict_oldest() {
  if (by_age_.empty()) return false;
  const int fd = by_age_.begin()->second;
  const Connection& oldest = connections_.at(fd);
  if (EventLoop::Clock::now() - oldest.accepted_at < eviction_age_) return false;
  close_connection(fd, /*evicted=*/true);
  return true;
}

void KeListener::start_connection(UniqueFd fd) {
  auto session = KeServerSession::start(ctx_.get(), options_);
  if (!session) {
    spdlog::debug("NTS-KE: cannot start a session: {}", session.error().message);
    ++counters_.accept_errors;
    return;
  }
  const int raw = fd.get();
  const std::uint64_t serial = next_serial_++;
  auto [it, inserted] = connections_.try_emplace(raw, std::move(fd), std::move(*session), serial);
  Connection& c = it->second;
  c.accepted_at = EventLoop::Clock::now();
  by_age_.emplace(serial, raw);
  c.deadline = loop_.add_timer(timeout_, [this, raw, serial] { on_deadline(raw, serial); });
  loop_.watch(raw, POLLIN, [this, raw](short revents) { on_connection_ready(raw, revents); });
}

void KeListener::on_connection_ready(int fd, short revents) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& c = it->second;
  if (c.lingering) {
    linger(fd, c);
    return;
  }
  bool peer_closed = false;
  bool broken = false;
  if (revents & (POLLIN | POLLERR | POLLHUP)) receive(c, peer_closed, broken);
  account(c);
  c.session.drain(c.outgoing);
  if (broken || !flush(c)) {
    close_connection(fd);
    return;
  }
  const auto state = c.session.state();
  if (state == KeServerSession::State::kFailed) {
    // Whatever could be sent (an alert) went out with the flush; nothing more will come.
    close_connection(fd);
    return;
  }
  if (state == KeServerSession::State::kDone) {
    if (!c.outgoing.empty()) {
      // Only the answer's tail is left to send; input waits until then (reading it now would
      // spin on a readable socket we do not read from).
      loop_.watch(fd, POLLOUT, [this, fd](short events) { on_connection_ready(fd, events); });
      return;
    }
    if (peer_closed) {
      close_connection(fd);
      return;
    }
    // Send our FIN after the answer and wait for the client's: closing with its close_notify
    // still unread would reset the connection, and a reset can destroy the answer in flight.
    ::shutdown(fd, SHUT_WR);
    c.lingering = true;
    loop_.watch(fd, POLLIN, [this, fd](short events) { on_connection_ready(fd, events); });
    return;
  }
  const short events = static_cast<short>(POLLIN | (c.outgoing.empty() ? 0 : POLLOUT));
  loop_.watch(fd, events, [this, fd](short events_now) { on_connection_ready(fd, events_now); });
}

void KeListener::receive(Connection& c, bool& peer_closed, bool& broken) {
  std::uint8_t buf[kReadChunk];
  // A few reads per event so one fast client cannot hold the loop.
  for (int i = 0; i < kReadsPerEvent; ++i) {
    const auto state = c.session.state();
    if (state == KeServerSession::State::kDone || state == KeServerSession::State::kFailed) return;
    const ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      c.session.receive({buf, static_cast<std::size_t>(n)}, ring_);
      account(c);
      continue;
    }
    if (n == 0) {
      c.session.peer_closed();
      peer_closed = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      broken = true;  // reset by the client
      c.session.peer_closed();
      account(c);
    }
    return;
  }
}

void KeListener::linger(int fd, Connection& c) {
  std::uint8_t buf[kReadChunk];
  for (int i = 0; i < kReadsPerEvent; ++i) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.discarded += static_cast<std::size_t>(n);
      if (c.discarded > kMaxDiscard) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // the client closed, or the connection broke
  }
  close_connection(fd);
}

bool KeListener::flush(Connection& c) {
  std::size_t sent = 0;
  while (sent < c.outgoing.size()) {
    const ssize_t n = send(c.fd.get(), c.outgoing.data() + sent, c.outgoing.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  c.outgoing.erase(c.outgoing.begin(), c.outgoing.begin() + static_cast<std::ptrdiff_t>(sent));
  return true;
}

// Counts each milestone once, as the session reaches it.
void KeListener::account(Connection& c) {
  if (c.session.handshake_done() && !c.handshake_counted) {
    c.handshake_counted = true;
    ++counters_.handshakes_ok;
  }
}

void KeListener::on_deadline(int fd, std::uint64_t serial) {
  auto it = connections_.find(fd);
  if (it == connections_.end() || it->second.serial != serial) return;
  it->second.deadline = 0;
  // A connection already answered and waiting for the client to close is not a timeout.
  if (!it->second.lingering && it->second.session.state() != KeServerSession::State::kDone) ++counters_.timed_out;
  close_connection(fd);
}

void KeListener::close_connection(int fd, bool evicted) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& c = it->second;
  const KeServerSession& session = c.session;
  if (const auto& answer = session.answer()) {
    switch (answer->reply) {
      case KeReply::kCookies: ++counters_.responses; break;
      case KeReply::kNoAgreement: ++counters_.no_agreement; break;
      case KeReply::kError:
        ++counters_.error_records;
        spdlog::debug("NTS-KE: Error record {} sent: {}", answer->error_code.value_or(0), answer->problem);
        break;
    }
  } else if (evicted) {
    ++counters_.evicted;  // an answered one, lingering, was a response and is counted so
  } else if (session.state() == KeServerSession::State::kFailed) {
    ++(session.handshake_done() ? counters_.aborted : counters_.handshakes_failed);
    spdlog::debug("NTS-KE: connection failed: {}", session.failure());
  } else if (c.deadline != 0 && session.state() == KeServerSession::State::kHandshaking) {
    ++counters_.handshakes_failed;  // the connection broke during the handshake
  } else if (c.deadline != 0) {
    ++counters_.aborted;
  }
  if (c.deadline != 0) loop_.cancel_timer(c.deadline);
  loop_.unwatch(fd);
  by_age_.erase(c.serial);
  connections_.erase(it);  // closes the socket
  if (on_closed_) on_closed_();
}

}  // namespace kairos
