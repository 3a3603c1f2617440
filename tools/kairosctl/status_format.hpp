#pragma once
// Human output of kairosd's control answers (kairosctl status, sources, clocks, server), in the
// manner of chronyc tracking/sources: aligned, every unit spelled out. Input is the daemon's JSON;
// fields it lacks print as "-" rather than failing, so an older daemon still reads.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace kairos {

std::string format_status(const nlohmann::json& answer);
// The status answer's "leap" object: TAI - UTC and its origin, the next leap, the served smear.
std::string format_leap(const nlohmann::json& leap);
std::string format_sources(const nlohmann::json& answer);
std::string format_clocks(const nlohmann::json& answer);
std::string format_server(const nlohmann::json& answer);

// "+0.000002547 s ± 0.000005390 s"; an unknown (null) bound reads "± unknown".
std::string format_offset(double offset, const nlohmann::json& bound);
// The reach register as chronyc shows it: octal, newest poll in the lowest bit.
std::string format_reach(unsigned reach);

// kairosctl waitsync: the status answer is synchronized, with an error bound within max_error
// (infinity: any known bound).
struct SyncCheck {
  bool synchronized = false;
  std::string summary;  // one line: state, offset ± bound
};
SyncCheck check_sync(const nlohmann::json& status, double max_error);

}  // namespace kairos
