#pragma once
// Tells when CLOCK_REALTIME is set (stepped) by anyone: a timerfd armed on CLOCK_REALTIME with
// TFD_TIMER_CANCEL_ON_SET far in the future fails its read with ECANCELED when the clock is set
// (timerfd_create(2)). A time daemon must know: after a foreign step its model's offset is void.
#include <functional>
#include <memory>

#include "clock/result.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

class RealtimeWatch {
 public:
  static Result<std::unique_ptr<RealtimeWatch>> start(EventLoop& loop, std::function<void()> on_set);
  ~RealtimeWatch();
  RealtimeWatch(const RealtimeWatch&) = delete;
  RealtimeWatch& operator=(const RealtimeWatch&) = delete;

 private:
  RealtimeWatch(EventLoop& loop, UniqueFd fd, std::function<void()> on_set)
      : loop_(loop), fd_(std::move(fd)), on_set_(std::move(on_set)) {}
  Result<void> arm();
  void on_ready();

  EventLoop& loop_;
  UniqueFd fd_;
  std::function<void()> on_set_;
};

}  // namespace kairos
