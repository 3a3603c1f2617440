#pragma once
// The IERS/NIST leap-seconds.list (Debian's tzdata ships it as
// /usr/share/zoneinfo/leap-seconds.list): TAI - UTC since 1972 and the leap seconds announced,
// known without trusting the sources' leap indicators. chrony reads the same file (leapseclist).
//
// The format, from the file's own header:
//   <NTP seconds> <TAI-UTC> [# comment]   from that instant (a UTC midnight) on, TAI - UTC is this
//   #$ <NTP seconds>                      when the file was last updated
//   #@ <NTP seconds>                      when it expires (the next leap cannot be known beyond it)
//   #h <5 hex words>                      SHA-1 over the digits of $, @ and both fields of every
//                                         data line, in file order, everything else removed
//   any other line starting with '#'     a comment
// NTP seconds count from 1900-01-01 (era 0). Parsing is pure: text in, the list or the first
// problem with its line out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/leap.hpp"
#include "clock/result.hpp"

namespace kairos {

// Larger files are refused before parsing: the real one is ~10 KB.
inline constexpr std::size_t kMaxLeapSecondsListBytes = 256 * 1024;
// More data lines than any plausible future needs (28 by 2017, at most a few per year).
inline constexpr std::size_t kMaxLeapSecondsEntries = 1000;

struct LeapSecondsEntry {
  std::int64_t utc = 0;  // unix seconds of the UTC midnight from which TAI - UTC is `tai_utc`
  int tai_utc = 0;
};

// A leap second: the one at the end of the UTC day before `utc`.
struct LeapEvent {
  std::int64_t utc = 0;  // unix seconds of the midnight it ends at (the first instant after it)
  Leap leap = Leap::kNone;  // kInsert or kDelete, by the sign of the change in TAI - UTC
  int tai_utc_after = 0;
};

struct LeapSecondsList {
  std::vector<LeapSecondsEntry> entries;  // oldest first, strictly increasing times
  std::int64_t expiry = 0;   // unix seconds (#@)
  std::int64_t updated = 0;  // unix seconds (#$)
  bool hash_verified = false;  // a #h line was present and matched (a mismatch is an error)

  bool expired(std::int64_t unix_seconds) const { return unix_seconds >= expiry; }
  // TAI - UTC at that instant; nullopt before the first entry (1972).
  std::optional<int> tai_utc_at(std::int64_t unix_seconds) const;
  // The first leap second ending after `unix_seconds`, if the list has one.
  std::optional<LeapEvent> next_leap_after(std::int64_t unix_seconds) const;
  // The leap second at the end of the UTC day holding `unix_seconds` (what the kernel is to be
  // armed with that day), else kNone.
  Leap leap_tonight(std::int64_t unix_seconds) const;
  // The leap second at the end of the month holding `unix_seconds` (what sources announce all
  // month long), else kNone.
  Leap leap_this_month(std::int64_t unix_seconds) const;
};

// `origin` names the text in messages ("PATH:LINE: ...").
Result<LeapSecondsList> parse_leap_seconds_list(std::string_view text, std::string_view origin);
// Reads (at most kMaxLeapSecondsListBytes) and parses the file.
Result<LeapSecondsList> read_leap_seconds_list(const std::string& path);

}  // namespace kairos
