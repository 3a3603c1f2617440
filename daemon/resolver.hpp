#pragma once
// Name lookups for kairosd that never block its loop: getaddrinfo runs on one worker thread and
// the answers come back through an eventfd the loop watches, so callbacks run on the loop thread.
// A dead DNS server then delays only the sources that need a name, never the clock discipline,
// the NTP server or the control socket. In portable mode (event_loop.hpp: a simulator, one
// thread, no eventfd) lookups run on the loop instead and are answered through a timer.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "clock/result.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

// The blocking lookup the worker runs: net.hpp's resolve, or a test's stand-in.
using LookupFunction =
    std::function<Result<std::vector<SocketAddress>>(const std::string& host, std::uint16_t port, int socktype)>;

struct ResolverOptions {
  // From the request to its answer, time in the queue included.
  std::chrono::milliseconds timeout{5000};
  // Requests waiting for the worker; more are refused at once (a stuck DNS server must not let
  // the queue grow without bound while sources retry).
  std::size_t max_queued = 64;
  LookupFunction lookup = resolve;
};

class Resolver {
 public:
  using Addresses = std::vector<SocketAddress>;
  using Callback = std::function<void(Result<Addresses>)>;
  using RequestId = std::uint64_t;
  using Options = ResolverOptions;

  static Result<std::unique_ptr<Resolver>> start(EventLoop& loop, Options options = {});
  // Returns at once if the worker is idle, within kExitGrace otherwise (resolver.cpp): a lookup
  // stuck in getaddrinfo is left to finish on its own and its answer is dropped. No callback
  // runs after this.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Looks `host` up. The callback runs exactly once, later, on the loop thread (never inside this
  // call), unless cancel(id) or the destructor comes first. Numeric addresses are parsed here on
  // the loop thread without going through the worker.
  RequestId lookup(const std::string& host, std::uint16_t port, int socktype, Callback callback);
  void cancel(RequestId id);
  // Requests whose callback has not run yet.
  std::size_t pending() const { return pending_.size(); }

  struct Shared;  // the queue and eventfd the worker shares with the loop (resolver.cpp)

 private:
  Resolver(EventLoop& loop, std::shared_ptr<Shared> shared, std::chrono::milliseconds timeout, std::size_t max_queued);
  void deliver(RequestId id, Result<Addresses> result);
  void deliver_soon(RequestId id, Result<Addresses> result);
  void on_answers();

  struct Pending {
    Callback callback;
    EventLoop::TimerId timer;  // the timeout, or the deferred delivery
  };
  EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
  std::chrono::milliseconds timeout_;
  std::size_t max_queued_;
  std::map<RequestId, Pending> pending_;
  RequestId next_id_ = 1;
  std::thread worker_;
};

}  // namespace kairos
