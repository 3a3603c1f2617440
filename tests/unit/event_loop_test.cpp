#include "daemon/event_loop.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "daemon/clock_graph.hpp"
#include "daemon/client/ntp_query.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, OnAKernelTheLoopIsNotPortable) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop) << loop.error().message;
  EXPECT_FALSE(loop->portable());
  EXPECT_TRUE(EventLoop::create(EventLoop::Mode::kPortable)->portable());
}

// The status line once stopped after two rounds: each periodic job re-armed itself by hand.
TEST(EventLoop, RepeatingTimerKeepsFiringUntilCancelledFromItsOwnCallback) {
  EventLoop loop = EventLoop::create().value();
  int ticks = 0;
  EventLoop::TimerId id = 0;
  id = loop.add_repeating(2ms, [&] {
    if (++ticks == 5) {
      loop.cancel_timer(id);
      loop.add_timer(20ms, [&] { loop.stop(); });  // time for a sixth tick, which must not come
    }
  });
  const auto guard = loop.add_timer(2s, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
  loop.cancel_timer(guard);
  EXPECT_EQ(ticks, 5);
}

TEST(EventLoop, RepeatingTimerLateByManyPeriodsRunsOnceThenKeepsItsPeriod) {
  EventLoop loop = EventLoop::create().value();
  int ticks = 0;
  loop.add_repeating(5ms, [&] {
    if (++ticks == 1) std::this_thread::sleep_for(30ms);  // a stall of six periods
  });
  loop.add_timer(42ms, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
  // Not 1 + 6 catch-up runs: after the stall, one period to the next tick.
  EXPECT_GE(ticks, 2);
  EXPECT_LE(ticks, 3);
}

// Each tick is due a whole number of periods after the first: the time the callbacks take is not
// added to the period (re-arming "period from now" inside the callback would drift by it).
TEST(EventLoop, RepeatingTimerDoesNotDriftByItsCallbacksTime) {
  EventLoop loop = EventLoop::create().value();
  constexpr int kTicks = 10;
  int ticks = 0;
  const auto start = EventLoop::Clock::now();
  EventLoop::Clock::time_point last;
  loop.add_repeating(20ms, [&] {
    last = EventLoop::Clock::now();
    std::this_thread::sleep_for(10ms);  // half the period spent in the callback
    if (++ticks == kTicks) loop.stop();
  });
  const auto guard = loop.add_timer(5s, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
  loop.cancel_timer(guard);
  ASSERT_EQ(ticks, kTicks);
  // Due at 200 ms; drifting by the callbacks' 10 ms a tick it would come at 290 ms or later.
  EXPECT_GE(last - start, 200ms);
  EXPECT_LT(last - start, 280ms);  // room for a loaded machine; drifting takes 290 ms or more
}

// The loop re-arms its timerfd only when the earliest deadline changes (an NTS-KE connection's
// deadline, later than the others, costs no timerfd_settime). These are the turns where it does
// change: a timer added for the instant that just fired (the expired timerfd is disarmed, though
// the deadline is the one it was armed for), one earlier than the armed deadline, and the armed
// one cancelled.
TEST(EventLoop, TimersFireWhenTheEarliestDeadlineChangesInAnyWay) {
  EventLoop loop = EventLoop::create().value();
  const auto start = EventLoop::Clock::now();
  const auto first = start + 5ms;
  std::vector<int> order;
  loop.add_timer(first, [&] {
    order.push_back(1);
    loop.add_timer(first, [&] {  // the same instant, already past
      order.push_back(2);
      const auto late = loop.add_timer(1s, [&] { order.push_back(-1); });
      loop.add_timer(3s, [&] { order.push_back(-2); });
      // Earlier than `late`, which the timerfd is armed for. `late` by value: this callback runs
      // after the one it was made in has returned (ASan: stack-use-after-return).
      loop.add_timer(10ms, [&, late] {
        order.push_back(3);
        loop.cancel_timer(late);  // the armed one: the next is the 3 s timer's, unless re-armed
        loop.add_timer(10ms, [&] {
          order.push_back(4);
          loop.stop();
        });
      });
    });
  });
  // The guard is a pipe a thread writes to, not a timer: a timerfd left unarmed would never fire it.
  int guard[2];
  ASSERT_EQ(::pipe(guard), 0);
  loop.watch(guard[0], POLLIN, [&](short) { loop.stop(); });
  std::promise<void> finished;
  std::thread watchdog([fd = guard[1], done = finished.get_future()] {
    if (done.wait_for(3s) == std::future_status::timeout) (void)!::write(fd, "x", 1);
  });
  const auto ran = loop.run();
  finished.set_value();
  watchdog.join();
  ASSERT_TRUE(ran);
  ::close(guard[0]);
  ::close(guard[1]);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_LT(EventLoop::Clock::now() - start, 900ms);
}

TEST(EventLoop, PortableModeDeliversSignalsThroughAHandler) {
  EventLoop loop = EventLoop::create(EventLoop::Mode::kPortable).value();
  int seen = 0;
  ASSERT_TRUE(loop.handle_signals({SIGUSR2}, [&](int signal) {
    seen = signal;
    loop.stop();
  }));
  loop.add_timer(1ms, [] { ::raise(SIGUSR2); });
  const auto guard = loop.add_timer(2s, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
  loop.cancel_timer(guard);
  EXPECT_EQ(seen, SIGUSR2);
  ::signal(SIGUSR2, SIG_DFL);
}

// ClockGraph's timer once truncated its deadline to whole nanoseconds: it fired before the
// model's deadline, the model waited, and the timer was re-armed in the past for ever.
TEST(EventLoop, LoopTimeForADeadlineIsNeverBeforeIt) {
  const EventLoop::Clock::time_point start{std::chrono::nanoseconds(123'456'789)};
  for (double seconds : {0.1, 0.3, 1.0 / 3, 47.999999999999, 48.0000000001, 1e5 + 1e-10, 3.7e6 + 0.123456789123}) {
    const auto at = loop_time_at(start, seconds);
    EXPECT_GE(std::chrono::duration<double>(at - start).count(), seconds) << seconds;
    EXPECT_LE(at - start, std::chrono::duration_cast<EventLoop::Clock::duration>(
                              std::chrono::duration<double>(seconds)) + 1ns) << seconds;
  }
}

sockaddr_storage ipv4(const char* address, std::uint16_t port, std::uint8_t padding) {
  sockaddr_storage storage;
  std::memset(&storage, padding, sizeof storage);
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, address, &in->sin_addr);
  return storage;
}

// A simulator (or a kernel) may leave anything in sin_zero: a whole-sockaddr memcmp then threw
// away every answer from the server.
TEST(SameAddress, ComparesFamilyAddressAndPortNeverThePadding) {
  SocketAddress server;
  server.storage = ipv4("192.168.123.1", 123, 0);
  server.length = sizeof(sockaddr_in);
  EXPECT_TRUE(same_address(ipv4("192.168.123.1", 123, 0xee), sizeof(sockaddr_in), server));
  EXPECT_FALSE(same_address(ipv4("192.168.123.2", 123, 0), sizeof(sockaddr_in), server));
  EXPECT_FALSE(same_address(ipv4("192.168.123.1", 124, 0), sizeof(sockaddr_in), server));
  EXPECT_FALSE(same_address(ipv4("192.168.123.1", 123, 0), 4, server));
}

}  // namespace
}  // namespace kairos
