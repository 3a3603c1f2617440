#pragma once
// kairosd's NTS-KE server (RFC 8915 §4) on its EventLoop: TCP listeners on every configured
// address and, per accepted connection, a KeServerSession moved by readiness, with a deadline.
//
// Bounded under a flood: at most max_connections sessions at once, a per-address rate limit, a
// deadline from accept to close, and a request size limit; when the process runs out of
// descriptors the listeners rest for kAcceptPause instead of spinning on a backlog they cannot
// accept from.
//
// At max_connections a newcomer takes the slot of the oldest connection if that one has been
// open for longer than an honest client needs (eviction_age); otherwise the newcomer is closed.
// Refusing newcomers alone would let a slowloris from a few addresses (connections trickling a
// ClientHello until the deadline) lock every client out; evicting at any age would let a fast
// flood of connections cut off every handshake before it ends.
//
// A listener serves one loop. kairosd runs one per NTS-KE worker thread (daemon/ke_workers.hpp):
// then every worker binds the same addresses with SO_REUSEPORT and the workers' listeners share
// one per-address rate limiter.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "clock/result.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/net.hpp"
#include "nts/ke_server.hpp"
#include "nts/key_ring.hpp"
#include "nts/rate_limiter.hpp"
#include "nts/tls_session.hpp"

namespace kairos {

// How long the listeners stop accepting after EMFILE, ENFILE or a lack of kernel memory.
inline constexpr std::chrono::milliseconds kAcceptPause{100};
// Connections accepted per readiness event, so a flood cannot hold the loop in accept.
inline constexpr int kAcceptBatch = 64;

// How long a connection is safe from eviction: a quarter of the deadline, at most a second
// (several round trips and a handshake's crypto on a slow path).
std::chrono::nanoseconds eviction_age(double timeout_seconds);

struct KeListenerCounters {
  std::uint64_t accepted = 0;           // every socket accept returned, including those closed at once
  std::uint64_t over_limit = 0;         // closed at once: max_connections sessions, none old enough to evict
  std::uint64_t evicted = 0;            // unanswered, closed to make room for a newcomer at max_connections
  std::uint64_t rate_limited = 0;       // closed at once: the address is over its rate limit
  std::uint64_t handshakes_ok = 0;
  std::uint64_t handshakes_failed = 0;  // TLS failed, no or wrong ALPN, TLS < 1.3, closed mid-handshake
  std::uint64_t responses = 0;          // answers with cookies
  std::uint64_t no_agreement = 0;       // answers agreeing on no protocol or AEAD (§4.1.2, §4.1.5)
  std::uint64_t error_records = 0;      // answers with an Error record (bad or oversize request, …)
  std::uint64_t aborted = 0;            // closed or broken after the handshake, before an answer
  std::uint64_t timed_out = 0;          // still unanswered at the deadline
  std::uint64_t accept_errors = 0;      // accept (or session setup) failures; running out of descriptors also pauses
  std::uint64_t credential_loads = 0;   // certificates and keys taken into use after the first (SIGHUP)
  void add(const KeListenerCounters& other);
};

// One per-address rate limit for several listeners (one per worker): a client's connections
// reach any worker (SO_REUSEPORT hashes the source port too), so a table per worker would let it
// through once per worker. The lock is held for one table lookup per accepted connection.
class SharedRateLimiter {
 public:
  explicit SharedRateLimiter(RateLimiter limiter) : limiter_(std::move(limiter)) {}
  RateDecision check(const RateKey& client, std::int64_t now_ns) {
    std::lock_guard lock(mutex_);
    return limiter_.check(client, now_ns);
  }

 private:
  std::mutex mutex_;
  RateLimiter limiter_;
};

// How a listener sits beside others (KeWorkers); the defaults are a listener on its own.
struct KeListenerShare {
  std::shared_ptr<SharedRateLimiter> rate_limiter;  // nullptr: its own, from config.rate_limit
  bool reuse_port = false;  // SO_REUSEPORT: other listeners bind the same addresses
};

class KeListener {
  struct Private {
    explicit Private() = default;
  };

 public:
  // Opens every config.listen address and starts accepting on `loop`. Cookies are sealed with
  // ring.current() at the moment each answer is made (the caller rotates the ring). A Port
  // Negotiation record carries `announced_port` when set. loop and ring must outlive the
  // listener.
  static Result<std::unique_ptr<KeListener>> create(const KeServerConfig& config, EventLoop& loop, KeyRing& ring,
                                                    std::optional<std::uint16_t> announced_port,
                                                    KeListenerShare share = {});

  KeListener(Private, const KeServerConfig& config, EventLoop& loop, KeyRing& ring, KeServerOptions options,
             SslCtxPtr ctx, std::vector<UniqueFd> listeners, KeListenerShare share);
  KeListener(const KeListener&) = delete;
  KeListener& operator=(const KeListener&) = delete;
  ~KeListener();

  // Loads the certificate chain and key from their files again (kairosd does on SIGHUP). New
  // connections use them; connections in flight finish with the old ones. On failure the old
  // ones stay in use and the error says why.
  Result<void> reload_credentials();
  // The same with a context loaded elsewhere (KeWorkers loads one per worker on the main thread).
  void use_credentials(SslCtxPtr ctx);

  const KeListenerCounters& counters() const { return counters_; }
  // Called after each connection is closed and counted (a worker publishes its counters then, so
  // a status query right after an exchange sees it).
  void on_closed(std::function<void()> callback) { on_closed_ = std::move(callback); }
  std::size_t connection_count() const { return connections_.size(); }
  // The addresses the listeners are bound to.
  std::vector<SocketAddress> local_addresses() const;

 private:
  struct Connection {
    Connection(UniqueFd socket, KeServerSession ke, std::uint64_t number)
        : fd(std::move(socket)), session(std::move(ke)), serial(number) {}
    UniqueFd fd;
    KeServerSession session;
    std::uint64_t serial = 0;  // tells a stale deadline from one of a later connection on the fd; orders by age
    EventLoop::Clock::time_point accepted_at{};
    EventLoop::TimerId deadline = 0;
    std::vector<std::uint8_t> outgoing;
    bool handshake_counted = false;
    bool lingering = false;  // answered and our side shut down: waiting for the client to close
    std::size_t discarded = 0;
  };

  void watch_listeners();
  void unwatch_listeners();
  void on_listener_ready(int listen_fd);
  void pause_accepting(int error);
  bool admit(const SocketAddress& peer);
  bool evict_oldest();
  void start_connection(UniqueFd fd);
  void on_connection_ready(int fd, short revents);
  void receive(Connection& c, bool& peer_closed, bool& broken);
  void linger(int fd, Connection& c);
  bool flush(Connection& c);
  void account(Connection& c);
  void on_deadline(int fd, std::uint64_t serial);
  void close_connection(int fd, bool evicted = false);

  KeServerConfig config_;
  EventLoop& loop_;
  KeyRing& ring_;
  KeServerOptions options_;
  SslCtxPtr ctx_;
  std::vector<UniqueFd> listeners_;
  std::shared_ptr<SharedRateLimiter> rate_limiter_;
  EventLoop::Clock::duration timeout_;
  EventLoop::Clock::duration eviction_age_;
  std::unordered_map<int, Connection> connections_;
  std::map<std::uint64_t, int> by_age_;  // serial → fd of every connection, oldest first
  std::uint64_t next_serial_ = 1;
  bool paused_ = false;
  EventLoop::TimerId pause_timer_ = 0;
  EventLoop::Clock::time_point last_pause_warning_{};
  KeListenerCounters counters_;
  std::function<void()> on_closed_;
};

}  // namespace kairos
