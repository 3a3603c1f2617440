#pragma once
// The direct path's PHC-to-system line (TimescaleMap) frozen for other threads: what the NTP
// server's workers use to turn a NIC's hardware stamps (PHC time) into system time without
// touching the map, which the main loop owns. Made on the main loop after each cross-timestamp
// and each change of the system clock's steering, valid only near the PHC time it was made at
// (where the map itself still answers), so a line that stops being refreshed goes stale and
// its stamps fall back to software ones. Pure.
#include <cstdint>
#include <ctime>
#include <optional>

#include "clock/timescale_map.hpp"

namespace kairos {

struct PhcLine {
  std::int64_t phc_ref_ns = 0;  // PHC time the line is anchored at (ns since the epoch)
  double offset = 0;            // PHC minus system at phc_ref (s)
  double slope = 0;             // change of that difference per second
  double sd = 0;                // of the offset at phc_ref (s)
  std::int64_t valid_from_ns = 0;   // PHC times the line may be used between
  std::int64_t valid_until_ns = 0;

  // The system time of a stamp in PHC time; nullopt outside the line's validity.
  std::optional<timespec> to_system(const timespec& phc) const;
};

// The map's line in the regime in force at model time `now` (no change of the system clock after
// it), anchored at `phc_now`, the PHC's reading at `now`; nullopt while the map has no line.
std::optional<PhcLine> phc_line(const TimescaleMap& map, double now, const timespec& phc_now);

}  // namespace kairos
