#include "daemon/resolver.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>

namespace kairos {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs the loop until a callback stops it, or `limit` passes (then fails the test).
void run_until_stopped(EventLoop& loop, Clock::duration limit) {
  bool timed_out = false;
  const auto guard = loop.add_timer(limit, [&] {
    timed_out = true;
    loop.stop();
  });
  ASSERT_TRUE(loop.run());
  loop.cancel_timer(guard);
  EXPECT_FALSE(timed_out) << "the loop was not stopped in time";
}

// Runs the loop for `duration`, whatever happens meanwhile.
void run_for(EventLoop& loop, Clock::duration duration) {
  loop.add_timer(duration, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
}

SocketAddress ipv4(std::uint16_t port) {
  SocketAddress address;
  auto* in = reinterpret_cast<sockaddr_in*>(&address.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.length = sizeof(sockaddr_in);
  return address;
}

// A stand-in for getaddrinfo that takes `delay` and answers 127.0.0.1 on the asked port. It
// captures nothing by reference: a worker left behind by a destroyed resolver may still run it.
LookupFunction slow_lookup(Clock::duration delay, std::shared_ptr<std::atomic<int>> started = nullptr) {
  return [delay, started](const std::string&, std::uint16_t port, int) -> Result<Resolver::Addresses> {
    if (started) ++*started;
    std::this_thread::sleep_for(delay);
    return Resolver::Addresses{ipv4(port)};
  };
}

std::unique_ptr<Resolver> start_resolver(EventLoop& loop, Resolver::Options options = {}) {
  auto resolver = Resolver::start(loop, std::move(options));
  if (!resolver) ADD_FAILURE() << resolver.error().message;
  return resolver ? std::move(*resolver) : nullptr;
}

bool is_loopback(const SocketAddress& a) {
  if (a.family() == AF_INET) {
    return ntohl(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr) >> 24 == 127;
  }
  return a.family() == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr);
}

TEST(Resolver, LocalhostResolvesAndTheCallbackRunsOnTheLoopThread) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop);
  ASSERT_TRUE(resolver);
  std::optional<Result<Resolver::Addresses>> answer;
  std::thread::id callback_thread;
  resolver->lookup("localhost", 4460, SOCK_STREAM, [&](Result<Resolver::Addresses> r) {
    answer = std::move(r);
    callback_thread = std::this_thread::get_id();
    loop->stop();
  });
  EXPECT_FALSE(answer) << "the callback must not run inside lookup()";
  run_until_stopped(*loop, 5s);
  ASSERT_TRUE(answer);
  ASSERT_TRUE(*answer) << answer->error().message;
  ASSERT_FALSE((*answer)->empty());
  for (const SocketAddress& a : **answer) EXPECT_TRUE(is_loopback(a)) << a.to_string();
  EXPECT_TRUE((*answer)->front().to_string().ends_with(":4460"));
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
  EXPECT_EQ(resolver->pending(), 0u);
}

TEST(Resolver, LiteralAddressesAreParsedWithoutTheWorker) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto resolver = start_resolver(*loop, {.lookup = slow_lookup(0ms, calls)});
  ASSERT_TRUE(resolver);
  std::vector<std::string> got;
  auto collect = [&](Result<Resolver::Addresses> r) {
    got.push_back(r ? r->front().to_string() : "error: " + r.error().message);
    if (got.size() == 2) loop->stop();
  };
  resolver->lookup("192.0.2.7", 123, SOCK_DGRAM, collect);
  resolver->lookup("2001:db8::7", 123, SOCK_DGRAM, collect);
  EXPECT_TRUE(got.empty()) << "the callback must not run inside lookup()";
  run_until_stopped(*loop, 1s);
  EXPECT_EQ(got, (std::vector<std::string>{"192.0.2.7:123", "[2001:db8::7]:123"}));
  EXPECT_EQ(calls->load(), 0) << "a literal address went through the worker";
}

TEST(Resolver, NameUnderInvalidFails) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop);
  ASSERT_TRUE(resolver);
  std::optional<Result<Resolver::Addresses>> answer;
  // RFC 6761 section 6.4: no name under .invalid ever resolves.
  resolver->lookup("no-such-host.kairos.invalid", 123, SOCK_DGRAM, [&](Result<Resolver::Addresses> r) {
    answer = std::move(r);
    loop->stop();
  });
  run_until_stopped(*loop, 10s);
  ASSERT_TRUE(answer);
  ASSERT_FALSE(*answer);
  EXPECT_NE(answer->error().message.find("no-such-host.kairos.invalid"), std::string::npos) << answer->error().message;
}

