#pragma once
// Leap second warnings as NTP carries them (RFC 5905 §7.3, LI field) and as the kernel acts on
// them.
namespace kairos {

enum class Leap {
  kNone,
  kInsert,          // 23:59:60 at the end of this UTC day
  kDelete,          // 23:59:59 skipped at the end of this UTC day
  kUnsynchronized,  // the source has no time (LI = 3)
};

}  // namespace kairos
