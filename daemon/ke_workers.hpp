#pragma once
// kairosd's NTS-KE server on every core: N worker threads, each with its own EventLoop and
// KeListener — its own SSL_CTX, connections, deadlines and copy of the cookie key ring — and its
// own SO_REUSEPORT listener on every address, so the kernel spreads new connections over the
// workers and a handshake's crypto never waits for another's. With no workers (workers = 0, or a
// portable loop: a simulator runs everything on one loop) one KeListener serves on the daemon's
// loop, sealing with the daemon's own ring, as before there were workers.
//
// Limits across workers:
//  - the per-address rate limit is shared: one table behind a mutex (SharedRateLimiter), since a
//    client's connections hash to any worker;
//  - max-connections is split: each worker holds max-connections / N (at least 1), because a
//    worker evicts only among its own connections (sharing the count would make one worker close
//    another's sockets).
//
// The main thread publishes what workers need as NtpServer does: the cookie key ring as its
// serialized text (each worker parses its own ring: a MasterKey's cipher contexts are not shared
// between threads) and, on reload, one fresh SSL_CTX per worker, both under a mutex; an eventfd
// per worker wakes its loop to take them. A worker seals with the ring it holds: after a rotation
// that is the previous current key for at most one wake-up, a key every NTP worker still opens.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "clock/result.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/ke_listener.hpp"
#include "nts/key_ring.hpp"

namespace kairos {

class KeWorkers {
 public:
  // Opens the listeners and starts config.workers threads (nullopt: ke_worker_default()). On
  // the loop (0 workers, or a portable loop) the listener seals with `ring` itself, which must
  // outlive this; workers take copies (publish_key_ring after each rotation).
  static Result<std::unique_ptr<KeWorkers>> start(const KeServerConfig& config, EventLoop& loop, KeyRing& ring,
                                                  std::optional<std::uint16_t> announced_port);
  ~KeWorkers();  // stops and joins the workers
  KeWorkers(const KeWorkers&) = delete;
  KeWorkers& operator=(const KeWorkers&) = delete;

  // The ring rotated: every worker seals with its new current key from its next wake-up on.
  void publish_key_ring(const KeyRing& ring);
  // Loads the certificate chain and key again, once per worker; every worker takes its copy at
  // its next wake-up (at once unless it is in a handshake). On failure nothing changes.
  Result<void> reload_credentials();

  // Every worker's counters summed, as last published (at most ~100 ms old).
  KeListenerCounters counters() const;
  // Per worker, as last published (one entry, the loop's listener, without workers).
  std::vector<KeListenerCounters> worker_counters() const;
  // Threads serving (0: the loop serves).
  std::size_t worker_count() const { return on_loop_ ? 0 : workers_.size(); }
  std::vector<SocketAddress> local_addresses() const;

  // What workers share with the main thread; public for the worker code in ke_workers.cpp.
  struct Shared {
    std::atomic<bool> stop{false};
    std::mutex mutex;  // guards everything below
    std::shared_ptr<const SecretBytes> ring_text;
  };
  struct Worker;

 private:
  KeWorkers() = default;

  std::unique_ptr<Shared> shared_;
  std::unique_ptr<KeListener> on_loop_;  // set when the loop serves (no threads)
  KeServerConfig config_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// The default number of workers: the CPUs this process may run on (sched_getaffinity), at least 1.
unsigned ke_worker_default();

// max-connections of each of `workers` workers: an even split, at least one each.
std::size_t ke_worker_connections(std::size_t max_connections, unsigned workers);

}  // namespace kairos
