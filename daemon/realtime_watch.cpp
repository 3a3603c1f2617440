#include "daemon/realtime_watch.hpp"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kairos {

Result<std::unique_ptr<RealtimeWatch>> RealtimeWatch::start(EventLoop& loop, std::function<void()> on_set) {
  // An interposing simulator has no TFD_TIMER_CANCEL_ON_SET (event_loop.hpp); steps there are
  // the daemon's own.
  if (loop.portable()) return fail("TFD_TIMER_CANCEL_ON_SET is not available in portable mode (a simulator)");
  UniqueFd fd(::timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK));
  if (!fd) return fail(std::string("timerfd_create(CLOCK_REALTIME): ") + std::strerror(errno));
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) return fail(std::string("fcntl: ") + std::strerror(errno));
  std::unique_ptr<RealtimeWatch> watch(new RealtimeWatch(loop, std::move(fd), std::move(on_set)));
  if (auto ok = watch->arm(); !ok) return std::unexpected(ok.error());
  loop.watch(watch->fd_.get(), POLLIN, [w = watch.get()](short) { w->on_ready(); });
  return watch;
}

RealtimeWatch::~RealtimeWatch() { loop_.unwatch(fd_.get()); }

Result<void> RealtimeWatch::arm() {
  // Absolute and far away (2100): it never expires, it only gets cancelled by a clock set.
  itimerspec spec{};
  spec.it_value.tv_sec = 4102444800;
  if (::timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, nullptr) != 0) {
    return fail(std::string("timerfd_settime(CANCEL_ON_SET): ") + std::strerror(errno));
  }
  return {};
}

void RealtimeWatch::on_ready() {
  std::uint64_t expirations = 0;
  const ssize_t n = ::read(fd_.get(), &expirations, sizeof expirations);
  if (n < 0 && errno == ECANCELED) {
    if (auto ok = arm(); !ok) spdlog::error("{}", ok.error().message);
    on_set_();
  } else if (n < 0 && errno != EAGAIN) {
    spdlog::error("realtime watch: {}", std::strerror(errno));
  }
}

}  // namespace kairos
