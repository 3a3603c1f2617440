#pragma once
// The time a smearing server serves around a leap second ([server] leap-smear = "linear-24h"):
// Google's public smear, linear over the 24 hours from noon UTC before the leap to noon UTC after
// it. Served time runs slow (an insertion) or fast (a deletion) by 1 s over the window, so that
// 86400 served seconds span 86401 (86399) real ones: it never steps and agrees with UTC at both
// noons. The system clock itself still leaps as the kernel does; only what is served is smeared.
//
// The kernel inserts a leap second by showing 23:59:59 twice: a reading in that second is
// ambiguous, and the caller says whether it is the second pass (the kernel's TIME_OOP, or later).
// A deletion skips 23:59:59, so nothing is ambiguous then.
#include <cstdint>

#include "clock/leap.hpp"
#include "clock/ntp_time.hpp"

namespace kairos {

inline constexpr double kSmearHalfWindow = 43200;  // noon to midnight, and midnight to noon

struct LeapSmear {
  std::int64_t leap = 0;     // unix seconds of the midnight the leap second ends at
  Leap kind = Leap::kNone;   // kInsert or kDelete; anything else smears nothing

  bool operator==(const LeapSmear&) const = default;
};

// True while a reading `since_leap` seconds from the leap's midnight (as the kernel shows it) is
// inside the window.
bool smear_active(const LeapSmear& smear, double since_leap);
// Seconds to add to such a reading to get served time: 0 outside the window, -0.5 s (insert) or
// +0.5 s (delete) near the midnight, continuous across the kernel's leap. `repeated`: the reading
// is from the inserted second (the second 23:59:59) or after it.
double smear_correction(const LeapSmear& smear, double since_leap, bool repeated);
// The same on a timestamp: `reading` smeared.
NtpTimestamp smeared(const LeapSmear& smear, NtpTimestamp reading, bool repeated);
// True when a reading is in the second the kernel shows twice for an insertion (23:59:59 before
// the leap's midnight): only then does `repeated` matter.
bool in_ambiguous_second(const LeapSmear& smear, NtpTimestamp reading);

}  // namespace kairos
