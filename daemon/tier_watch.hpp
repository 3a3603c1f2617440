#pragma once
// The tiers of `[evidence] tiers` watched live (issue 25): a clock is within a tier while
// |offset| + maximum error <= tier, judged on the maximum error, never on the estimate (the same
// rule as the evidence report, daemon/evidence_report.hpp). Leaving a tier is a breach: logged as
// a warning, counted, and shown in status and metrics; coming back is logged too. A clock that
// has not yet been within a tier (the start) is outside it without a breach being counted.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace kairos {

// A clock leaving or re-entering a tier, for whoever pages operators (journald: below).
struct TierEvent {
  std::string clock;
  double tier = 0;
  bool within = false;       // false: a breach
  double divergence = 0;     // |offset| + maximum error (s; infinite when unknown)
  std::uint64_t breaches = 0;
};

// journald message ids (as `journalctl MESSAGE_ID=...` and alerting rules select them): one for a
// breach, one for the return within the tier. Fixed for good: operators' rules name them.
inline constexpr const char* kTierBreachMessageId = "5b2f8e6c0d7a4e3b9f1c2a4d6e8b0c1f";
inline constexpr const char* kTierWithinMessageId = "5b2f8e6c0d7a4e3b9f1c2a4d6e8b0c20";
// Sends the event to the journal with its message id and fields KAIROS_CLOCK, KAIROS_TIER,
// KAIROS_DIVERGENCE, KAIROS_BREACHES (kairosd does so with [logging] target = "journald").
void journal_tier_event(const TierEvent& event);

struct TierState {
  double tier = 0;              // s
  bool within = false;
  std::uint64_t breaches = 0;   // times the clock left the tier
};

class TierWatch {
 public:
  explicit TierWatch(std::vector<double> tiers) : tiers_(std::move(tiers)) {}
  // Called on every breach and return, besides the log line.
  void on_event(std::function<void(const TierEvent&)> notify) { notify_ = std::move(notify); }

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
  std::function<void(const TierEvent&)> notify_;
};

// "100 µs", "1 ms", "50 ms", "1.5 s": a tier as people name it.
std::string tier_text(double tier);

}  // namespace kairos
