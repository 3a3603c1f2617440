#include "daemon/evidence_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

namespace kairos {
namespace {

struct Reading {
  std::int64_t unix_ms = 0;
  std::int64_t interval_ms = 1000;
  EvidenceState state = EvidenceState::kUnsynchronized;
  std::int64_t offset_ns = 0;
  std::optional<std::int64_t> max_error_ns;
};

// One covered stretch of a clock's time: a reading and what it stands for.
struct Segment {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  const Reading* reading = nullptr;
};

std::int64_t day_of(std::int64_t unix_ms) {
  std::int64_t s = unix_ms / 1000;
  if (unix_ms % 1000 < 0) --s;
  return utc_day_start(s);
}

// Adds [from, to) to a list of spans, joining it to the last one when they touch.
void add_span(std::vector<EvidenceSpan>& spans, std::int64_t from, std::int64_t to) {
  if (to <= from) return;
  if (!spans.empty() && spans.back().to_ms == from) {
    spans.back().to_ms = to;
  } else {
    spans.push_back(EvidenceSpan{from, to});
  }
}

constexpr std::int64_t kMaxDays = 3660;

std::int64_t tier_ns(double tier) { return static_cast<std::int64_t>(std::llround(tier * 1e9)); }

}  // namespace

bool within_tier(std::int64_t offset_ns, const std::optional<std::int64_t>& max_error_ns, double tier) {
  if (!max_error_ns) return false;
  // Both are at most 100 years of ns (evidence_record.cpp), so the sum cannot overflow.
  const std::int64_t magnitude = offset_ns < 0 ? -offset_ns : offset_ns;
  return magnitude + *max_error_ns <= tier_ns(tier);
}

EvidenceReport build_evidence_report(const EvidenceSet& set, const EvidenceReportOptions& options) {
  EvidenceReport report;
  report.tiers = options.tiers;
  report.files = set.files.size();
  report.lines = set.lines;
  report.breaks = set.breaks;

  // Every clock's readings and lines in log order; the range defaults to the whole log.
  std::vector<std::string> clock_order;
  std::map<std::string, std::vector<Reading>> readings;
  std::map<std::string, std::vector<const EvidenceEntry*>> others;
  std::int64_t first = std::numeric_limits<std::int64_t>::max(), last = std::numeric_limits<std::int64_t>::min();
  for (const EvidenceFileScan& file : set.files) {
    for (const EvidenceEntry& entry : file.entries) {
      if (std::holds_alternative<EvidenceHeader>(entry.line)) continue;
      first = std::min(first, entry.unix_ms);
      last = std::max(last, entry.unix_ms + entry.interval_ms);
      if (entry.clock.empty()) {
        others[""].push_back(&entry);
        continue;
      }
      if (!readings.contains(entry.clock)) {
        clock_order.push_back(entry.clock);
        readings[entry.clock];
      }
      if (const auto* r = std::get_if<EvidenceReading>(&entry.line)) {
        readings[entry.clock].push_back(
            Reading{entry.unix_ms, entry.interval_ms, r->state, r->offset_ns, r->max_error_ns});
      } else {
        others[entry.clock].push_back(&entry);
      }
    }
  }
  report.from_ms = options.from_ms;
  report.to_ms = options.to_ms;
  if (report.to_ms <= report.from_ms) {
    report.from_ms = first <= last ? first : 0;
    report.to_ms = first <= last ? last : 0;
  }
  // At most ten years a report: a log whose times are wildly off (a clock set to 2090) cannot make
  // it build a ClockDay for every day in between.
  report.to_ms = std::min(report.to_ms, (day_of(report.from_ms) + kMaxDays * 86400) * 1000);
  const std::int64_t from = report.from_ms, to = report.to_ms;
  auto in_range = [&](std::int64_t ms) { return ms >= from && ms < to; };

  for (const EvidenceEntry* entry : others[""]) {
    if (!in_range(entry->unix_ms)) continue;
    if (const auto* g = std::get_if<EvidenceGap>(&entry->line)) {
      EvidenceGap gap = *g;
      gap.t = entry->unix_ms;
      report.gaps.push_back(gap);
    } else if (const auto* b = std::get_if<EvidenceStart>(&entry->line)) {
      EvidenceStart start = *b;
      start.t = entry->unix_ms;
      report.starts.push_back(start);
    }
  }

  for (const std::string& clock : clock_order) {
    std::vector<Reading>& list = readings[clock];
    std::stable_sort(list.begin(), list.end(), [](const Reading& a, const Reading& b) { return a.unix_ms < b.unix_ms; });
    // What each reading stands for: until the next one, unless that is more than 1.5 intervals
    // away (then one interval: the rest is a gap).
    std::vector<Segment> segments;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Reading& r = list[i];
      std::int64_t end = r.unix_ms + r.interval_ms;
      if (i + 1 < list.size()) {
        const std::int64_t next = list[i + 1].unix_ms;
        if (next - r.unix_ms <= r.interval_ms * 3 / 2) end = next;
        end = std::min(end, next);
      }
      const std::int64_t a = std::max(r.unix_ms, from), b = std::min(end, to);
      if (a < b) segments.push_back(Segment{a, b, &r});
    }

    // One ClockDay per UTC day in the range.
    const std::size_t first_day = report.days.size();
    for (std::int64_t day = day_of(from); day * 1000 < to; day += 86400) {
      ClockDay d;
      d.clock = clock;
      d.day_start = day;
      d.period_ms = std::min(to, (day + 86400) * 1000) - std::max(from, day * 1000);
      for (double tier : options.tiers) d.tiers.push_back(TierShare{.tier = tier, .within_ms = 0, .breaches = {}});
      report.days.push_back(std::move(d));
    }
    auto day_index = [&](std::int64_t ms) { return first_day + static_cast<std::size_t>((day_of(ms) - day_of(from)) / 86400); };

    std::int64_t covered_to = from;  // the end of what the segments so far cover
    auto unrecorded = [&](std::int64_t a, std::int64_t b) {
      // Split at midnights, so each day lists its own.
      while (a < b) {
        const std::int64_t cut = std::min(b, (day_of(a) + 86400) * 1000);
        add_span(report.days[day_index(a)].unrecorded, a, cut);
        a = cut;
      }
    };
    for (const Segment& s : segments) {
      if (s.from_ms > covered_to) unrecorded(covered_to, s.from_ms);
      covered_to = std::max(covered_to, s.to_ms);
      // The reading's own extremes count for the day it was taken on.
      if (in_range(s.reading->unix_ms)) {
        ClockDay& d = report.days[day_index(s.reading->unix_ms)];
        ++d.readings;
        if (const auto& bound = s.reading->max_error_ns) {
          const std::int64_t divergence = std::llabs(s.reading->offset_ns) + *bound;
          if (!d.worst_max_error_ns || *bound > *d.worst_max_error_ns) {
            d.worst_max_error_ns = *bound;
            d.worst_max_error_ms = s.reading->unix_ms;
          }
          if (!d.worst_divergence_ns || divergence > *d.worst_divergence_ns) {
            d.worst_divergence_ns = divergence;
            d.worst_divergence_ms = s.reading->unix_ms;
          }
        }
      }
      for (std::int64_t a = s.from_ms; a < s.to_ms;) {
        const std::int64_t b = std::min(s.to_ms, (day_of(a) + 86400) * 1000);
        ClockDay& d = report.days[day_index(a)];
        d.recorded_ms += b - a;
        if (!s.reading->max_error_ns) d.unbounded_ms += b - a;
        if (s.reading->state != EvidenceState::kSynchronized) add_span(d.unsynchronized, a, b);
        for (TierShare& share : d.tiers) {
          if (within_tier(s.reading->offset_ns, s.reading->max_error_ns, share.tier)) {
            share.within_ms += b - a;
          } else {
            add_span(share.breaches, a, b);
          }
        }
        a = b;
      }
    }
    if (covered_to < to) unrecorded(covered_to, to);

    // Source changes, events and the traceability chain, from the clock's other lines. A set of
    // sources is in use from its line to the clock's next one (the last: to the end of its records).
    std::optional<std::vector<EvidenceSource>> previous;
    std::vector<const EvidenceEntry*> source_lines;
    for (const EvidenceEntry* entry : others[clock]) {
      if (const auto* s = std::get_if<EvidenceSources>(&entry->line)) {
        source_lines.push_back(entry);
        const bool changed = previous && *previous != s->sources;
        previous = s->sources;
        if (changed && in_range(entry->unix_ms)) {
          report.days[day_index(entry->unix_ms)].source_changes.push_back({entry->unix_ms, s->sources});
        }
      } else if (const auto* e = std::get_if<EvidenceEvent>(&entry->line)) {
        if (in_range(entry->unix_ms)) {
          report.days[day_index(entry->unix_ms)].events.push_back({entry->unix_ms, e->kind, e->detail});
        }
      }
    }
    const std::int64_t records_end = segments.empty() ? from : segments.back().to_ms;
    for (std::size_t i = 0; i < source_lines.size(); ++i) {
      const auto& sources = std::get<EvidenceSources>(source_lines[i]->line).sources;
      const std::int64_t a = std::max(from, source_lines[i]->unix_ms);
      const std::int64_t b = std::min(to, i + 1 < source_lines.size() ? source_lines[i + 1]->unix_ms : records_end);
      if (a >= b && !in_range(source_lines[i]->unix_ms)) continue;
      auto known = std::find_if(report.traceability.begin(), report.traceability.end(),
                                [&](const Traceability& t) { return t.clock == clock && t.sources == sources; });
      if (known == report.traceability.end()) {
        report.traceability.push_back(Traceability{clock, sources, a, std::max(a, b)});
      } else {
        known->first_ms = std::min(known->first_ms, a);
        known->last_ms = std::max(known->last_ms, std::max(a, b));
      }
    }
  }
  return report;
}

}  // namespace kairos
