#include "clock/kalman_clock.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>

namespace kairos {
namespace {

// Candidate noise levels, a decade apart: from a good crystal in a quiet room (random walk of
// 3e-10 per sqrt(s)) to a cheap one next to a fan that starts and stops (1e-7). The floor is
// deliberate: quieter levels would let a lucky stretch of measurements talk the model into a
// frequency it then trusts for hours; an oven-controlled oscillator just gets a bound a little
// wider than it deserves.
constexpr double kWhiteFm[] = {1e-24, 1e-21, 1e-18, 1e-15};
constexpr double kRandomWalk[] = {1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14};

}  // namespace

KalmanClock::KalmanClock(Options options) : options_(options) {
  for (double white : kWhiteFm) {
    for (double walk : kRandomWalk) {
      filters_.push_back(Filter{.noise = {.white_fm = white, .random_walk = walk},
                                .x = Eigen::Vector2d::Zero(),
                                .p = Eigen::Matrix2d::Zero()});
    }
  }
}

void KalmanClock::initialize(double time, double offset, double variance, double frequency,
                             double frequency_variance) {
  if (frequency_variance < 0) frequency_variance = options_.initial_frequency_sd * options_.initial_frequency_sd;
  for (Filter& f : filters_) {
    f.x << offset, frequency;
    f.p << variance, 0, 0, frequency_variance;
    f.log_likelihood = 0;
  }
  time_ = time;
  initialized_ = true;
  corrections_.clear();
  horizon_ = -std::numeric_limits<double>::infinity();
}

void KalmanClock::forget_offset(double variance, std::optional<double> since) {
  for (Filter& f : filters_) {
    f.p(0, 0) = variance;
    f.p(0, 1) = f.p(1, 0) = 0;
  }
  horizon_ = std::max(horizon_, since.value_or(time_));
}

Eigen::Matrix2d KalmanClock::process_noise(const OscillatorNoise& noise, double dt) {
  // Integrated white FM is a phase random walk; integrated random-walk FM gives the familiar
  // dt^3/3, dt^2/2, dt covariance of phase and frequency.
  Eigen::Matrix2d q;
  q << noise.white_fm * dt + noise.random_walk * dt * dt * dt / 3, noise.random_walk * dt * dt / 2,
      noise.random_walk * dt * dt / 2, noise.random_walk * dt;
  return q;
}

void KalmanClock::predict(double time) {
  if (!initialized_ || time <= time_) return;
  const double dt = time - time_;
  Eigen::Matrix2d transition;
  transition << 1, dt, 0, 1;
  for (Filter& f : filters_) {
    f.x = transition * f.x;
    f.p = transition * f.p * transition.transpose() + process_noise(f.noise, dt);
  }
  time_ = time;
}

std::optional<KalmanClock::Relation> KalmanClock::relation(double time) const {
  if (time < horizon_) return std::nullopt;
  Relation r;
  if (time > time_) return r;  // predicted to first
  r.lag = time_ - time;
  // o(then) = o(now) - f·lag + Σ δ·(t_c - then) - Σ s: each rate change δ made at t_c added
  // δ·(now - t_c) to the offset since, while f·lag counts it over the whole lag; each step
  // moved the offset by s.
  for (auto c = corrections_.rbegin(); c != corrections_.rend() && c->time >= time; ++c) {
    r.known += c->frequency * (c->time - time) - c->step;
  }
  return r;
}

std::optional<double> KalmanClock::offset_at(double time) const {
  if (!initialized_) return std::nullopt;
  if (time > time_) return estimate_at(time).offset;
  const std::optional<Relation> r = relation(time);
  if (!r) return std::nullopt;
  const KalmanEstimate now = estimate();
  return now.offset - now.frequency * r->lag + r->known;
}

UpdateResult KalmanClock::update(double measured_offset, double variance) {
  return update_with(Relation{}, measured_offset, variance);
}

UpdateResult KalmanClock::update_at(double time, double measured_offset, double variance) {
  predict(time);
  const std::optional<Relation> r = relation(time);
  if (!r) return UpdateResult::kTooOld;
  return update_with(*r, measured_offset, variance);
}

UpdateResult KalmanClock::update_with(const Relation& r, double measured_offset, double variance) {
  const Eigen::RowVector2d h(1.0, -r.lag);
  // The approximation for the lag: the oscillator's noise between then and now, h·Q(lag)·hᵀ, is
  // added to the measurement's variance as if it were independent of the state now. It is not
  // (the exact retrodiction of Bar-Shalom's out-of-sequence update keeps the cross terms), but
  // over one poll it is tiny next to the timestamp noise, and leaving out the correlation only
  // makes the update a little more cautious, never overconfident.
  auto lag_noise = [&](const Filter& f) {
    return r.lag > 0 ? (h * process_noise(f.noise, r.lag) * h.transpose())(0, 0) : 0.0;
  };

  const KalmanEstimate prior = estimate();
  Eigen::Matrix2d prior_p;
  prior_p << prior.offset_variance, prior.covariance, prior.covariance, prior.frequency_variance;
  const double chosen_s = (h * prior_p * h.transpose())(0, 0) + variance + lag_noise(best());
  const double chosen_innovation = measured_offset - (prior.offset - prior.frequency * r.lag + r.known);
  last_nis_ = chosen_innovation / std::sqrt(chosen_s);
  // An innovation too large to be noise is not used, but it is not forgotten either: it says the
  // offset is less known than the variance claims (a step the model missed, by the oscillator or
  // the source), so the variance grows by it and the estimate error widens until measurements
  // agree again; a run of them is the caller's to act on. (Widening the frequency's variance on a
  // run of large accepted innovations was tried: thermal-2ppm got worse, rms 11.8 -> 14-16.5 us,
  // 4 sd coverage 99.5 -> 97-98 %; the bank's random-walk levels follow such steps better.)
  if (std::abs(last_nis_) > options_.outlier_sigmas) {
    for (Filter& f : filters_) f.p(0, 0) += chosen_innovation * chosen_innovation;
    return UpdateResult::kOutlier;
  }

  const double forget = 1.0 - 1.0 / options_.memory;
  for (Filter& f : filters_) {
    const double v = variance + lag_noise(f);
    const Eigen::Vector2d ph = f.p * h.transpose();
    const double s = h.dot(ph) + v;
    const double innovation = measured_offset - (h.dot(f.x) + r.known);
    const Eigen::Vector2d gain = ph / s;
    f.x += gain * innovation;
    // Joseph form: stays symmetric and positive with variances 20 decades apart.
    const Eigen::Matrix2d i_kh = Eigen::Matrix2d::Identity() - gain * h;
    f.p = i_kh * f.p * i_kh.transpose() + gain * v * gain.transpose();
    f.log_likelihood = forget * f.log_likelihood - 0.5 * (std::log(s) + innovation * innovation / s);
  }
  return UpdateResult::kAccepted;
}

void KalmanClock::apply_frequency_change(double delta) {
  for (Filter& f : filters_) f.x(1) += delta;
  log(Correction{.time = time_, .frequency = delta});
}

void KalmanClock::apply_step(double delta) {
  for (Filter& f : filters_) f.x(0) += delta;
  log(Correction{.time = time_, .step = delta});
}

void KalmanClock::log(Correction correction) {
  corrections_.push_back(correction);
  while (corrections_.size() > options_.correction_log) {
    // A measurement taken at or before the dropped correction would need it.
    horizon_ = std::max(horizon_, std::nextafter(corrections_.front().time, std::numeric_limits<double>::infinity()));
    corrections_.pop_front();
  }
}

const KalmanClock::Filter& KalmanClock::best() const {
  return *std::max_element(filters_.begin(), filters_.end(),
                           [](const Filter& a, const Filter& b) { return a.log_likelihood < b.log_likelihood; });
}

KalmanEstimate KalmanClock::mix(const std::vector<Eigen::Vector2d>& xs, const std::vector<Eigen::Matrix2d>& ps,
                                double time) const {
  // Bayesian model averaging: each filter weighs by its recent likelihood, and the spread of
  // their estimates adds to the covariance, so an uncertain choice of noise level shows in the
  // bound instead of being hidden by picking one.
  double top = -std::numeric_limits<double>::infinity();
  for (const Filter& f : filters_) top = std::max(top, f.log_likelihood);
  std::vector<double> w(filters_.size());
  double total = 0;
  for (std::size_t i = 0; i < filters_.size(); ++i) total += w[i] = std::exp(filters_[i].log_likelihood - top);
  Eigen::Vector2d x = Eigen::Vector2d::Zero();
  for (std::size_t i = 0; i < filters_.size(); ++i) x += (w[i] / total) * xs[i];
  Eigen::Matrix2d p = Eigen::Matrix2d::Zero();
  for (std::size_t i = 0; i < filters_.size(); ++i) {
    const Eigen::Vector2d d = xs[i] - x;
    p += (w[i] / total) * (ps[i] + d * d.transpose());
  }
  const Filter& b = best();
  return KalmanEstimate{.time = time,
                        .offset = x(0),
                        .frequency = x(1),
                        .offset_variance = p(0, 0),
                        .frequency_variance = p(1, 1),
                        .covariance = p(0, 1),
                        .noise = b.noise};
}

KalmanEstimate KalmanClock::estimate() const {
  std::vector<Eigen::Vector2d> xs;
  std::vector<Eigen::Matrix2d> ps;
  for (const Filter& f : filters_) {
    xs.push_back(f.x);
    ps.push_back(f.p);
  }
  return mix(xs, ps, time_);
}

KalmanEstimate KalmanClock::estimate_at(double time) const {
  const double dt = time - time_;
  if (!initialized_ || dt <= 0) return estimate();
  Eigen::Matrix2d transition;
  transition << 1, dt, 0, 1;
  std::vector<Eigen::Vector2d> xs;
  std::vector<Eigen::Matrix2d> ps;
  for (const Filter& f : filters_) {
    xs.push_back(transition * f.x);
    ps.push_back(transition * f.p * transition.transpose() + process_noise(f.noise, dt));
  }
  return mix(xs, ps, time);
}

}  // namespace kairos
