#pragma once
// What the clock model consumes: one offset measurement of a clock against a reference, already
// reduced from timestamps (an NTP exchange, or a cross-timestamp of two local clocks).
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
};

}  // namespace kairos
