#include "clock/selection.hpp"

#include <algorithm>
#include <cmath>

namespace kairos {
namespace {

struct Interval {
  double low = 0;
  double high = 0;
};

struct Region {
  std::size_t count = 0;  // how many intervals contain every point of [low, high]
  double low = 0;
  double high = 0;
};

bool usable(const Candidate& c) {
  // LI = 3 means the source has no time to offer (RFC 5905 §7.3); a NaN or reversed interval
  // claims nothing.
  if (c.leap == Leap::kUnsynchronized) return false;
  if (std::isnan(c.low) || std::isnan(c.high)) return false;
  return c.low <= c.high;
}

// Width of [low, high]; a single point is 0 even at infinity, where high - low would be NaN.
double width(double low, double high) { return low == high ? 0.0 : high - low; }

// The widest connected region covered by the most intervals (the lowest on a tie), by a sweep
// over the sorted endpoints (RFC 5905 §11.2.1). Endpoints are inclusive. `intervals` is not
// empty.
Region densest_region(const std::vector<Interval>& intervals) {
  struct Endpoint {
    double value;
    bool is_low;
  };
  std::vector<Endpoint> ends;
  ends.reserve(intervals.size() * 2);
  for (const Interval& i : intervals) {
    ends.push_back({i.low, true});
    ends.push_back({i.high, false});
  }
  // At equal values, lows first: an interval ending where another begins still shares that
  // point with it.
  std::sort(ends.begin(), ends.end(), [](const Endpoint& a, const Endpoint& b) {
    if (a.value != b.value) return a.value < b.value;
    return a.is_low && !b.is_low;
  });

  // For each distinct endpoint value: the count at the point itself and on the open stretch up
  // to the next value. Any interval over that stretch also holds both of its ends, so the
  // stretch never counts more than its ends: the maximum is reached at an endpoint.
  struct Point {
    double value;
    std::size_t at;
    std::size_t after;
  };
  std::vector<Point> points;
  std::size_t open = 0;
  for (std::size_t k = 0; k < ends.size();) {
    const double v = ends[k].value;
    for (; k < ends.size() && ends[k].value == v && ends[k].is_low; ++k) ++open;
    const std::size_t at = open;
    for (; k < ends.size() && ends[k].value == v; ++k) --open;
    points.push_back({v, at, open});
  }

  std::size_t best = 0;
  for (const Point& p : points) best = std::max(best, p.at);

  // A stretch that counts `best` has the same intervals as both its ends (it cannot have more,
  // and every one of its intervals holds them), so a connected run of such points and stretches
  // is contained by one and the same group.
  Region region{best, 0, 0};
  bool found = false;
  for (std::size_t k = 0; k < points.size(); ++k) {
    if (points[k].at != best) continue;
    const std::size_t first = k;
    while (k + 1 < points.size() && points[k].after == best) ++k;
    const double w = width(points[first].value, points[k].value);
    if (!found || w > width(region.low, region.high)) {
      region.low = points[first].value;
      region.high = points[k].value;
      found = true;
    }
  }
  return region;
}

// The intersection of the trusted candidates' intervals, if there are any and they agree.
std::optional<Interval> trusted_agreement(const std::vector<Candidate>& candidates,
                                          const std::vector<std::size_t>& usable_indexes) {
  std::optional<Interval> common;
  for (std::size_t i : usable_indexes) {
    const Candidate& c = candidates[i];
    if (!c.trusted) continue;
    if (!common) {
      common = Interval{c.low, c.high};
    } else {
      common->low = std::max(common->low, c.low);
      common->high = std::min(common->high, c.high);
    }
  }
  if (common && common->low > common->high) return std::nullopt;
  return common;
}

// The region of the largest group within `bounds`: intervals are clipped to it and those
// outside it left out, so every point looked at lies in `bounds`.
std::optional<Region> densest_region_within(const std::vector<Candidate>& candidates,
                                            const std::vector<std::size_t>& usable_indexes,
                                            Interval bounds) {
  std::vector<Interval> clipped;
  for (std::size_t i : usable_indexes) {
    const Interval c{std::max(candidates[i].low, bounds.low), std::min(candidates[i].high, bounds.high)};
    if (c.low <= c.high) clipped.push_back(c);
  }
  if (clipped.empty()) return std::nullopt;
  return densest_region(clipped);
}

Leap leap_vote(const std::vector<Candidate>& candidates, const std::vector<std::size_t>& voters) {
  std::size_t insert = 0;
  std::size_t remove = 0;
  for (std::size_t i : voters) {
    if (candidates[i].leap == Leap::kInsert) ++insert;
    if (candidates[i].leap == Leap::kDelete) ++remove;
  }
  if (insert * 2 > voters.size()) return Leap::kInsert;
  if (remove * 2 > voters.size()) return Leap::kDelete;
  return Leap::kNone;
}

}  // namespace

const char* to_string(SelectionStatus status) {
  switch (status) {
    case SelectionStatus::kSelected: return "selected";
    case SelectionStatus::kNoSources: return "no-sources";
    case SelectionStatus::kNoMajority: return "no-majority";
    case SelectionStatus::kNoRequiredSource: return "no-required-source";
  }
  return "unknown";
}

Selection select_truechimers(const std::vector<Candidate>& candidates, std::size_t min_sources) {
  Selection out;
  std::vector<std::size_t> usable_indexes;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (usable(candidates[i])) usable_indexes.push_back(i);
  }
  const std::size_t n = usable_indexes.size();
  if (n == 0 || n < min_sources) {
    out.status = SelectionStatus::kNoSources;
    return out;
  }

  // Agreeing trusted candidates bound the search, so the group holds all of them; their
  // intersection holds at least their own intervals, so a region is always found there.
  std::optional<Region> region;
  bool trusted_group = false;
  if (auto bounds = trusted_agreement(candidates, usable_indexes)) {
    region = densest_region_within(candidates, usable_indexes, *bounds);
    trusted_group = region.has_value();
  }
  if (!region) {
    std::vector<Interval> all;
    for (std::size_t i : usable_indexes) all.push_back({candidates[i].low, candidates[i].high});
    region = densest_region(all);
  }

  if (!trusted_group && region->count * 2 <= n) {
    out.status = SelectionStatus::kNoMajority;
    return out;
  }

  out.low = region->low;
  out.high = region->high;
  for (std::size_t i : usable_indexes) {
    const bool holds_region = candidates[i].low <= region->low && candidates[i].high >= region->high;
    (holds_region ? out.truechimers : out.falsetickers).push_back(i);
  }
  out.leap = leap_vote(candidates, out.truechimers);
  // chrony's prefer: a preferred truechimer is taken over the others, which still voted above.
  for (std::size_t i : out.truechimers) {
    if (candidates[i].preferred) out.combined.push_back(i);
  }
  if (out.combined.empty()) out.combined = out.truechimers;

  const bool any_required =
      std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.required; });
  const bool required_truechimer = std::any_of(out.truechimers.begin(), out.truechimers.end(),
                                               [&](std::size_t i) { return candidates[i].required; });
  out.status = any_required && !required_truechimer ? SelectionStatus::kNoRequiredSource
                                                     : SelectionStatus::kSelected;
  return out;
}

}  // namespace kairos
