#pragma once
// The compliance report over an evidence log (kairosctl report): per clock and UTC day, the share
// of time each tier held, judged on the maximum error, never on the estimate.
//
// A clock is within a tier while |offset| + maximum error <= tier: the true time was inside the
// interval the clock vouched for, and that interval, seen from the clock's reading, is that wide
// (the offset is the model's estimate of true time minus the reading; README "The two error
// figures"). A record stands for the time until the next record of its clock, at most 1.5
// intervals (a late timer is not a gap); time without a record, and time with an unknown bound,
// is never within. Pure: the log's parsed files in, numbers out.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/evidence_reader.hpp"

namespace kairos {

struct EvidenceReportOptions {
  std::int64_t from_ms = 0;  // [from, to) in unix ms; to <= from: everything in the log
  std::int64_t to_ms = 0;
  std::vector<double> tiers{100e-6, 1e-3};  // seconds
};

struct EvidenceSpan {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
};

struct TierShare {
  double tier = 0;             // s
  std::int64_t within_ms = 0;  // time within the tier
  std::vector<EvidenceSpan> breaches;  // recorded time outside it (unknown bound included), merged
};

struct TimedSources {
  std::int64_t unix_ms = 0;
  std::vector<EvidenceSource> sources;
};

struct TimedEvent {
  std::int64_t unix_ms = 0;
  std::string kind;
  std::string detail;
};

struct ClockDay {
  std::string clock;
  std::int64_t day_start = 0;  // unix s
  std::int64_t period_ms = 0;  // the part of the day inside the report's range
  std::int64_t recorded_ms = 0;
  std::int64_t unbounded_ms = 0;  // recorded with an unknown maximum error
  std::size_t readings = 0;
  std::vector<TierShare> tiers;
  // The largest maximum error and |offset| + maximum error recorded, and when (finite ones).
  std::optional<std::int64_t> worst_max_error_ns;
  std::int64_t worst_max_error_ms = 0;
  std::optional<std::int64_t> worst_divergence_ns;
  std::int64_t worst_divergence_ms = 0;
  std::vector<EvidenceSpan> unsynchronized;  // recorded in a state other than synchronized
  std::vector<EvidenceSpan> unrecorded;      // no record at all
  std::vector<TimedSources> source_changes;  // the selected sources changed
  std::vector<TimedEvent> events;            // steps, state changes, leap seconds, foreign steps
};

// The sources a clock's time came from over the range: every set of selected sources seen,
// with their authentication, when first and last in use.
struct Traceability {
  std::string clock;
  std::vector<EvidenceSource> sources;
  std::int64_t first_ms = 0;
  std::int64_t last_ms = 0;
};

struct EvidenceReport {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::vector<double> tiers;
  std::vector<ClockDay> days;  // by clock (in order of first appearance), then day
  std::vector<Traceability> traceability;
  std::vector<EvidenceGap> gaps;      // records lost while writing failed (G), times in unix ms
  std::vector<EvidenceStart> starts;  // writer (re)starts (B); t in unix ms
  // The hash chain.
  std::size_t files = 0;
  std::size_t lines = 0;
  std::vector<ChainBreak> breaks;
};

EvidenceReport build_evidence_report(const EvidenceSet& set, const EvidenceReportOptions& options);

// A clock is within `tier` (s) for a reading with this offset and maximum error (ns).
bool within_tier(std::int64_t offset_ns, const std::optional<std::int64_t>& max_error_ns, double tier);

}  // namespace kairos
