#include "daemon/leap_seconds_file.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>

namespace kairos {

std::string utc_date(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const year_month_day date(floor<days>(sys_seconds(seconds(unix_seconds))));
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                     static_cast<unsigned>(date.day()));
}

Result<LeapSecondsFile> load_leap_seconds_file(const SystemClockConfig& config, std::int64_t now) {
  LeapSecondsFile file;
  const bool configured = config.leap_seconds_list.has_value();
  const std::string path = configured ? *config.leap_seconds_list : kDefaultLeapSecondsList;
  if (path.empty()) return file;  // leap-seconds-list = "": none
  if (!configured) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return file;  // no tzdata list: none
  }
  auto list = read_leap_seconds_list(path);
  if (!list) {
    if (configured) return fail("[clock.system] leap-seconds-list: " + list.error().message);
    file.warning = "the default leap-seconds.list is not used: " + list.error().message;
    return file;
  }
  file.path = path;
  file.list = std::move(*list);
  if (file.list->expired(now)) {
    file.warning = fmt::format("{} expired on {}: not used for leap seconds or TAI - UTC until it is updated (tzdata)",
                               path, utc_date(file.list->expiry));
  }
  return file;
}

}  // namespace kairos
