// Placeholder until the engine lands: a clock that is always right, so the shell can be built.
#include "engine.hpp"

namespace kairos::sim {

void run(const Scenario& scenario, const RunOptions& options, const std::function<void(const Record&)>& on_second) {
  const double duration = options.duration > 0 ? options.duration : scenario.duration;
  for (double t = 0; t < duration; t += 1.0) on_second(Record{.time = t, .bound_low = -1e-6, .bound_high = 1e-6, .synchronized = true});
}

}  // namespace kairos::sim
