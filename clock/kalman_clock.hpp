#pragma once
// The estimate of one clock against its reference: offset and frequency with their covariance,
// a two-state Kalman filter. The oscillator's noise is not configured but learned: a small bank
// of filters, one per candidate noise level (white and random-walk frequency noise), runs side by
// side, and the one whose predictions best explained the measurements so far (highest recent
// likelihood of its innovations) gives the estimate. All filters see the same measurements and
// the same control inputs, so switching between them is seamless.
//
// Units: seconds and seconds per second. `offset` is this clock minus the reference (positive:
// we are ahead); `frequency` is the rate of change of that offset (positive: we run fast).
//
// Measurements from the past (an interleaved NTP sample describes the exchange one poll ago)
// are used as such: the state now, x = [o, f], and our own corrections since the measurement was
// taken determine the offset then,
//   o(t) = o(now) - f·(now - t) + Σ δ·(t_c - t) - Σ s
// over the frequency changes δ (at t_c) and steps s made at or after t. So a delayed measurement
// is an update with H = [1, -(now - t)] plus that known constant, taken from a short log of the
// corrections. A measurement older than what the log or an unknown step lets us translate is
// refused.
#include <cstddef>
#include <deque>
#include <limits>
#include <optional>
#include <vector>

#include <Eigen/Core>

namespace kairos {

struct OscillatorNoise {
  double white_fm = 0;     // phase random walk, s^2 per s
  double random_walk = 0;  // frequency random walk, (s/s)^2 per s
};

struct KalmanEstimate {
  double time = 0;       // the model's time axis (s) this estimate is for
  double offset = 0;
  double frequency = 0;
  double offset_variance = 0;
  double frequency_variance = 0;
  double covariance = 0;  // of offset and frequency
  OscillatorNoise noise;  // the noise level the estimate assumes
};

enum class UpdateResult {
  kAccepted,
  // Innovation too large to be noise: not used for the estimate, but the offset's variance grows
  // by it, so the model admits it may be wrong (the caller decides what persistence means).
  kOutlier,
  kTooOld,   // taken before corrections the model no longer remembers, or before an unknown step
};

class KalmanClock {
 public:
  struct Options {
    double initial_frequency_sd = 1e-3;  // what we know about the frequency before any sample
    double outlier_sigmas = 6.0;         // innovations beyond this many sd are outliers
    double memory = 256;                 // samples over which the noise likelihoods are compared
    std::size_t correction_log = 64;     // own corrections remembered for delayed measurements
  };

  explicit KalmanClock(Options options);
  KalmanClock() : KalmanClock(Options{}) {}

  bool initialized() const { return initialized_; }
  // Starts from one measurement of the offset, its variance and a prior frequency.
  void initialize(double time, double offset, double variance, double frequency = 0,
                  double frequency_variance = -1);
  // Forgets the offset (an unknown step happened, after `since`); keeps the frequency. Measurements
  // taken before `since` (default: the current time) are refused from now on: they describe a
  // clock that is not this one.
  void forget_offset(double variance, std::optional<double> since = std::nullopt);

  // Advances every filter to `time` (never backwards).
  void predict(double time);
  // One measurement of the offset at the current time, after the corrections made so far
  // (call predict first).
  UpdateResult update(double measured_offset, double variance);
  // One measurement of the offset taken at `time`: a later time is predicted to first, an
  // earlier one is related to the current state through the corrections made since. A
  // measurement is taken before any correction logged at the same time (it had to be read
  // before it could be acted on).
  UpdateResult update_at(double time, double measured_offset, double variance);
  // What the model now says the offset was at `time` (the prediction update_at compares a
  // measurement with); nullopt when update_at would refuse a measurement from then.
  std::optional<double> offset_at(double time) const;
  // Our own corrections, known exactly: the clock's rate changed by `delta` (s/s) / the clock
  // was stepped by `delta` seconds. Call predict(time of the change) first.
  void apply_frequency_change(double delta);
  void apply_step(double delta);

  KalmanEstimate estimate() const;
  // The estimate carried forward to a later time without changing the filter (holdover).
  KalmanEstimate estimate_at(double time) const;
  // Normalised innovation of the last update (innovation / its predicted sd), for diagnostics.
  double last_normalized_innovation() const { return last_nis_; }

 private:
  struct Filter {
    OscillatorNoise noise;
    Eigen::Vector2d x;
    Eigen::Matrix2d p;
    double log_likelihood = 0;  // exponentially forgotten sum of innovation log-likelihoods
  };

  struct Correction {
    double time = 0;
    double frequency = 0;  // rate change (s/s)
    double step = 0;       // step (s)
  };
  // A measurement at `time` seen from the current state: H = [1, -lag] and the known part.
  struct Relation {
    double lag = 0;
    double known = 0;
  };

  // nullopt when `time` is before the horizon.
  std::optional<Relation> relation(double time) const;
  UpdateResult update_with(const Relation& r, double measured_offset, double variance);
  void log(Correction correction);
  const Filter& best() const;
  KalmanEstimate mix(const std::vector<Eigen::Vector2d>& xs, const std::vector<Eigen::Matrix2d>& ps, double time) const;
  static Eigen::Matrix2d process_noise(const OscillatorNoise& noise, double dt);

  Options options_;
  std::vector<Filter> filters_;
  std::deque<Correction> corrections_;  // oldest first, at most options_.correction_log
  // Measurements before this cannot be translated (a correction was dropped from the log, or an
  // unknown step happened).
  double horizon_ = -std::numeric_limits<double>::infinity();
  double time_ = 0;
  bool initialized_ = false;
  double last_nis_ = 0;
};

}  // namespace kairos
