#pragma once
// Runs a scenario: simulated oscillators, network and servers around kairosd's own association
// core (daemon/source_core), NTP and NTS exchanges, model and steering code; the engine is the
// core's shell on simulated time, as daemon/association.cpp is on the event loop. Deterministic
// for a seed.
#include <cstdint>
#include <functional>
#include <string>

#include "metrics.hpp"
#include "scenario.hpp"

namespace kairos::sim {

enum class Servo {
  kKalman,  // kairos' clock model
  kPi,      // the baseline: a PI servo like linuxptp's
};

struct RunOptions {
  std::uint64_t seed = 1;
  double duration = 0;  // 0: the scenario's
  Servo servo = Servo::kKalman;
};

// The unix time (UTC) a run of `scenario` starts at: 2027-01-01, or so that its leap second ends
// that day. Record::time is seconds after it.
std::int64_t scenario_epoch(const Scenario& scenario);

// Calls on_second once per second of true time, in order.
void run(const Scenario& scenario, const RunOptions& options, const std::function<void(const Record&)>& on_second);

}  // namespace kairos::sim
