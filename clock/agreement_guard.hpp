#pragma once
// NTS guards an unauthenticated precise source (a PHC another daemon steers; a PTP master later):
// such a source is precise but anyone who wins its network's election, or owns its grandmaster,
// moves it. The NTS-authenticated sources cannot be moved that way, only less precisely measured.
// So the guarded source is selectable only while its interval (offset ± its own bound) meets the
// interval the authenticated sources give together (their intersection: Marzullo's, as in
// selection.hpp). Pure: intervals in, a verdict out; the Discipline holds one guard per guarded
// source and the daemon logs and shows what it says.
//
// The rules:
// - Authority: the authenticated candidates' agreeing group (select_truechimers with a majority
//   of them); its region [low, high] is where they put the truth. None (no authenticated
//   sources with a usable sample, or no majority among them): no authority.
// - With an authority: the guarded interval meets it → agrees (usable, and confirmed from then
//   on); else disagrees (not usable; the alarm state), by `disagreement` = guarded centre minus
//   the authority's centre.
// - Without one: as without NTS at all (usable), unless require_agreement and the source was
//   never confirmed → unconfirmed (not usable). Once confirmed, a lost authority does not lock
//   the source out again: without NTS there is nothing to check it against (kairos.toml(5)).
#include <cstddef>
#include <optional>
#include <vector>

#include "clock/selection.hpp"

namespace kairos {

struct Interval {
  double low = 0;
  double high = 0;
  double centre() const { return (low + high) / 2; }
};

// Where the authenticated candidates put the truth; nullopt without a majority among them.
std::optional<Interval> authenticated_interval(const std::vector<Candidate>& authenticated);

enum class GuardState {
  kNoAuthority,  // no authenticated time to compare with: used as without NTS
  kUnconfirmed,  // require-agreement and never confirmed: not used
  kAgrees,       // within the authenticated interval: used
  kDisagrees,    // outside it: not used (the alarm)
};
const char* to_string(GuardState state);

class AgreementGuard {
 public:
  explicit AgreementGuard(bool require_agreement = false) : require_agreement_(require_agreement) {}

  // Checks the guarded source's interval against the authority (nullopt: none); true when it
  // may be selected.
  bool check(Interval guarded, std::optional<Interval> authority);

  GuardState state() const { return state_; }
  bool usable() const { return state_ == GuardState::kNoAuthority || state_ == GuardState::kAgrees; }
  bool alarm() const { return state_ == GuardState::kDisagrees; }
  bool confirmed() const { return confirmed_; }
  // Guarded centre minus the authority's centre at the last check with an authority (s).
  std::optional<double> disagreement() const { return disagreement_; }
  // Times it went from anything else into disagreement.
  std::size_t episodes() const { return episodes_; }

 private:
  bool require_agreement_;
  bool confirmed_ = false;
  GuardState state_ = GuardState::kNoAuthority;
  std::optional<double> disagreement_;
  std::size_t episodes_ = 0;
};

}  // namespace kairos
