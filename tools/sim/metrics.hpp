#pragma once
// What one simulated run measured. The engine reports one Record per second of true time; the
// Metrics summarise them after the settling time.
#include <cstddef>
#include <cstdint>
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
  // The maximum error: true time - clock reading is within max_error of the model's centre,
  // (bound_low + bound_high) / 2; infinite when nothing vouches for a bound.
  double max_error = 0;
  double phc_offset = 0;  // PHC minus true time; 0 without a PHC
  bool synchronized = false;
  // What the association core did so far, summed over the sources (counts since the start).
  std::uint64_t samples = 0;
  std::uint64_t naks = 0;           // NTS NAKs
  std::uint64_t nts_ke_ok = 0;      // NTS-KEs that gave keys and cookies
  std::uint64_t nts_ke_failed = 0;  // NTS-KEs that failed (server unreachable, refused)
  std::uint64_t kisses = 0;         // RATE, DENY and RSTR kisses
};

struct Metrics {
  double rms_offset = 0;
  double max_offset = 0;   // largest |offset|
  double mean_offset = 0;
  double sd_offset = 0;
  double rms_freq_error = 0;
  // The first second after which |offset| and the maximum error both stay within 1 ms for the
  // rest of the run: the true time of the last record outside, plus the 1 s that record stands
  // for; 0 when it never was outside. Taken over all records, settling included.
  double time_to_sync = 0;
  // Fraction of seconds with finite low <= -offset <= high (4 sd), from the first synchronized
  // second on (and after settling), like the maximum error's below.
  double bound_coverage = 0;
  double bound_median_width = 0;
  // Fraction of seconds whose true time is inside a finite maximum error: an unbounded second
  // is never covered, and is counted on its own. Both from the first synchronized second on
  // (and after settling): before it the clock claims nothing, which time_to_sync measures.
  double max_error_coverage = 0;
  double max_error_median = 0;   // median half-width of the maximum error (bounded seconds)
  std::size_t unbounded = 0;     // seconds with an infinite maximum error
  double rms_phc_offset = 0;     // 0 without a PHC
  std::size_t seconds = 0;       // records after settling
  // The association's counters over the whole run (settling included), from the last record.
  double samples = 0;
  double naks = 0;
  double nts_ke = 0;         // NTS-KE attempts, ok or failed
  double nts_ke_failed = 0;
  double kisses = 0;
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
