#pragma once
// What one simulated run measured. The engine reports one Record per second of true time; the
// Metrics summarise them after the settling time.
#include <cstddef>
#include <string>
#include <vector>

namespace kairos::sim {

struct Record {
  double time = 0;        // true time (s)
  double offset = 0;      // output clock minus true time (s) (system clock)
  double freq_error = 0;  // output clock's rate error (fractional)
  double bound_low = 0;   // the model's claim: true time - clock reading is within [low, high]
  double bound_high = 0;
  double phc_offset = 0;  // PHC minus true time; 0 without a PHC
  bool synchronized = false;
};

struct Metrics {
  double rms_offset = 0;
  double max_offset = 0;
  double mean_offset = 0;
  double sd_offset = 0;
  double rms_freq_error = 0;
  double time_to_sync = 0;       // last time |offset| > 1 ms, from the start
  double bound_coverage = 0;     // fraction of seconds with low <= -offset <= high
  double bound_median_width = 0;
  double rms_phc_offset = 0;     // 0 without a PHC
  std::size_t seconds = 0;       // records after settling
};

Metrics summarize(const std::vector<Record>& records, double settle);

std::string to_json(const Metrics& metrics, const std::string& scenario, unsigned long long seed);

}  // namespace kairos::sim
