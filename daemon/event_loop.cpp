#include "daemon/event_loop.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kairos {
Result<EventLoop> EventLoop::create() {
  // steady_clock is CLOCK_MONOTONIC on Linux: timers are immune to steps of the real-time clock.
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, 0));
  if (!fd) return fail(std::string("timerfd_create: ") + std::strerror(errno));
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return std::unexpected(ok.error());
  return EventLoop(std::move(fd));
}

void EventLoop::watch(int fd, short events, FdCallback callback) { watches_[fd] = Watch{events, std::move(callback)}; }

void EventLoop::unwatch(int fd) { watches_.erase(fd); }

EventLoop::TimerId EventLoop::add_timer(Clock::time_point when, TimerCallback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(when, std::pair{id, std::move(callback)});
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

Result<void> EventLoop::handle_signals(std::vector<int> signals, SignalCallback callback) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return fail(std::string("sigprocmask: ") + std::strerror(errno));
  UniqueFd fd(signalfd(-1, &set, 0));
  if (!fd) return fail(std::string("signalfd: ") + std::strerror(errno));
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return ok;
  signal_fd_ = std::move(fd);
  on_signal_ = std::move(callback);
  return {};
}

Result<void> EventLoop::arm_timer() {
  itimerspec spec{};
  if (!timers_.empty()) {
    const auto when = timers_.begin()->first.time_since_epoch();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when).count();
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    // An all-zero value would disarm the timer instead of firing at once.
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  if (timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    return fail(std::string("timerfd_settime: ") + std::strerror(errno));
  }
  return {};
}

void EventLoop::fire_due_timers() {
  std::uint64_t expirations = 0;
  while (::read(timer_fd_.get(), &expirations, sizeof expirations) > 0) {
  }
  const auto now = Clock::now();
  // Take the due timers out first: callbacks may add or cancel timers.
  std::vector<TimerCallback> due;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    due.push_back(std::move(timers_.begin()->second.second));
    timers_.erase(timers_.begin());
  }
  for (auto& callback : due) callback();
}

Result<void> EventLoop::run() {
  running_ = true;
  std::vector<pollfd> fds;
  while (running_) {
    if (auto ok = arm_timer(); !ok) return ok;
    fds.clear();
    fds.push_back({timer_fd_.get(), POLLIN, 0});
    if (signal_fd_) fds.push_back({signal_fd_.get(), POLLIN, 0});
    for (const auto& [fd, w] : watches_) fds.push_back({fd, w.events, 0});
    const int rc = poll(fds.data(), fds.size(), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("poll: ") + std::strerror(errno));
    }
    std::size_t first_watch = 1;
    if (fds[0].revents) fire_due_timers();
    if (signal_fd_) {
      first_watch = 2;
      if (fds[1].revents) {
        signalfd_siginfo info;
        while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) on_signal_(static_cast<int>(info.ssi_signo));
      }
    }
    for (std::size_t i = first_watch; i < fds.size() && running_; ++i) {
      if (!fds[i].revents) continue;
      // The watch may have been removed or replaced by an earlier callback in this round.
      auto it = watches_.find(fds[i].fd);
      if (it == watches_.end()) continue;
      FdCallback callback = it->second.callback;
      callback(fds[i].revents);
    }
  }
  return {};
}

}  // namespace kairos
