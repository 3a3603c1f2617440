#pragma once
// SIGHUP in a running kairosd: the configuration file read again and what can change live
// carried out (the plan is daemon/reload.hpp's). An invalid file changes nothing.
#include <string>

#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/leap_seconds_file.hpp"
#include "daemon/source_set.hpp"
#include "daemon/time_service.hpp"

namespace kairos {

class Reloader {
 public:
  // `running` is the configuration that runs, kept up to date with what is applied; its sources
  // are `sources` in the same order. `level_fixed`: --log-level wins over the file.
  // `service` may be null (no server).
  Reloader(std::string path, DaemonConfig& running, bool level_fixed, SourceSet& sources, ClockGraph& clocks,
           TimeService* service)
      : path_(std::move(path)),
        running_(running),
        level_fixed_(level_fixed),
        sources_(sources),
        clocks_(clocks),
        service_(service) {}

  void reload();

 private:
  std::string path_;
  DaemonConfig& running_;
  bool level_fixed_;
  SourceSet& sources_;
  ClockGraph& clocks_;
  TimeService* service_;
};

// The leap-seconds.list to the system clock's model, said once in the log (at start, `when`
// empty, and at each SIGHUP).
void use_leap_seconds_file(ClockGraph& clocks, LeapSecondsFile file, const char* when);

}  // namespace kairos
