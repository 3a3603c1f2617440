#pragma once
// Where one clock's time stands on another's: a PHC against the system clock, learned from
// cross-timestamps, so that NIC hardware stamps (PHC time) can be used as system-clock stamps
// without steering the PHC (chrony's hardware timestamping works this way). A line is fitted
// through the recent differences (PHC minus system) against the model's time axis; it carries
// the PHC's own frequency error and the system clock's, whichever of the two drifts.
//
// The system clock is being steered meanwhile: each of our own frequency changes and steps is
// a known control input, applied to the stored points as if the new setting had always been in
// force, so that a frequency change does not bend the line. A foreign step or a PHC reset voids
// the points (forget). Pure: no clock is read here.
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace kairos {

class TimescaleMap {
 public:
  // Points kept: 8 one-second cross-timestamps. Fewer average less of a reading's noise, more
  // bend with the oscillators' wander: in clknetsim's hardware scenario (100 ns PHC readout
  // jitter, 1 ppb/s random walk) 64 gave 52 ns rms, 16 gave 13.9 ns, 8 gave 11.8 ns, 4 11.2 ns;
  // 8 keeps some averaging for PHCs read less well than clknetsim's.
  explicit TimescaleMap(std::size_t capacity = 8) : capacity_(capacity < 2 ? 2 : capacity) {}

  // A cross-timestamp at model time t: PHC minus system = offset, with its own sd.
  void add(double t, double offset, double sd);
  // The system clock's frequency went up by df (fractional) at t, and/or it was stepped forward
  // by `step` seconds (our own steering).
  void on_system_change(double t, double df, double step);
  void forget();
  std::size_t size() const { return points_.size(); }

  struct Estimate {
    double offset = 0;  // PHC minus system (s)
    double sd = 0;      // of that estimate
  };
  // PHC minus system at t as it was then (a sample dated in the past, an interleaved one, was
  // stamped before the changes made since): the fitted line, less the control inputs after t.
  // Nothing with fewer than 2 points, or far outside the span the points cover (more than the
  // span itself past either end).
  std::optional<Estimate> at(double t) const;
  // The model times at() answers for, [first, last]; nothing while it answers for none.
  std::optional<std::pair<double, double>> coverage() const;

 private:
  struct Point {
    double t;
    double offset;
    double sd;
  };
  struct Change {
    double t;
    double df;
    double step;
  };
  std::size_t capacity_;
  std::deque<Point> points_;
  std::deque<Change> changes_;  // since the oldest time at() may be asked for
};

}  // namespace kairos
