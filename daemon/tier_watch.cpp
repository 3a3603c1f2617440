#include "daemon/tier_watch.hpp"

#include <syslog.h>
#include <systemd/sd-journal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "daemon/evidence_record.hpp"
#include "daemon/evidence_report.hpp"

namespace kairos {

std::string tier_text(double tier) {
  if (tier >= 1) return fmt::format("{:g} s", tier);
  if (tier >= 1e-3) return fmt::format("{:g} ms", tier * 1e3);
  if (tier >= 1e-6) return fmt::format("{:g} µs", tier * 1e6);
  return fmt::format("{:g} ns", tier * 1e9);
}

void TierWatch::update(const std::string& clock, double offset, double max_error) {
  auto [found, added] = clocks_.try_emplace(clock);
  Watched& w = found->second;
  if (added) {
    for (double tier : tiers_) w.states.push_back(TierState{.tier = tier, .within = false, .breaches = 0});
    w.ever_within.assign(tiers_.size(), false);
  }
  // The evidence log's rounding, so that the log, the report and this never disagree.
  const std::int64_t offset_ns = offset_to_ns(offset);
  const auto bound_ns = max_error_to_ns(max_error);
  const double divergence = std::abs(offset) + max_error;
  for (std::size_t i = 0; i < tiers_.size(); ++i) {
    TierState& s = w.states[i];
    const bool within = within_tier(offset_ns, bound_ns, s.tier);
    if (within == s.within) continue;
    s.within = within;
    if (within) {
      spdlog::info("{}: within the {} tier again (|offset| + maximum error {:.9f} s)", clock, tier_text(s.tier),
                   divergence);
      // A return counts for the pager only after a breach (not the first entry at start).
      if (notify_ && s.breaches > 0) notify_(TierEvent{clock, s.tier, true, divergence, s.breaches});
      w.ever_within[i] = true;
    } else if (w.ever_within[i]) {
      ++s.breaches;
      spdlog::warn("{}: tier breach: outside the {} tier (|offset| + maximum error {}), breach {} since start", clock,
                   tier_text(s.tier), std::isfinite(divergence) ? fmt::format("{:.9f} s", divergence) : "unknown",
                   s.breaches);
      if (notify_) notify_(TierEvent{clock, s.tier, false, divergence, s.breaches});
    }
  }
}

std::vector<TierState> TierWatch::states(const std::string& clock) const {
  if (auto found = clocks_.find(clock); found != clocks_.end()) return found->second.states;
  std::vector<TierState> out;
  for (double tier : tiers_) out.push_back(TierState{.tier = tier, .within = false, .breaches = 0});
  return out;
}

void journal_tier_event(const TierEvent& e) {
  const std::string text = e.within ? fmt::format("{}: within the {} tier again", e.clock, tier_text(e.tier))
                                    : fmt::format("{}: tier breach: outside the {} tier", e.clock, tier_text(e.tier));
  sd_journal_send("MESSAGE=%s", text.c_str(), "MESSAGE_ID=%s", e.within ? kTierWithinMessageId : kTierBreachMessageId,
                  "PRIORITY=%d", e.within ? LOG_NOTICE : LOG_WARNING, "SYSLOG_IDENTIFIER=kairosd", "KAIROS_CLOCK=%s",
                  e.clock.c_str(), "KAIROS_TIER=%.9f", e.tier, "KAIROS_DIVERGENCE=%.9f", e.divergence,
                  "KAIROS_BREACHES=%llu", static_cast<unsigned long long>(e.breaches), nullptr);
}

}  // namespace kairos
