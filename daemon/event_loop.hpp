#pragma once
// kairosd's single-threaded loop: poll(2) over the watched descriptors plus one timerfd armed for
// the earliest timer (ARCHITECTURE.md: poll, not epoll, so syscall-interposing simulators can
// run the real binary). Signals arrive through a signalfd.
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "clock/result.hpp"
#include "daemon/net.hpp"

namespace kairos {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdCallback = std::function<void(short revents)>;
  using TimerCallback = std::function<void()>;
  using SignalCallback = std::function<void(int signal)>;
  using TimerId = std::uint64_t;

  static Result<EventLoop> create();

  // Watches fd for events; a second call for the same fd replaces the first.
  void watch(int fd, short events, FdCallback callback);
  void unwatch(int fd);

  TimerId add_timer(Clock::time_point when, TimerCallback callback);
  TimerId add_timer(Clock::duration after, TimerCallback callback) { return add_timer(Clock::now() + after, std::move(callback)); }
  void cancel_timer(TimerId id);

  // Blocks these signals and delivers them to the callback from the loop.
  Result<void> handle_signals(std::vector<int> signals, SignalCallback callback);

  // Runs until stop(); callbacks may watch, unwatch, add and cancel freely.
  Result<void> run();
  void stop() { running_ = false; }

 private:
  EventLoop(UniqueFd timer_fd) : timer_fd_(std::move(timer_fd)) {}
  Result<void> arm_timer();
  void fire_due_timers();

  struct Watch {
    short events;
    FdCallback callback;
  };
  UniqueFd timer_fd_;
  UniqueFd signal_fd_;
  SignalCallback on_signal_;
  std::map<int, Watch> watches_;
  std::multimap<Clock::time_point, std::pair<TimerId, TimerCallback>> timers_;
  TimerId next_timer_id_ = 1;
  bool running_ = false;
};

}  // namespace kairos
