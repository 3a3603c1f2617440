#pragma once
// Cross-timestamps of a PTP hardware clock against a system clock, reduced to one offset (pure:
// no syscalls). A reading is system time before, PHC time, system time after; the PHC was
// latched somewhere in that window, so the narrowest window of several says the most
// (Documentation/driver-api/ptp.rst, PTP_SYS_OFFSET*). A PRECISE reading is an exact pair taken
// by the hardware itself: its window is zero.
#include <ctime>
#include <span>
#include <string_view>

#include "clock/measurement.hpp"
#include "clock/result.hpp"

namespace kairos {

// How the readings were taken, best first: the order PhcDevice tries them in.
enum class CrossMethod {
  kPrecise,   // PTP_SYS_OFFSET_PRECISE: the device's own simultaneous pair
  kExtended,  // PTP_SYS_OFFSET_EXTENDED: the driver's system-PHC-system around the latch
  kBasic,     // PTP_SYS_OFFSET: interleaved system, PHC, system, ..., taken by the kernel
  kSandwich,  // clock_gettime three times from user space: the widest windows
};
inline constexpr int kCrossMethodCount = 4;
std::string_view to_string(CrossMethod method);

struct CrossReading {
  timespec system_before{};
  timespec phc{};
  timespec system_after{};  // equal to system_before for an exact pair
};

struct CrossTimestamp {
  double offset = 0;  // PHC minus system (s), at the chosen reading's midpoint
  double window = 0;  // the chosen reading's system after minus before (s)
  timespec system_time{};  // the midpoint of the chosen reading's system times
  timespec phc_time{};
  CrossMethod method = CrossMethod::kSandwich;
};

// The reading with the shortest window (ties: the later one, it is fresher). Fails on no
// readings and on any negative window: the system clock was stepped while they were taken, so
// none of them compares like with like.
Result<CrossTimestamp> best_cross_timestamp(std::span<const CrossReading> readings, CrossMethod method);

// The standard deviation (s) of a cross-timestamp's own error apart from its window. Every
// method reads whole nanoseconds, so each is 1 ns / sqrt(12). The window is not counted here on
// purpose: it is the measurement's delay, and SourceFilter already turns the excess of a window
// over the narrowest one seen into variance (excess² / 12) and the whole width into the bound
// (delay / 2). Counting the window again here would weigh wide-window methods twice and make a
// narrow but steady sandwich look worse than it is. What the window cannot tell is a constant
// asymmetry of the latch inside it; that is a bias no noise figure removes.
double cross_precision(CrossMethod method);

// A measurement for a clock that follows the PHC: the PHC is the reference, so offset
// (reference minus us) is PHC minus system; the window is the delay. `time` is the model's
// time axis at the reading.
Measurement to_measurement(const CrossTimestamp& cross, double time);

}  // namespace kairos
