#pragma once
// The clock log (`[logging] tracking`), as chrony's tracking.log: one line per clock per second
// with the model's view — the offset it estimates and the bound it claims — so that a run in a
// simulator (tests/clknetsim) or on a real host can be checked against an independent truth:
//   <unix time> <clock> <state> <offset s> <error bound s> <frequency ppm>
// offset is true time minus the clock's reading; the bound is its half-width ("inf" when unknown).
// A failed write (full disk) is said once and never stops the daemon.
#include <cstdio>
#include <ctime>
#include <memory>
#include <span>
#include <string>

#include "clock/result.hpp"
#include "daemon/clock_graph.hpp"

namespace kairos {

class TrackingLog {
 public:
  static Result<std::unique_ptr<TrackingLog>> open(const std::string& path);
  ~TrackingLog();
  TrackingLog(const TrackingLog&) = delete;
  TrackingLog& operator=(const TrackingLog&) = delete;

  void write(timespec now, std::span<const ClockStatus> clocks);
  std::size_t failed_writes() const { return failed_; }

 private:
  TrackingLog(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
  std::size_t failed_ = 0;
};

// One line of the log, without its newline.
std::string tracking_line(timespec now, const ClockStatus& clock);

}  // namespace kairos
