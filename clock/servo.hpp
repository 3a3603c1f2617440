#pragma once
// What drives a clock from measurements. kairos has one real implementation (Discipline: the
// Kalman model with selection and steering policy); the simulator adds a baseline (a PI servo
// like linuxptp's) behind the same seam, so a benchmark can show what the model buys.
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "clock/measurement.hpp"

namespace kairos {

// The model's claim about the true time: true time minus the clock's reading, as a centre and
// two figures around it (both infinite when nothing is known):
// - sd, the estimate error: the model's statistics, right while its assumptions hold;
// - max_error, the maximum error: half-width of the interval the true time is in whatever the
//   path's asymmetry or the oscillator did, as long as the upstream servers are within the root
//   distance they announce and the frequency error stays within the model's k sd plus the
//   configured worst drift (Discipline::error says how it is built).
struct ClockError {
  double offset = 0;
  double sd = std::numeric_limits<double>::infinity();
  double max_error = std::numeric_limits<double>::infinity();
  double low(double sigmas) const { return offset - sigmas * sd; }
  double high(double sigmas) const { return offset + sigmas * sd; }
};

struct SourceOptions {
  std::string name;
  bool trusted = false;
  bool required = false;
  // chrony's prefer: while a preferred source is a truechimer, only preferred sources steer.
  bool preferred = false;
  // chrony's noselect: measured and shown, never a candidate in selection (it does not vote).
  bool noselect = false;
  // This source's own max-distance (s), instead of the clock's (DisciplineOptions::max_distance).
  std::optional<double> max_distance = std::nullopt;
  // A calibrated path: (one-way delay out - one-way delay back) / 2, the part of every measured
  // offset the path itself adds; subtracted from each measurement.
  double asymmetry = 0;
  // What is left of the asymmetry after that correction, as a fraction of half the round trip:
  // 1 assumes nothing (any split of the delay between the two directions).
  double max_asymmetry = 1.0;
  // An NTS-authenticated source: together they guard the guarded ones (agreement_guard.hpp).
  bool authenticated = false;
  // An unauthenticated precise source (a refclock; PTP later): selectable only while it agrees
  // with the authenticated sources, when there are any.
  bool guarded = false;
  // ... and never selectable before they have confirmed it once.
  bool require_agreement = false;
};

class ClockServo {
 public:
  // Our own corrections, reported so that followers can account for them.
  using SteerListener = std::function<void(double time, double frequency_change, double step)>;

  virtual ~ClockServo() = default;

  virtual std::size_t add_source(SourceOptions options) = 0;
  // A measurement from `source`; `now` (same time axis as m.time) is when it is processed.
  virtual void on_measurement(std::size_t source, const Measurement& m, double now) = 0;
  // Call at next_timer() (calling early does nothing).
  virtual void on_timer(double now) = 0;
  virtual std::optional<double> next_timer() const = 0;
  // Somebody else stepped our clock by an unknown amount.
  virtual void on_clock_stepped(double now) = 0;
  // The reference is another of our clocks and we just changed it.
  virtual void on_reference_frequency_change(double time, double delta) = 0;
  virtual void on_reference_step(double time, double delta) = 0;
  virtual void set_steer_listener(SteerListener listener) = 0;
  // For a follower: the leader's own error, added to this clock's.
  virtual void set_reference_error(std::function<ClockError(double time)> reference_error) = 0;

  virtual ClockError error(double time) const = 0;
  virtual bool synchronized() const = 0;
};

}  // namespace kairos
