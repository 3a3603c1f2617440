#include "daemon/event_loop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace kairos {

namespace {

// Portable mode's signals: the handler only notes them; the loop delivers them after poll.
volatile std::sig_atomic_t g_caught[NSIG] = {};

void note_signal(int signal) {
  if (signal > 0 && signal < NSIG) g_caught[signal] = 1;
}

// A kernel timerfd made with TFD_NONBLOCK says so through F_GETFL. An interposer's timerfd is a
// number the kernel does not know (EBADF), or another descriptor of the process without O_NONBLOCK.
bool kernel_descriptor(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

}  // namespace

Result<EventLoop> EventLoop::create(Mode mode) {
  // steady_clock is CLOCK_MONOTONIC on Linux: timers are immune to steps of the real-time clock.
  // TFD_NONBLOCK is the one creation flag interposers accept; close-on-exec goes through F_SETFD.
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  if (!fd) return fail(std::string("timerfd_create: ") + std::strerror(errno));
  if (fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) return fail(std::string("fcntl: ") + std::strerror(errno));
  const bool portable = mode == Mode::kPortable || !kernel_descriptor(fd.get());
  return EventLoop(std::move(fd), portable);
}

void EventLoop::watch(int fd, short events, FdCallback callback) { watches_[fd] = Watch{events, std::move(callback)}; }

void EventLoop::unwatch(int fd) { watches_.erase(fd); }

EventLoop::TimerId EventLoop::add_timer(Clock::time_point when, TimerCallback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(when, Timer{id, Clock::duration::zero(), std::move(callback)});
  return id;
}

EventLoop::TimerId EventLoop::add_repeating(Clock::duration period, TimerCallback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(Clock::now() + period, Timer{id, std::max(period, Clock::duration(1)), std::move(callback)});
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.id == id) {
      timers_.erase(it);
      return;
    }
  }
}

Result<void> EventLoop::handle_signals(std::vector<int> signals, SignalCallback callback) {
  on_signal_ = std::move(callback);
  if (portable_) {
    // No signalfd: an interposer's poll would find it always readable. A handler notes the
    // signal, poll returns EINTR, and the loop delivers it. One that lands just before poll
    // waits for the next wakeup (the daemon's timers tick every second).
    struct sigaction action {};
    action.sa_handler = note_signal;
    sigemptyset(&action.sa_mask);
    for (int s : signals) {
      if (sigaction(s, &action, nullptr) != 0) return fail(std::string("sigaction: ") + std::strerror(errno));
    }
    caught_signals_ = std::move(signals);
    return {};
  }
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return fail(std::string("sigprocmask: ") + std::strerror(errno));
  UniqueFd fd(signalfd(-1, &set, 0));
  if (!fd) return fail(std::string("signalfd: ") + std::strerror(errno));
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return ok;
  signal_fd_ = std::move(fd);
  return {};
}

Result<void> EventLoop::arm_timer() {
  // Already armed for the earliest timer (or disarmed with none): a turn of the loop that added
  // or cancelled only later timers — an NTS-KE connection's deadline — costs no system call.
  const std::optional<Clock::time_point> earliest =
      timers_.empty() ? std::nullopt : std::optional<Clock::time_point>(timers_.begin()->first);
  if (earliest == armed_) return {};
  itimerspec spec{};
  armed_.reset();
  if (!timers_.empty()) {
    armed_ = timers_.begin()->first;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(armed_->time_since_epoch()).count();
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
  // One read takes every expiration (a second one on an interposer's timerfd is not allowed).
  std::uint64_t expirations = 0;
  const bool expired = ::read(timer_fd_.get(), &expirations, sizeof expirations) > 0;
  // The timer said its deadline passed: that deadline is due even if the clock, read now, lags
  // it by a rounding (a simulator's clock in double seconds) — else it would be re-armed in the
  // past and fire again at once, for ever.
  Clock::time_point now = Clock::now();
  if (expired && armed_ && *armed_ > now) now = *armed_;
  // An expired one-shot timerfd is disarmed: arm_timer must arm it again even for a timer at the
  // very instant it fired for (one a callback below adds for "then").
  if (expired) armed_.reset();
  // Take the due timers out first: callbacks may add or cancel timers. A repeating timer is back
  // in the queue before its callback runs, so the callback may cancel it.
  std::vector<TimerCallback> due;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto node = timers_.extract(timers_.begin());
    Timer& timer = node.mapped();
    if (timer.period == Clock::duration::zero()) {
      due.push_back(std::move(timer.callback));
      continue;
    }
    due.push_back(timer.callback);
    Clock::time_point next = node.key() + timer.period;
    if (next <= now) next = now + timer.period;
    node.key() = next;
    timers_.insert(std::move(node));
  }
  for (auto& callback : due) callback();
}

void EventLoop::deliver_caught_signals() {
  for (int s : caught_signals_) {
    if (!g_caught[s]) continue;
    g_caught[s] = 0;
    on_signal_(s);
  }
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
      if (errno == EINTR) {
        deliver_caught_signals();
        continue;
      }
      return fail(std::string("poll: ") + std::strerror(errno));
    }
    deliver_caught_signals();
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