TEST(Resolver, SeveralRequestsInFlightEachGetTheirOwnAnswer) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop, {.lookup = slow_lookup(20ms)});
  ASSERT_TRUE(resolver);
  std::map<std::uint16_t, std::string> got;
  for (std::uint16_t port = 1; port <= 5; ++port) {
    resolver->lookup("server" + std::to_string(port) + ".example", port, SOCK_DGRAM,
                     [&, port](Result<Resolver::Addresses> r) {
                       got[port] = r ? r->front().to_string() : r.error().message;
                       if (got.size() == 5) loop->stop();
                     });
  }
  EXPECT_EQ(resolver->pending(), 5u);
  run_until_stopped(*loop, 5s);
  ASSERT_EQ(got.size(), 5u);
  for (const auto& [port, text] : got) EXPECT_EQ(text, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(resolver->pending(), 0u);
}

TEST(Resolver, SlowLookupDoesNotBlockTheLoop) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop, {.lookup = slow_lookup(2s)});
  ASSERT_TRUE(resolver);
  const auto t0 = Clock::now();
  std::optional<Clock::duration> timer_fired_after;
  std::optional<Clock::duration> answered_after;
  resolver->lookup("slow.example", 123, SOCK_DGRAM, [&](Result<Resolver::Addresses> r) {
    EXPECT_TRUE(r);
    answered_after = Clock::now() - t0;
    loop->stop();
  });
  loop->add_timer(50ms, [&] { timer_fired_after = Clock::now() - t0; });
  run_until_stopped(*loop, 5s);
  ASSERT_TRUE(timer_fired_after);
  ASSERT_TRUE(answered_after);
  // On time: a loop blocked by the lookup would fire it after ~2 s.
  EXPECT_LT(*timer_fired_after, 250ms);
  EXPECT_GE(*answered_after, 2s);
}

TEST(Resolver, LookupThatTakesTooLongTimesOutOnce) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop, {.timeout = 100ms, .lookup = slow_lookup(400ms)});
  ASSERT_TRUE(resolver);
  const auto t0 = Clock::now();
  int calls = 0;
  std::optional<Result<Resolver::Addresses>> answer;
  Clock::duration answered_after{};
  resolver->lookup("stuck.example", 123, SOCK_DGRAM, [&](Result<Resolver::Addresses> r) {
    ++calls;
    answer = std::move(r);
    answered_after = Clock::now() - t0;
  });
  // Past the worker's late answer too: it must be dropped, not delivered a second time.
  run_for(*loop, 700ms);
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(answer);
  ASSERT_FALSE(*answer);
  EXPECT_NE(answer->error().message.find("timed out"), std::string::npos) << answer->error().message;
  EXPECT_LT(answered_after, 300ms);
  EXPECT_EQ(resolver->pending(), 0u);
}

TEST(Resolver, FullQueueIsRefusedAtOnce) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto started = std::make_shared<std::atomic<int>>(0);
  auto resolver = start_resolver(*loop, {.max_queued = 1, .lookup = slow_lookup(300ms, started)});
  ASSERT_TRUE(resolver);
  std::vector<std::string> got;
  auto collect = [&](Result<Resolver::Addresses> r) {
    got.push_back(r ? "ok" : r.error().message);
    if (got.size() == 3) loop->stop();
  };
  resolver->lookup("first.example", 1, SOCK_DGRAM, collect);
  // The worker holds the first; the queue then has room for exactly one more.
  while (started->load() == 0) std::this_thread::sleep_for(1ms);
  resolver->lookup("second.example", 2, SOCK_DGRAM, collect);
  resolver->lookup("third.example", 3, SOCK_DGRAM, collect);
  run_until_stopped(*loop, 5s);
  ASSERT_EQ(got.size(), 3u);
  // The refusal comes first: it does not wait for the worker.
  EXPECT_NE(got[0].find("queue full"), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("third.example"), std::string::npos) << got[0];
  EXPECT_EQ(got[1], "ok");
  EXPECT_EQ(got[2], "ok");
}

