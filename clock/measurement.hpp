#pragma once
// What the clock model consumes: one offset measurement of a clock against a reference, already
// reduced from timestamps (an NTP exchange, or a cross-timestamp of two local clocks).
#include <cmath>
#include <optional>

#include "clock/leap.hpp"

namespace kairos {

struct Measurement {
  double time = 0;    // the model's time axis (monotonic seconds) when it was taken
  double offset = 0;  // reference minus our clock (s), as NTP reports it
  double delay = 0;   // round trip, or the width of a cross-timestamp's reading window (s)
  double root_delay = 0;       // the reference's own distance from UTC (s), from its header
  double root_dispersion = 0;
  double precision = 0;  // sd of the timestamps' own error, both ends together (s)
  Leap leap = Leap::kNone;
  // TAI - UTC the reference announces (a PTP master's currentUtcOffset), if it does: the
  // kernel's TAI offset comes from it while no leap-seconds list is valid.
  std::optional<int> tai_utc;
};

// Who read a timestamp, which decides how precise it is. The daemon names the kind its stamps
// had (hwts' StampSource) and the simulator the kind its scenario says it has; both take the
// figure from here, so the model never learns the simulated noise itself.
enum class StampKind { kHardware, kKernel, kDaemon };

constexpr double stamp_error(StampKind kind) {
  switch (kind) {
    case StampKind::kHardware: return 10e-9;
    case StampKind::kKernel: return 1e-6;
    case StampKind::kDaemon: return 10e-6;  // scheduling delay between syscall and clock read
  }
  return 10e-6;
}

// The sd of one exchange's timestamp error (both ends) for the stamps it had.
inline double stamp_precision(StampKind t1, StampKind t4) { return std::hypot(stamp_error(t1), stamp_error(t4)); }

}  // namespace kairos
