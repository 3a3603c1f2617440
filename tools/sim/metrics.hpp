#pragma once
// What one simulated run measured. The engine reports one Record per second of true time; the
// Metrics summarise them after the settling time.
#include <cstddef>
#include <span>
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
  double max_offset = 0;   // largest |offset|
  double mean_offset = 0;
  double sd_offset = 0;
  double rms_freq_error = 0;
  // The first second after which |offset| stays within 1 ms for the rest of the run: the true
  // time of the last record with |offset| > 1 ms, plus the 1 s that record stands for; 0 when
  // the offset never left 1 ms. Taken over all records, settling included.
  double time_to_sync = 0;
  double bound_coverage = 0;     // fraction of seconds with low <= -offset <= high
  double bound_median_width = 0;
  double rms_phc_offset = 0;     // 0 without a PHC
  std::size_t seconds = 0;       // records after settling
};

Metrics summarize(const std::vector<Record>& records, double settle);

// Field by field mean of several runs (seeds) of one scenario.
Metrics average(std::span<const Metrics> runs);

// How wide the bound is against the error it bounds: median width / rms offset (infinite when
// the offset is exactly 0 and the bound is not).
double bound_width_ratio(const Metrics& metrics);

// One JSON object: every Metrics field plus "scenario" and "seed", numbers in seconds (rates
// fractional).
std::string to_json(const Metrics& metrics, const std::string& scenario, unsigned long long seed);

}  // namespace kairos::sim