TEST(Resolver, CancelledLookupNeverCallsBack) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop, {.lookup = slow_lookup(20ms)});
  ASSERT_TRUE(resolver);
  bool cancelled_called = false;
  bool other_called = false;
  const auto id = resolver->lookup("a.example", 1, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { cancelled_called = true; });
  const auto literal = resolver->lookup("192.0.2.1", 1, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { cancelled_called = true; });
  resolver->lookup("b.example", 2, SOCK_DGRAM, [&](Result<Resolver::Addresses>) {
    other_called = true;
    loop->stop();
  });
  resolver->cancel(id);
  resolver->cancel(literal);
  run_until_stopped(*loop, 2s);
  run_for(*loop, 50ms);
  EXPECT_TRUE(other_called);
  EXPECT_FALSE(cancelled_called);
}

TEST(Resolver, DestroyingWithALookupPendingNeitherHangsNorCallsBack) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto started = std::make_shared<std::atomic<int>>(0);
  auto resolver = start_resolver(*loop, {.lookup = slow_lookup(1s, started)});
  ASSERT_TRUE(resolver);
  bool called = false;
  resolver->lookup("in-flight.example", 1, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { called = true; });
  resolver->lookup("queued.example", 2, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { called = true; });
  resolver->lookup("192.0.2.1", 3, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { called = true; });
  while (started->load() == 0) std::this_thread::sleep_for(1ms);
  const auto t0 = Clock::now();
  resolver.reset();
  EXPECT_LT(Clock::now() - t0, 500ms) << "the destructor waited for getaddrinfo";
  // Past the in-flight lookup's end: its answer goes nowhere, and the queued one never starts.
  run_for(*loop, 1200ms);
  EXPECT_FALSE(called);
  EXPECT_EQ(started->load(), 1);
}

TEST(Resolver, WorkerHasEverySignalBlocked) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  // The worker reads its own mask: the loop's signals (SIGTERM, SIGINT, SIGHUP) must reach the
  // signalfd, never this thread.
  auto blocked = std::make_shared<std::atomic<int>>(-1);
  auto resolver = start_resolver(*loop, {.lookup = [blocked](const std::string&, std::uint16_t port, int) -> Result<Resolver::Addresses> {
                                           sigset_t mask;
                                           pthread_sigmask(SIG_BLOCK, nullptr, &mask);
                                           *blocked = sigismember(&mask, SIGTERM) + sigismember(&mask, SIGINT) +
                                                      sigismember(&mask, SIGHUP) + sigismember(&mask, SIGUSR1);
                                           return Resolver::Addresses{ipv4(port)};
                                         }});
  ASSERT_TRUE(resolver);
  sigset_t mine;
  pthread_sigmask(SIG_BLOCK, nullptr, &mine);
  EXPECT_FALSE(sigismember(&mine, SIGUSR1)) << "the creating thread's mask must be given back";
  resolver->lookup("mask.example", 1, SOCK_DGRAM, [&](Result<Resolver::Addresses>) { loop->stop(); });
  run_until_stopped(*loop, 2s);
  EXPECT_EQ(blocked->load(), 4);
}

TEST(Resolver, IdleResolverStopsAtOnce) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto resolver = start_resolver(*loop);
  ASSERT_TRUE(resolver);
  const auto t0 = Clock::now();
  resolver.reset();
  EXPECT_LT(Clock::now() - t0, 100ms);
}

// A simulator serves one thread and has no eventfd: names are looked up on the loop's thread,
// and the callback still never runs inside lookup().
TEST(Resolver, InPortableModeNamesAreLookedUpOnTheLoopThread) {
  auto loop = EventLoop::create(EventLoop::Mode::kPortable);
  ASSERT_TRUE(loop);
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id lookup_thread;
  auto resolver = start_resolver(*loop, {.lookup = [&](const std::string&, std::uint16_t port, int) -> Result<Resolver::Addresses> {
                                           lookup_thread = std::this_thread::get_id();
                                           return Resolver::Addresses{ipv4(port)};
                                         }});
  ASSERT_TRUE(resolver);
  std::string got;
  resolver->lookup("node1.net1.clk", 123, SOCK_DGRAM, [&](Result<Resolver::Addresses> r) {
    got = r ? r->front().to_string() : r.error().message;
    loop->stop();
  });
  EXPECT_TRUE(got.empty()) << "the callback must not run inside lookup()";
  run_until_stopped(*loop, 1s);
  EXPECT_EQ(got, "127.0.0.1:123");
  EXPECT_EQ(lookup_thread, loop_thread);
}

}  // namespace
}  // namespace kairos
