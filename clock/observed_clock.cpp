#include "clock/observed_clock.hpp"

#include <cmath>

#include "clock/ntp_time.hpp"

namespace kairos {

ObservedClock::ObservedClock(ClockDevice& real, std::function<double()> elapsed)
    : real_(real), elapsed_(std::move(elapsed)), since_(elapsed_()) {}

std::string ObservedClock::name() const { return real_.name() + " (observed)"; }

Result<timespec> ObservedClock::now() {
  const double t = elapsed_();
  auto reading = real_.now();
  if (!reading) return reading;
  const std::int64_t by = Duration::from_seconds(correction(t)).nanos();
  std::int64_t ns = static_cast<std::int64_t>(reading->tv_nsec) + by % 1'000'000'000;
  std::int64_t s = static_cast<std::int64_t>(reading->tv_sec) + by / 1'000'000'000;
  if (ns < 0) {
    ns += 1'000'000'000;
    --s;
  } else if (ns >= 1'000'000'000) {
    ns -= 1'000'000'000;
    ++s;
  }
  return timespec{static_cast<time_t>(s), static_cast<long>(ns)};
}

Result<void> ObservedClock::set_frequency(double f) {
  if (!std::isfinite(f) || std::abs(f) > max_frequency()) return fail(name() + ": frequency out of range");
  const double t = elapsed_();
  correction_ = correction(t);
  since_ = t;
  frequency_ = f;
  return {};
}

Result<void> ObservedClock::step(double by) {
  if (!std::isfinite(by)) return fail(name() + ": step is not finite");
  const double t = elapsed_();
  correction_ = correction(t) + by;
  since_ = t;
  ++steps_;
  return {};
}

Result<void> ObservedClock::set_leap(Leap leap) {
  leap_ = leap;
  return {};
}

Result<void> ObservedClock::set_error_estimate(const ClockErrorEstimate& estimate) {
  estimate_ = estimate;
  return {};
}

}  // namespace kairos
