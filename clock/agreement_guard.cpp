#include "clock/agreement_guard.hpp"

#include <algorithm>

namespace kairos {

const char* to_string(GuardState state) {
  switch (state) {
    case GuardState::kNoAuthority: return "no authenticated time";
    case GuardState::kUnconfirmed: return "unconfirmed";
    case GuardState::kAgrees: return "agrees";
    case GuardState::kDisagrees: return "disagrees";
  }
  return "?";
}

std::optional<Interval> authenticated_interval(const std::vector<Candidate>& authenticated) {
  std::vector<Candidate> plain = authenticated;
  // Only the authenticated sources' own majority speaks for them: trust, require and prefer
  // are about steering, not about what they say together.
  for (Candidate& c : plain) c.trusted = c.required = c.preferred = false;
  const Selection sel = select_truechimers(plain, 1);
  if (sel.status != SelectionStatus::kSelected) return std::nullopt;
  return Interval{.low = sel.low, .high = sel.high};
}

bool AgreementGuard::check(Interval guarded, std::optional<Interval> authority) {
  const GuardState before = state_;
  if (!authority) {
    state_ = require_agreement_ && !confirmed_ ? GuardState::kUnconfirmed : GuardState::kNoAuthority;
  } else {
    disagreement_ = guarded.centre() - authority->centre();
    // The two intervals meet: some true offset is within both claims.
    const bool meet = guarded.low <= authority->high && authority->low <= guarded.high;
    state_ = meet ? GuardState::kAgrees : GuardState::kDisagrees;
    if (meet) confirmed_ = true;
  }
  if (state_ == GuardState::kDisagrees && before != GuardState::kDisagrees) ++episodes_;
  return usable();
}

}  // namespace kairos
