#include "sim_evidence.hpp"

#include <cmath>
#include <filesystem>

#include "daemon/evidence_reader.hpp"
#include "engine.hpp"

namespace kairos::sim {

EvidenceSnapshot evidence_snapshot(const Scenario& scenario, const Record& r) {
  EvidenceSnapshot s;
  s.name = "system";
  s.state = r.synchronized ? EvidenceState::kSynchronized : EvidenceState::kUnsynchronized;
  // The maximum error is around the model's centre, (low + high) / 2 (metrics.hpp); with an
  // unknown sd there is no centre, and then no bound either.
  const bool centred = std::isfinite(r.bound_low) && std::isfinite(r.bound_high);
  s.offset = centred ? (r.bound_low + r.bound_high) / 2 : 0;
  s.max_error = centred ? r.max_error : INFINITY;
  for (std::size_t i = 0; i < scenario.servers.size(); ++i) {
    s.selected.push_back(EvidenceSource{"server" + std::to_string(i), "ntp,simulated"});
  }
  return s;
}

Result<void> write_evidence(const std::string& dir, const Scenario& scenario, const std::vector<Record>& records) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("--evidence: cannot create " + dir + ": " + ec.message());
  if (auto existing = list_evidence_files(dir); existing && !existing->empty()) {
    return fail("--evidence " + dir + " already holds evidence files: give an empty or new directory");
  }
  const std::int64_t epoch_ms = scenario_epoch(scenario) * 1000;
  EvidenceLogOptions options;
  options.dir = dir;
  options.version = "kairos-sim";
  auto log = EvidenceLog::open(options, epoch_ms);
  if (!log) return std::unexpected(log.error());
  for (const Record& r : records) {
    const EvidenceSnapshot s = evidence_snapshot(scenario, r);
    (*log)->record(epoch_ms + static_cast<std::int64_t>(std::llround(r.time * 1000)), std::span(&s, 1));
    if ((*log)->pending() > 1000 && !(*log)->flush()) return fail("cannot write the evidence log in " + dir);
  }
  if (!(*log)->flush()) return fail("cannot write the evidence log in " + dir);
  return {};
}

}  // namespace kairos::sim
