#pragma once
// The seam between the clock model and a real clock: the system clock, a PHC, or a simulated
// clock. The model decides; a ClockDevice only reads and obeys. Frequencies are fractional
// (1e-6 = 1 ppm, positive = the clock runs faster), durations are seconds as double where the
// model works in double and Duration where they reach the wire.
#include <ctime>
#include <string>

#include "clock/leap.hpp"
#include "clock/result.hpp"

namespace kairos {

// What the kernel keeps for applications (adjtimex maxerror/esterror/status), updated by the
// model after every estimate.
struct ClockErrorEstimate {
  double max_error = 16.0;  // seconds; guaranteed bound (kernel caps at 16 s)
  double est_error = 16.0;  // seconds; statistical estimate
  bool synchronized = false;
};

class ClockDevice {
 public:
  virtual ~ClockDevice() = default;

  virtual std::string name() const = 0;
  // The clock's current time (CLOCK_REALTIME scale: TAI - UTC leaps applied).
  virtual Result<timespec> now() = 0;
  // The frequency adjustment in effect, as set by set_frequency (0 = free running).
  virtual Result<double> frequency() = 0;
  // Sets the adjustment of the clock's rate: its time advances (1 + f) times the raw oscillator's.
  virtual Result<void> set_frequency(double f) = 0;
  // Adds `by` seconds to the clock at once.
  virtual Result<void> step(double by) = 0;
  // Arms (kInsert, kDelete) or disarms (kNone) the leap second at the end of this UTC day.
  virtual Result<void> set_leap(Leap leap) = 0;
  // Sets TAI - UTC in seconds (the kernel's ADJ_TAI: CLOCK_TAI = CLOCK_REALTIME + this).
  virtual Result<void> set_tai_offset(int seconds) = 0;
  virtual Result<void> set_error_estimate(const ClockErrorEstimate& estimate) = 0;
  // The largest |f| set_frequency accepts.
  virtual double max_frequency() const = 0;
};

}  // namespace kairos
