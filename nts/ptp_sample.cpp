#include "nts/ptp_sample.hpp"

#include <cmath>

namespace kairos {

std::optional<double> clock_accuracy_seconds(std::uint8_t code) {
  // Table 5, from 0x20; the last step (1 s to 10 s) breaks the 1, 2.5, 10, 25 … pattern.
  static constexpr double kWithin[] = {25e-9,  100e-9, 250e-9, 1e-6,   2.5e-6, 10e-6,  25e-6, 100e-6, 250e-6,
                                       1e-3,   2.5e-3, 10e-3,  25e-3,  100e-3, 250e-3, 1.0,   10.0};
  if (code < 0x20 || code > 0x30) return std::nullopt;
  return kWithin[code - 0x20];
}

Leap to_leap(const PtpMasterInfo& master) {
  if (master.leap61) return Leap::kInsert;
  if (master.leap59) return Leap::kDelete;
  return Leap::kNone;
}

Measurement to_measurement(const PtpMeasurement& measurement, double stamp_precision) {
  Measurement m;
  m.time = measurement.time;
  m.offset = measurement.offset;
  m.delay = measurement.delay;
  m.root_delay = 0;
  m.root_dispersion = clock_accuracy_seconds(measurement.master.quality.clock_accuracy).value_or(0.0);
  // Our stamps' error, and the Sync's unseen one-way queueing (ptp_port.hpp: delay_spread).
  m.precision = std::hypot(stamp_precision, measurement.delay_spread);
  m.leap = to_leap(measurement.master);
  return m;
}

}  // namespace kairos
