#include "nts/sample_measurement.hpp"

#include <cmath>

namespace kairos {

Leap to_leap(NtpLeap leap) {
  switch (leap) {
    case NtpLeap::kNone: return Leap::kNone;
    case NtpLeap::kInsertSecond: return Leap::kInsert;
    case NtpLeap::kDeleteSecond: return Leap::kDelete;
    case NtpLeap::kUnsynchronized: return Leap::kUnsynchronized;
  }
  return Leap::kNone;
}

Measurement to_measurement(const NtpSample& sample, double time, double stamp_precision) {
  Measurement m;
  m.time = time;
  m.offset = sample.offset.seconds();
  m.delay = sample.delay.seconds();
  m.root_delay = sample.header.root_delay.to_duration().seconds();
  m.root_dispersion = sample.header.root_dispersion.to_duration().seconds();
  const double server_resolution = std::ldexp(1.0, sample.header.precision);
  m.precision = std::sqrt(stamp_precision * stamp_precision + server_resolution * server_resolution / 12.0);
  m.leap = to_leap(sample.header.leap);
  return m;
}

}  // namespace kairos
