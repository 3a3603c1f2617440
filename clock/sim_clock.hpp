#pragma once
// A simulated clock behind the ClockDevice seam: an oscillator with a frequency error (set by
// the simulator as it wanders) plus the adjustments a servo makes, integrated exactly between
// events. True time comes from the simulator; readings are seconds since the run's start in the
// clock's own scale, plus the Unix epoch of that start.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "clock/clock_device.hpp"

namespace kairos {

// Unix time of a simulated reading: `seconds` since the run's start, which began at `epoch`.
// Kept apart so that a double never has to hold the whole Unix time (it would lose nanoseconds).
timespec sim_unix_time(std::int64_t epoch, double seconds);

class SimClock : public ClockDevice {
 public:
  // `true_time` tells the current simulated time (s since start); it never goes backwards.
  SimClock(std::string name, std::function<double()> true_time, std::int64_t epoch, double initial_offset,
           double oscillator_frequency, double max_frequency);

  // The simulator's side.
  void set_oscillator_frequency(double f);  // from now on
  double oscillator_frequency() const { return oscillator_; }
  // The reading at true time t >= the last event, in seconds since the start (no noise).
  double reading_at(double t);
  // This clock minus true time at t, in the clock's own second-counting (leaps included).
  double offset_at(double t) { return reading_at(t) - t; }
  // Leap seconds this clock inserted (+1 each) or deleted (-1): reading + this counts like TAI.
  int leaps() const { return leaps_; }
  // The TAI - UTC last set (nullopt: never), and how many times it was set.
  std::optional<int> tai_offset() const { return tai_offset_; }
  std::size_t tai_offset_sets() const { return tai_offset_sets_; }
  double rate_error() const { return oscillator_ + adjustment_ + oscillator_ * adjustment_; }
  // The kernel inserts (or deletes) a second when the clock's reading crosses this point.
  void set_leap_point(double reading) { leap_point_ = reading; }
  const ClockErrorEstimate& error_estimate() const { return estimate_; }
  std::int64_t epoch() const { return epoch_; }

  // ClockDevice.
  std::string name() const override { return name_; }
  Result<timespec> now() override;
  Result<double> frequency() override { return adjustment_; }
  Result<void> set_frequency(double f) override;
  Result<void> step(double by) override;
  Result<void> set_leap(Leap leap) override;
  Result<void> set_tai_offset(int seconds) override {
    tai_offset_ = seconds;
    ++tai_offset_sets_;
    return {};
  }
  Result<void> set_error_estimate(const ClockErrorEstimate& estimate) override;
  double max_frequency() const override { return max_frequency_; }

 private:
  void advance(double t);

  std::string name_;
  std::function<double()> true_time_;
  std::int64_t epoch_;
  double time_ = 0;      // true time of the last advance
  double offset_;        // reading minus true time at time_
  double oscillator_;
  double adjustment_ = 0;
  double max_frequency_;
  Leap leap_ = Leap::kNone;
  double leap_point_ = -1;
  int leaps_ = 0;
  std::optional<int> tai_offset_;
  std::size_t tai_offset_sets_ = 0;
  ClockErrorEstimate estimate_;
};

}  // namespace kairos
