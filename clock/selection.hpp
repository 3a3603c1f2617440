#pragma once
// Which sources tell the truth (RFC 5905 §11.2.1, Marzullo's intersection): each source offers
// an interval that must contain the true offset of our clock; the largest set of sources whose
// intervals share a common point, if it is a majority, are truechimers; the others falsetickers.
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
  double low = 0;   // intersection of the truechimers' intervals
  double high = 0;
  // The leap announced by more than half of the truechimers, else kNone.
  Leap leap = Leap::kNone;
};

// min_sources: fewer candidates than this select nothing (kNoSources); 1 lets a lone source win.
Selection select_truechimers(const std::vector<Candidate>& candidates, std::size_t min_sources = 1);

}  // namespace kairos
