#pragma once
// Which leap-seconds.list kairosd uses ([clock.system] leap-seconds-list), read and checked at
// start, by --check-config and on every SIGHUP. A configured file must be there and sound; the
// default one (Debian's tzdata) is used only if it exists, and a broken default is skipped with a
// warning rather than stopping the daemon.
#include <optional>
#include <string>

#include "clock/leap_seconds_list.hpp"
#include "clock/result.hpp"
#include "daemon/config.hpp"

namespace kairos {

struct LeapSecondsFile {
  std::string path;                     // empty: no list in use
  std::optional<LeapSecondsList> list;  // set when path is
  std::string warning;                  // a default file skipped, or the list expired; empty: none
};

// `now` (unix seconds) decides whether the list has expired (a warning: the list is then not
// used for leap decisions).
Result<LeapSecondsFile> load_leap_seconds_file(const SystemClockConfig& config, std::int64_t now);

// "2026-06-28" for a unix time.
std::string utc_date(std::int64_t unix_seconds);

}  // namespace kairos
