#pragma once
// The tiers of `[evidence] tiers` watched live (issue 25): a clock is within a tier while
// |offset| + maximum error <= tier, judged on the maximum error, never on the estimate (the same
// rule as the evidence report, daemon/evidence_report.hpp). Leaving a tier is a breach: logged as
// a warning, counted, and shown in status and metrics; coming back is logged too. A clock that
// has not yet been within a tier (the start) is outside it without a breach being counted.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kairos {

struct TierState {
  double tier = 0;              // s
  bool within = false;
  std::uint64_t breaches = 0;   // times the clock left the tier
};

class TierWatch {
 public:
  explicit TierWatch(std::vector<double> tiers) : tiers_(std::move(tiers)) {}

  // One look at a clock; logs what changed. max_error is infinite when unknown.
  void update(const std::string& clock, double offset, double max_error);
  // The clock's tiers, in the configured order (all outside before its first update).
  std::vector<TierState> states(const std::string& clock) const;
  const std::vector<double>& tiers() const { return tiers_; }

 private:
  struct Watched {
    std::vector<TierState> states;
    std::vector<bool> ever_within;
  };
  std::vector<double> tiers_;
  std::map<std::string, Watched> clocks_;
};

// "100 µs", "1 ms", "50 ms", "1.5 s": a tier as people name it.
std::string tier_text(double tier);

}  // namespace kairos
