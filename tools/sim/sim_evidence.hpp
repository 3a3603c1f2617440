#pragma once
// kairos-sim --evidence DIR: a run's evidence log, written by kairosd's own writer
// (daemon/evidence_log.hpp) from the simulator's records, so `kairosctl report` can be checked
// against the simulator's truth. One clock, "system", one reading per second of true time, stamped
// with the true time (the simulator knows it; kairosd stamps with the clock's reading).
#include <cstdint>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/evidence_log.hpp"
#include "metrics.hpp"
#include "scenario.hpp"

namespace kairos::sim {

// The evidence log's view of one second: offset = the model's centre (true time minus the clock's
// reading), maximum error = the record's.
EvidenceSnapshot evidence_snapshot(const Scenario& scenario, const Record& record);

// Writes every record into `dir` (made if missing; it must hold no evidence files yet).
Result<void> write_evidence(const std::string& dir, const Scenario& scenario, const std::vector<Record>& records);

}  // namespace kairos::sim
