#pragma once
// kairosd's single-threaded loop: poll(2) over the watched descriptors plus one timerfd armed for
// the earliest timer (ARCHITECTURE.md: poll, not epoll, so syscall-interposing simulators can
// run the real binary). Signals arrive through a signalfd.
//
// Under an interposing simulator (clknetsim: LD_PRELOAD, simulated descriptors) the loop runs in
// *portable* mode, found at run time: the simulator answers the timerfd calls itself, and a
// descriptor it does not know (signalfd, eventfd) would look readable to its poll for ever.
// Portable mode takes signals through a handler instead, and tells the rest of the daemon
// (portable()) to keep to the calls such a simulator interposes: no eventfd, no worker threads,
// no TFD_TIMER_CANCEL_ON_SET.
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdCallback = std::function<void(short revents)>;
  using TimerCallback = std::function<void()>;
  using SignalCallback = std::function<void(int signal)>;
  using TimerId = std::uint64_t;

  // kAuto: portable only when the timerfd turns out not to be the kernel's (an interposer's);
  // kPortable: always (tests of the fallbacks on a real kernel).
  enum class Mode { kAuto, kPortable };
  static Result<EventLoop> create(Mode mode = Mode::kAuto);

  // True when the daemon must keep to interposable calls (see the top of this file).
  bool portable() const { return portable_; }

  // Watches fd for events; a second call for the same fd replaces the first.
  void watch(int fd, short events, FdCallback callback);
  void unwatch(int fd);

  TimerId add_timer(Clock::time_point when, TimerCallback callback);
  TimerId add_timer(Clock::duration after, TimerCallback callback) { return add_timer(Clock::now() + after, std::move(callback)); }
  // Every `period`, first at now + period, until cancelled; a tick missed by a stall is not run
  // twice (the next one is a period after the late one). The id stays the same.
  TimerId add_repeating(Clock::duration period, TimerCallback callback);
  void cancel_timer(TimerId id);

  // Blocks these signals and delivers them to the callback from the loop.
  Result<void> handle_signals(std::vector<int> signals, SignalCallback callback);

  // Runs until stop(); callbacks may watch, unwatch, add and cancel freely.
  Result<void> run();
  void stop() { running_ = false; }

 private:
  EventLoop(UniqueFd timer_fd, bool portable) : timer_fd_(std::move(timer_fd)), portable_(portable) {}
  Result<void> arm_timer();
  void fire_due_timers();
  void deliver_caught_signals();

  struct Watch {
    short events;
    FdCallback callback;
  };
  struct Timer {
    TimerId id;
    Clock::duration period;  // zero: once
    TimerCallback callback;
  };
  UniqueFd timer_fd_;
  bool portable_;
  std::optional<Clock::time_point> armed_;  // the deadline the timerfd is armed for
  UniqueFd signal_fd_;
  std::vector<int> caught_signals_;  // portable mode: the signals the handler watches
  SignalCallback on_signal_;
  std::map<int, Watch> watches_;
  std::multimap<Clock::time_point, Timer> timers_;
  TimerId next_timer_id_ = 1;
  bool running_ = false;
};

}  // namespace kairos
