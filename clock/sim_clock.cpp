#include "clock/sim_clock.hpp"

#include <cmath>

namespace kairos {

timespec sim_unix_time(std::int64_t epoch, double seconds) {
  const double whole = std::floor(seconds);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(epoch + static_cast<std::int64_t>(whole));
  ts.tv_nsec = static_cast<long>(std::llround((seconds - whole) * 1e9));
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

SimClock::SimClock(std::string name, std::function<double()> true_time, std::int64_t epoch, double initial_offset,
                   double oscillator_frequency, double max_frequency)
    : name_(std::move(name)),
      true_time_(std::move(true_time)),
      epoch_(epoch),
      offset_(initial_offset),
      oscillator_(oscillator_frequency),
      max_frequency_(max_frequency) {}

void SimClock::advance(double t) {
  if (t <= time_) return;
  const double before = time_ + offset_;
  offset_ += rate_error() * (t - time_);
  time_ = t;
  const double after = time_ + offset_;
  // Like the kernel: the leap second happens when our own reading crosses midnight.
  if (leap_ != Leap::kNone && leap_point_ >= 0 && before < leap_point_ && after >= leap_point_) {
    offset_ += leap_ == Leap::kInsert ? -1.0 : 1.0;
    leaps_ += leap_ == Leap::kInsert ? 1 : -1;
    leap_ = Leap::kNone;
  }
}

double SimClock::reading_at(double t) {
  advance(t);
  return time_ + offset_;
}

void SimClock::set_oscillator_frequency(double f) {
  advance(true_time_());
  oscillator_ = f;
}

Result<timespec> SimClock::now() { return sim_unix_time(epoch_, reading_at(true_time_())); }

Result<void> SimClock::set_frequency(double f) {
  if (!std::isfinite(f) || std::abs(f) > max_frequency_) return fail(name_ + ": frequency out of range");
  advance(true_time_());
  adjustment_ = f;
  return {};
}

Result<void> SimClock::step(double by) {
  if (!std::isfinite(by)) return fail(name_ + ": bad step");
  advance(true_time_());
  offset_ += by;
  return {};
}

Result<void> SimClock::set_leap(Leap leap) {
  advance(true_time_());
  leap_ = leap == Leap::kUnsynchronized ? Leap::kNone : leap;
  return {};
}

Result<void> SimClock::set_error_estimate(const ClockErrorEstimate& estimate) {
  estimate_ = estimate;
  return {};
}

}  // namespace kairos
