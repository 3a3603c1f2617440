#include "daemon/tracking_log.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace kairos {

Result<std::unique_ptr<TrackingLog>> TrackingLog::open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (!file) return fail("[logging] tracking: cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<TrackingLog>(new TrackingLog(file, path));
}

TrackingLog::~TrackingLog() { std::fclose(file_); }

std::string tracking_line(timespec now, const ClockStatus& clock) {
  const std::string bound = std::isfinite(clock.error_bound) ? fmt::format("{:.9e}", clock.error_bound) : "inf";
  return fmt::format("{}.{:09d} {} {} {:+.9e} {} {:+.6f}", now.tv_sec, now.tv_nsec, clock.name, to_string(clock.state),
                     clock.offset, bound, clock.frequency * 1e6);
}

void TrackingLog::write(timespec now, std::span<const ClockStatus> clocks) {
  bool ok = true;
  for (const ClockStatus& clock : clocks) {
    const std::string line = tracking_line(now, clock) + "\n";
    ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && ok;
  }
  ok = std::fflush(file_) == 0 && ok;
  if (!ok && failed_++ == 0) {
    spdlog::warn("[logging] tracking: cannot write {}: {}; the clock log has a gap", path_, std::strerror(errno));
  }
  if (ok) failed_ = 0;
  std::clearerr(file_);
}

}  // namespace kairos
