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
  // NTP time arithmetic (ntp_time.hpp) rather than a second hand-written timespec carry.
  const NtpTimestamp corrected = NtpTimestamp::from_timespec(*reading) + Duration::from_seconds(correction(t));
  return corrected.to_timespec(*reading);
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
