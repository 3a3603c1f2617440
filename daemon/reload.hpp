#pragma once
// What a SIGHUP changes: the running configuration against the file as it is now. Pure, so the
// decision is tested without a daemon; kairosd (daemon/reloader.hpp) carries it out.
//
// Live: [[source]] entries come and go (an unchanged one keeps its association, keys and
// samples; a changed one is removed and added again), the [logging] level, and the NTS-KE
// server's certificate and key files are read again. Everything else is bound at start (sockets
// bound as root, privileges dropped, NICs and PHCs set up): it is named as needing a restart.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.hpp"

namespace kairos {

struct ReloadPlan {
  std::vector<std::size_t> remove;        // indexes into the old configuration's sources
  std::vector<SourceConfig> add;          // in the new file's order
  std::optional<std::string> log_level;   // the new [logging] level, when it changed
  bool reload_certificates = false;       // an [nts-ke-server] runs: its files are read again
  std::vector<std::string> restart_needed;  // "section.key" that changed and keeps its old value

  // Nothing to do but what every SIGHUP does (the certificates).
  bool no_changes() const { return remove.empty() && add.empty() && !log_level && restart_needed.empty(); }
};

ReloadPlan plan_reload(const DaemonConfig& running, const DaemonConfig& next);

// Two [[source]] entries ask for the same association (every option alike; the line is not one).
bool same_source(const SourceConfig& a, const SourceConfig& b);

// "reloaded: +1 source, -1 source, level debug"; "reloaded: no changes" when there are none.
std::string reload_summary(const ReloadPlan& plan);

}  // namespace kairos
