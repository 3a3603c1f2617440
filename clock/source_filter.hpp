#pragma once
// Per-source treatment of measurements before the model sees them. The key fact (RFC 5905 §8):
// the true offset lies within ±delay/2 of the measured one, and queueing only ever adds delay.
// A measurement whose delay is close to the path's minimum has little room for error; one that
// sat in a queue has a lot. So each measurement's variance comes from its excess delay over the
// minimum seen recently: if the extra delay e splits between the two directions at random, the
// error is spread over ±e/2 (variance e²/12). Delay spikes are not thrown away, they just weigh
// nothing.
#include <cstddef>
#include <deque>
#include <optional>

#include "clock/measurement.hpp"

namespace kairos {

struct Observation {
  double time = 0;
  double offset = 0;    // our clock minus the reference (the model's sign)
  double variance = 0;  // of `offset`
  double distance = 0;  // half-width of the interval that must contain the truth (s)
  Leap leap = Leap::kNone;
  std::optional<int> tai_utc;  // Measurement::tai_utc
};

class SourceFilter {
 public:
  // Delays remembered for the minimum. Long on purpose: when a path gets longer, the old minimum
  // only makes variances too large (safe); when it gets shorter, the new minimum counts at once.
  static constexpr std::size_t kWindow = 256;
  // Below this many delays their spread does not yet say how far their minimum is from the path's.
  static constexpr std::size_t kFewDelays = 8;

  // nullopt for measurements that cannot be right (negative delay, NaN).
  std::optional<Observation> add(const Measurement& m);
  double min_delay() const;
  std::size_t samples() const { return delays_.size(); }

 private:
  std::deque<double> delays_;
};

}  // namespace kairos
