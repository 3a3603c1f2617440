#pragma once
// Leap second warnings as NTP carries them (RFC 5905 §7.3, LI field) and as the kernel acts on
// them.
#include <cstdint>

namespace kairos {

enum class Leap {
  kNone,
  kInsert,          // 23:59:60 at the end of this UTC day
  kDelete,          // 23:59:59 skipped at the end of this UTC day
  kUnsynchronized,  // the source has no time (LI = 3)
};

// True when the UTC day holding `unix_seconds` is the last of its month. LI warns of a leap "in
// the last minute of the current month" (RFC 5905 §7.3) and servers may set it all month long,
// while the kernel inserts or deletes at the next midnight: armed on any other day, it would
// leap at the wrong midnight.
bool last_day_of_month(std::int64_t unix_seconds);

const char* to_string(Leap leap);

}  // namespace kairos
