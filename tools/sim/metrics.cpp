#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace kairos::sim {
namespace {

constexpr double kSyncedWithin = 1e-3;  // "synchronized" for time_to_sync: within 1 ms

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

double time_to_sync(const std::vector<Record>& records) {
  double last_out = -1;
  for (const Record& r : records) {
    if (!(std::abs(r.offset) <= kSyncedWithin) || !(r.max_error < kSyncedWithin)) last_out = r.time;
  }
  return last_out < 0 ? 0 : last_out + 1;
}

}  // namespace

Metrics summarize(const std::vector<Record>& records, double settle) {
  Metrics m;
  m.time_to_sync = time_to_sync(records);
  double sum = 0, sum_squares = 0, freq_squares = 0, phc_squares = 0;
  std::size_t covered = 0, max_covered = 0, bound_seconds = 0;
  std::vector<double> widths, max_errors;
  bool synced = false;
  for (const Record& r : records) {
    synced = synced || r.synchronized;
    if (r.time < settle) continue;
    ++m.seconds;
    sum += r.offset;
    sum_squares += r.offset * r.offset;
    m.max_offset = std::max(m.max_offset, std::abs(r.offset));
    freq_squares += r.freq_error * r.freq_error;
    phc_squares += r.phc_offset * r.phc_offset;
    // The bound is on true time minus the clock reading, which is -offset.
    widths.push_back(r.bound_high - r.bound_low);
    // Both bounds are judged from the first synchronized second on: before it the clock says it
    // knows nothing, and time_to_sync tells how long that lasted. An infinite bound claims
    // nothing, so it never covers.
    if (!synced) continue;
    ++bound_seconds;
    if (std::isfinite(r.bound_high - r.bound_low) && r.bound_low <= -r.offset && -r.offset <= r.bound_high) ++covered;
    if (!std::isfinite(r.max_error)) {
      ++m.unbounded;
    } else {
      const double centre = (r.bound_low + r.bound_high) / 2;
      if (std::abs(-r.offset - centre) <= r.max_error) ++max_covered;
      max_errors.push_back(r.max_error);
    }
  }
  if (!records.empty()) {
    const Record& last = records.back();
    m.samples = static_cast<double>(last.samples);
    m.naks = static_cast<double>(last.naks);
    m.nts_ke = static_cast<double>(last.nts_ke_ok + last.nts_ke_failed);
    m.nts_ke_failed = static_cast<double>(last.nts_ke_failed);
    m.kisses = static_cast<double>(last.kisses);
  }
  if (m.seconds == 0) return m;
  const auto n = static_cast<double>(m.seconds);
  m.mean_offset = sum / n;
  m.rms_offset = std::sqrt(sum_squares / n);
  // Population deviation around the mean: the part of the error that is not a constant bias.
  // A second pass, since sum_squares/n - mean^2 cancels badly when a bias dwarfs the noise.
  double deviation_squares = 0;
  for (const Record& r : records) {
    if (r.time >= settle) deviation_squares += (r.offset - m.mean_offset) * (r.offset - m.mean_offset);
  }
  m.sd_offset = std::sqrt(deviation_squares / n);
  m.rms_freq_error = std::sqrt(freq_squares / n);
  m.rms_phc_offset = std::sqrt(phc_squares / n);
  m.bound_coverage = bound_seconds ? static_cast<double>(covered) / static_cast<double>(bound_seconds) : 0;
  m.bound_median_width = median(std::move(widths));
  m.max_error_coverage = bound_seconds ? static_cast<double>(max_covered) / static_cast<double>(bound_seconds) : 0;
  m.max_error_median = max_errors.empty() ? std::numeric_limits<double>::infinity() : median(std::move(max_errors));
  return m;
}

Metrics average(std::span<const Metrics> runs) {
  Metrics m;
  if (runs.empty()) return m;
  double seconds = 0, unbounded = 0;
  for (const Metrics& r : runs) {
    m.rms_offset += r.rms_offset;
    m.max_offset += r.max_offset;
    m.mean_offset += r.mean_offset;
    m.sd_offset += r.sd_offset;
    m.rms_freq_error += r.rms_freq_error;
    m.time_to_sync += r.time_to_sync;
    m.bound_coverage += r.bound_coverage;
    m.bound_median_width += r.bound_median_width;
    m.rms_phc_offset += r.rms_phc_offset;
    m.max_error_coverage += r.max_error_coverage;
    m.max_error_median += r.max_error_median;
    m.samples += r.samples;
    m.naks += r.naks;
    m.nts_ke += r.nts_ke;
    m.nts_ke_failed += r.nts_ke_failed;
    m.kisses += r.kisses;
    unbounded += static_cast<double>(r.unbounded);
    seconds += static_cast<double>(r.seconds);
  }
  const auto n = static_cast<double>(runs.size());
  for (double* field : {&m.rms_offset, &m.max_offset, &m.mean_offset, &m.sd_offset, &m.rms_freq_error, &m.time_to_sync,
                        &m.bound_coverage, &m.bound_median_width, &m.rms_phc_offset, &m.max_error_coverage,
                        &m.max_error_median, &m.samples, &m.naks, &m.nts_ke, &m.nts_ke_failed, &m.kisses}) {
    *field /= n;
  }
  m.seconds = static_cast<std::size_t>(std::llround(seconds / n));
  // Summed, not averaged: one unbounded second in any run must show.
  m.unbounded = static_cast<std::size_t>(unbounded);
  return m;
}

double bound_width_ratio(const Metrics& metrics) {
  if (metrics.rms_offset > 0) return metrics.bound_median_width / metrics.rms_offset;
  return metrics.bound_median_width > 0 ? std::numeric_limits<double>::infinity() : 0;
}

std::string to_json(const Metrics& metrics, const std::string& scenario, unsigned long long seed) {
  nlohmann::ordered_json out;
  out["scenario"] = scenario;
  out["seed"] = seed;
  out["seconds"] = metrics.seconds;
  out["rms_offset"] = metrics.rms_offset;
  out["max_offset"] = metrics.max_offset;
  out["mean_offset"] = metrics.mean_offset;
  out["sd_offset"] = metrics.sd_offset;
  out["rms_freq_error"] = metrics.rms_freq_error;
  out["time_to_sync"] = metrics.time_to_sync;
  out["bound_coverage"] = metrics.bound_coverage;
  out["bound_median_width"] = metrics.bound_median_width;
  out["rms_phc_offset"] = metrics.rms_phc_offset;
  out["max_error_coverage"] = metrics.max_error_coverage;
  // JSON has no infinity: no bounded second gives null.
  if (std::isfinite(metrics.max_error_median)) {
    out["max_error_median"] = metrics.max_error_median;
  } else {
    out["max_error_median"] = nullptr;
  }
  out["unbounded_seconds"] = metrics.unbounded;
  out["samples"] = metrics.samples;
  out["naks"] = metrics.naks;
  out["nts_ke"] = metrics.nts_ke;
  out["nts_ke_failed"] = metrics.nts_ke_failed;
  out["kisses"] = metrics.kisses;
  return out.dump(2);
}

}  // namespace kairos::sim
