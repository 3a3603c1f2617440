#pragma once
// Which sources tell the truth (RFC 5905 §11.2.1, Marzullo's intersection): each source offers
// an interval that must contain the true offset of our clock; the largest set of sources whose
// intervals share a common point, if it is a majority, are truechimers; the others falsetickers.
//
// The exact rules of select_truechimers:
// - Not candidates at all (neither truechimer nor falseticker, not counted for the majority):
//   entries with leap == kUnsynchronized (LI = 3: the source has no time), and intervals with a
//   NaN end or low > high. The usable entries are "the candidates" below; n is their number.
// - n == 0 or n < min_sources: kNoSources, both lists empty.
// - Group: sweep the sorted endpoints (a point counts the intervals that contain it, ends
//   inclusive, so touching intervals agree) for the largest count. The region is the widest
//   connected stretch where the count is that largest (a single point has width 0); on a tie,
//   the lowest. The truechimers are the candidates whose interval contains the region, and
//   [low, high] is the region; every other candidate is a falseticker.
// - Trusted: if the trusted candidates agree with each other (their intervals share a point),
//   the sweep only looks inside the intersection of their intervals, so the group is the
//   largest one that holds every trusted candidate, even if a larger untrusted group agrees
//   elsewhere (a lone trusted source beats two agreeing untrusted ones). Such a group needs no
//   majority. If the trusted candidates disagree with each other, trust says nothing about
//   which of them to believe: the plain rules apply, majority included.
// - Majority: otherwise the group must be more than half of n (1 of 1, 2 of 3, 3 of 5; not
//   1 of 2, not 2 of 4), else kNoMajority with both lists empty.
// - Required: if any entry is required (an unusable one too, so a required source that lost
//   its time still blocks) and no truechimer is, kNoRequiredSource; lists, region and leap are
//   filled in as computed so a caller can log who disagreed.
// - Leap: kInsert or kDelete if more than half of the truechimers announce it, else kNone.
// - Preferred (chrony's prefer): the combined list is the preferred truechimers if any truechimer
//   is preferred, else every truechimer. Only the combined sources steer the clock; the others
//   voted in the selection all the same (a preferred source is no truechimer by itself).
// - Index lists are ascending; the result depends only on the input (no state, no IO).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "clock/leap.hpp"

namespace kairos {

struct Candidate {
  // Interval (seconds) that contains the reference minus our clock, e.g. offset ± root distance.
  double low = 0;
  double high = 0;
  bool trusted = false;   // `trust`: a trusted source is never a falseticker, and alone may win
  bool required = false;  // `require`: no selection at all unless a required source is a truechimer
  bool preferred = false; // `prefer`: when a truechimer, it steers and the others only vote
  Leap leap = Leap::kNone;
};

enum class SelectionStatus {
  kSelected,
  kNoSources,        // nothing to choose from
  kNoMajority,       // the largest agreeing group is not more than half of the sources
  kNoRequiredSource, // agreement, but no required source in it
};
const char* to_string(SelectionStatus status);

struct Selection {
  SelectionStatus status = SelectionStatus::kNoSources;
  std::vector<std::size_t> truechimers;   // indexes into the candidates, ascending
  std::vector<std::size_t> falsetickers;  // the rest, ascending
  // The truechimers that steer: the preferred ones if any truechimer is preferred, else all.
  std::vector<std::size_t> combined;
  double low = 0;   // intersection of the truechimers' intervals
  double high = 0;
  // The leap announced by more than half of the truechimers, else kNone.
  Leap leap = Leap::kNone;
};

// min_sources: fewer candidates than this select nothing (kNoSources); 1 lets a lone source win.
Selection select_truechimers(const std::vector<Candidate>& candidates, std::size_t min_sources = 1);

}  // namespace kairos
