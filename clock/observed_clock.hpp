#pragma once
// A clock we measure and model but never touch: observe-only mode (`steer = false`), and the
// read-only PHC of a NIC that ptp4l disciplines. The model steers it like any other device, but
// its frequency changes and steps are kept here as a virtual correction on top of the real
// clock's readings, so the model still converges (it sees the corrected clock) while the kernel
// is never asked for anything but a reading.
//
// Measurements are taken against the real clock; the caller subtracts correction(t) from each
// offset before the model sees it, and reports the real clock's own offset as the model's
// estimate plus correction(t).
#include <functional>
#include <optional>
#include <string>

#include "clock/clock_device.hpp"

namespace kairos {

class ObservedClock final : public ClockDevice {
 public:
  // `real` is the clock observed; `elapsed` is the model's time scale (seconds, monotonic), the
  // same one the measurements are stamped with. The device's readings are not used.
  ObservedClock(ClockDevice& real, std::function<double()> elapsed);

  // The virtual correction at model time t: corrected reading minus real reading (s).
  double correction(double t) const { return correction_ + frequency_ * (t - since_); }
  std::size_t steps() const { return steps_; }
  const ClockErrorEstimate& error_estimate() const { return estimate_; }
  Leap leap() const { return leap_; }
  std::optional<int> tai_offset() const { return tai_offset_; }

  // ClockDevice.
  std::string name() const override;
  Result<timespec> now() override;  // the real reading plus the correction
  Result<double> frequency() override { return frequency_; }
  Result<void> set_frequency(double f) override;
  Result<void> step(double by) override;
  Result<void> set_leap(Leap leap) override;
  // Kept here like the leap: the kernel's TAI offset is not ours to set when only observing.
  Result<void> set_tai_offset(int seconds) override {
    tai_offset_ = seconds;
    return {};
  }
  Result<void> set_error_estimate(const ClockErrorEstimate& estimate) override;
  double max_frequency() const override { return real_.max_frequency(); }

 private:
  ClockDevice& real_;
  std::function<double()> elapsed_;
  double correction_ = 0;  // at since_
  double since_ = 0;
  double frequency_ = 0;
  std::size_t steps_ = 0;
  Leap leap_ = Leap::kNone;
  std::optional<int> tai_offset_;
  ClockErrorEstimate estimate_;
};

}  // namespace kairos
