#include "clock/kalman_clock.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>

namespace kairos {
namespace {

// A clock whose offset is a line (or, with `random_walk`, a line whose slope wanders) observed
// once per `interval` with Gaussian noise of sd `sigma`, fed to a KalmanClock.
struct Simulation {
  double offset = 0.004;
  double frequency = 25e-6;
  double sigma = 1e-4;
  double interval = 1;
  double random_walk = 0;  // frequency random walk, (s/s)^2 per s
  std::mt19937_64 rng;
  KalmanClock clock;
  double time = 0;

  explicit Simulation(std::uint64_t seed) : rng(seed) {}

  double noise(double sd) { return std::normal_distribution<double>(0, sd)(rng); }

  // Moves the truth and the filter on by one interval and measures.
  void step() {
    if (clock.initialized()) {
      // Exact integration of a random-walk frequency over one interval: the frequency's
      // increment and the offset's extra (integrated) part are correlated Gaussians with the
      // covariance q·[dt³/3, dt²/2; dt²/2, dt].
      const double dt = interval;
      const double q = random_walk;
      const double a = noise(1), b = noise(1);
      const double df = std::sqrt(q * dt) * a;
      const double dx = std::sqrt(q * dt * dt * dt) * (a / 2 + b / std::sqrt(12.0));
      offset += frequency * dt + dx;
      frequency += df;
      time += dt;
    }
    measure();
  }

  void measure() {
    const double z = offset + noise(sigma);
    if (!clock.initialized()) {
      clock.initialize(time, z, sigma * sigma);
      return;
    }
    clock.predict(time);
    (void)clock.update(z, sigma * sigma);
  }

  void run(std::size_t samples) {
    for (std::size_t i = 0; i < samples; ++i) step();
  }
};

// Least squares on N evenly spaced samples, evaluated at the last one: the best any estimator
// can do when the truth is an exact line (sd of offset and of slope, in units of sigma and of
// sigma per interval).
double line_end_sd(double n) { return std::sqrt((4 * n - 2) / (n * (n + 1))); }
double line_slope_sd(double n) { return std::sqrt(12 / (n * (n * n - 1))); }

// The noisiest level of the grid in kalman_clock.cpp (frequency random walk 1e-14 (s/s)²/s; its
// white FM of at most 1e-15 s²/s is negligible next to the measurement noise used here). In
// steady state a filter for x'' = white noise q observed with noise variance r per interval
// holds offset variance √2·r^¾·q^¼ and frequency variance √2·r^¼·q^¾ (continuous-time limit,
// good when the filter averages over many samples). The mixture is never less certain than its
// least certain member by more than the spread between members, which is of the same size:
// 1.5× that member's sd bounds the reported sd.
constexpr double kNoisiestRandomWalk = 1e-14;
double noisiest_offset_sd(double sigma) {
  return std::sqrt(std::sqrt(2.0) * std::pow(sigma * sigma, 0.75) * std::pow(kNoisiestRandomWalk, 0.25));
}
double noisiest_frequency_sd(double sigma) {
  return std::sqrt(std::sqrt(2.0) * std::pow(sigma * sigma, 0.25) * std::pow(kNoisiestRandomWalk, 0.75));
}

TEST(KalmanClock, ConstantOffsetAndFrequencyConverge) {
  Simulation sim(1);
  sim.run(200);
  const KalmanEstimate e = sim.clock.estimate();
  const double offset_sd = std::sqrt(e.offset_variance);
  const double frequency_sd = std::sqrt(e.frequency_variance);
  // The truth is a line, so no estimate can be better than least squares (the filters that
  // assume no oscillator noise are least squares, up to a negligible frequency prior).
  EXPECT_GT(offset_sd, 0.99 * sim.sigma * line_end_sd(200));
  EXPECT_GT(frequency_sd, 0.99 * sim.sigma * line_slope_sd(200));
  EXPECT_LT(offset_sd, 1.5 * noisiest_offset_sd(sim.sigma));
  EXPECT_LT(frequency_sd, 1.5 * noisiest_frequency_sd(sim.sigma));
  // Gaussian errors beyond 5 sd happen once in 1.7 million.
  EXPECT_NEAR(e.offset, sim.offset, 5 * offset_sd);
  EXPECT_NEAR(e.frequency, sim.frequency, 5 * frequency_sd);
  EXPECT_EQ(e.time, sim.time);
}

TEST(KalmanClock, ReportedVarianceShrinksWithSamples) {
  Simulation sim(2);
  double previous = std::numeric_limits<double>::infinity();
  std::size_t done = 0;
  // While there are fewer samples than the likelihood memory (256), every noise level still
  // fits the line by least squares and the variance falls like 4σ²/N.
  for (std::size_t n : {10u, 40u, 160u}) {
    sim.run(n - done);
    done = n;
    const double v = sim.clock.estimate().offset_variance;
    EXPECT_LT(v, previous) << n << " samples";
    EXPECT_GT(std::sqrt(v), 0.99 * sim.sigma * line_end_sd(static_cast<double>(n))) << n << " samples";
    previous = v;
  }
  // Beyond the memory, 256 samples of 100 µs noise cannot tell a perfect line from the grid's
  // noisier levels, so the mixture keeps them and the variance levels off at theirs instead of
  // shrinking like 1/N; it stays below the noisiest level's steady state.
  for (std::size_t n : {640u, 2560u}) {
    sim.run(n - done);
    done = n;
    const double sd = std::sqrt(sim.clock.estimate().offset_variance);
    EXPECT_LT(sd, 1.5 * noisiest_offset_sd(sim.sigma)) << n << " samples";
    EXPECT_GT(sd, 0.99 * sim.sigma * line_end_sd(static_cast<double>(n))) << n << " samples";
  }
}

struct Consistency {
  double offset_rms = 0;
  double frequency_rms = 0;
};

// Normalised estimation errors (error / reported sd) at the end of many independent runs: if
// the reported variance is honest their rms is 1. With 200 runs the rms itself scatters by
// about 1/sqrt(2·200) = 0.05, so [0.7, 1.4] fails only when the variance is wrong by a factor
// of about 2.
Consistency normalised_errors(double random_walk, double sigma, std::size_t samples) {
  double offset_sum = 0, frequency_sum = 0;
  constexpr int kRuns = 200;
  for (int run = 0; run < kRuns; ++run) {
    Simulation sim(1000 + static_cast<std::uint64_t>(run));
    std::uniform_real_distribution<double> offset(-0.01, 0.01), frequency(-50e-6, 50e-6);
    sim.offset = offset(sim.rng);
    sim.frequency = frequency(sim.rng);
    sim.sigma = sigma;
    sim.random_walk = random_walk;
    sim.run(samples);
    const KalmanEstimate e = sim.clock.estimate();
    const double zo = (e.offset - sim.offset) / std::sqrt(e.offset_variance);
    const double zf = (e.frequency - sim.frequency) / std::sqrt(e.frequency_variance);
    offset_sum += zo * zo;
    frequency_sum += zf * zf;
  }
  return Consistency{.offset_rms = std::sqrt(offset_sum / kRuns), .frequency_rms = std::sqrt(frequency_sum / kRuns)};
}

TEST(KalmanClock, ReportedVarianceIsConsistentForAWanderingClock) {
  // 1e-9/sqrt(s) of frequency wander against 100 ns of measurement noise: the wander shows
  // within ~10 samples, so the likelihoods find its level and the bound must be honest.
  const Consistency c = normalised_errors(1e-18, 1e-7, 1000);
  EXPECT_GT(c.offset_rms, 0.7);
  EXPECT_LT(c.offset_rms, 1.4);
  EXPECT_GT(c.frequency_rms, 0.7);
  EXPECT_LT(c.frequency_rms, 1.4);
}

TEST(KalmanClock, ReportedVarianceIsNeverOverconfidentForAStableClock) {
  // No wander at all, 10 µs noise, 1000 samples: the likelihoods cannot rule out the noisier
  // levels within their memory (see ReportedVarianceShrinksWithSamples), so the mixture is
  // conservative, most of all in frequency. It must never claim more than it knows (rms < 1.4),
  // and should not be uselessly wide either (reported sd under 10× the actual error).
  const Consistency c = normalised_errors(0, 1e-5, 1000);
  EXPECT_LT(c.offset_rms, 1.4);
  EXPECT_LT(c.frequency_rms, 1.4);
  EXPECT_GT(c.offset_rms, 0.7);
  EXPECT_GT(c.frequency_rms, 0.1);
}

TEST(KalmanClock, HoldoverMovesByFrequencyAndGrowsVariance) {
  Simulation sim(3);
  sim.run(100);
  const KalmanEstimate now = sim.clock.estimate();
  const double dt = 1000;
  const KalmanEstimate later = sim.clock.estimate_at(sim.time + dt);
  EXPECT_EQ(later.time, sim.time + dt);
  // Every filter moves along its own line and the weights do not change: the mixture moves by
  // its frequency times dt (to rounding).
  EXPECT_NEAR(later.offset, now.offset + now.frequency * dt, 1e-15);
  EXPECT_NEAR(later.frequency, now.frequency, 1e-18);
  // Propagating the covariance through x += f·dt is the least the variance grows by; the
  // oscillator noise adds to it.
  const double propagated = now.offset_variance + 2 * dt * now.covariance + dt * dt * now.frequency_variance;
  EXPECT_GE(later.offset_variance, propagated * (1 - 1e-12));
  EXPECT_GT(later.offset_variance, now.offset_variance);
  EXPECT_GT(sim.clock.estimate_at(sim.time + 2 * dt).offset_variance, later.offset_variance);
  // Looking ahead changes nothing.
  const KalmanEstimate again = sim.clock.estimate();
  EXPECT_EQ(again.offset, now.offset);
  EXPECT_EQ(again.offset_variance, now.offset_variance);
  EXPECT_EQ(again.time, now.time);
  // The past is not extrapolated backwards.
  EXPECT_EQ(sim.clock.estimate_at(sim.time - 10).offset, now.offset);
}

TEST(KalmanClock, PredictNeverGoesBackwards) {
  Simulation sim(4);
  sim.run(50);
  const KalmanEstimate before = sim.clock.estimate();
  sim.clock.predict(sim.time - 5);
  const KalmanEstimate after = sim.clock.estimate();
  EXPECT_EQ(after.time, before.time);
  EXPECT_EQ(after.offset, before.offset);
  EXPECT_EQ(after.offset_variance, before.offset_variance);
}

TEST(KalmanClock, StepShiftsTheOffsetExactly) {
  Simulation sim(5);
  sim.run(50);
  const KalmanEstimate before = sim.clock.estimate();
  sim.clock.apply_step(-0.5);
  const KalmanEstimate after = sim.clock.estimate();
  // A known correction: the offset moves by it, nothing else changes.
  EXPECT_NEAR(after.offset, before.offset - 0.5, 1e-15);
  EXPECT_NEAR(after.frequency, before.frequency, 1e-20);
  EXPECT_NEAR(after.offset_variance, before.offset_variance, 1e-12 * before.offset_variance);
  EXPECT_NEAR(after.frequency_variance, before.frequency_variance, 1e-12 * before.frequency_variance);
}

TEST(KalmanClock, FrequencyChangeShiftsTheFrequencyExactly) {
  Simulation sim(6);
  sim.run(50);
  const KalmanEstimate before = sim.clock.estimate();
  sim.clock.apply_frequency_change(-25e-6);
  const KalmanEstimate after = sim.clock.estimate();
  EXPECT_NEAR(after.frequency, before.frequency - 25e-6, 1e-18);
  EXPECT_NEAR(after.offset, before.offset, 1e-15);
  EXPECT_NEAR(after.offset_variance, before.offset_variance, 1e-12 * before.offset_variance);
  EXPECT_NEAR(after.frequency_variance, before.frequency_variance, 1e-12 * before.frequency_variance);
  // From now on the offset drifts at the new rate.
  const double dt = 10;
  EXPECT_NEAR(sim.clock.estimate_at(sim.time + dt).offset, after.offset + after.frequency * dt, 1e-15);
}

TEST(KalmanClock, HundredSigmaMeasurementIsAnOutlier) {
  Simulation sim(7);
  sim.run(100);
  sim.clock.predict(sim.time + 1);
  const KalmanEstimate prior = sim.clock.estimate();
  const double s = std::sqrt(prior.offset_variance + sim.sigma * sim.sigma);
  {
    // Inside the default 6 sd it is used.
    KalmanClock copy = sim.clock;
    EXPECT_EQ(copy.update(prior.offset + 5 * s, sim.sigma * sim.sigma), UpdateResult::kAccepted);
    EXPECT_NEAR(copy.last_normalized_innovation(), 5, 1e-9);
    EXPECT_GT(copy.estimate().offset, prior.offset);
  }
  EXPECT_EQ(sim.clock.update(prior.offset + 100 * s, sim.sigma * sim.sigma), UpdateResult::kOutlier);
  EXPECT_NEAR(sim.clock.last_normalized_innovation(), 100, 1e-9);
  const KalmanEstimate after = sim.clock.estimate();
  EXPECT_EQ(after.offset, prior.offset);
  EXPECT_EQ(after.frequency, prior.frequency);
}

// An outlier is not used, but the model no longer claims to know the offset as well as before:
// its variance grows by the innovation, so the estimate error covers what the measurement said.
TEST(KalmanClock, OutlierWidensTheOffsetVariance) {
  Simulation sim(7);
  sim.run(100);
  sim.clock.predict(sim.time + 1);
  const KalmanEstimate prior = sim.clock.estimate();
  const double s = std::sqrt(prior.offset_variance + sim.sigma * sim.sigma);
  const double innovation = 100 * s;
  ASSERT_EQ(sim.clock.update(prior.offset + innovation, sim.sigma * sim.sigma), UpdateResult::kOutlier);
  const KalmanEstimate after = sim.clock.estimate();
  EXPECT_NEAR(after.offset_variance, prior.offset_variance + innovation * innovation, 1e-6 * innovation * innovation);
  EXPECT_GE(4 * std::sqrt(after.offset_variance), innovation);
  // The same measurement again is now within what the model admits, and is used.
  EXPECT_EQ(sim.clock.update(prior.offset + innovation, sim.sigma * sim.sigma), UpdateResult::kAccepted);
}

TEST(KalmanClock, ForgottenOffsetIsTakenFromTheNextMeasurement) {
  Simulation sim(8);
  sim.run(100);
  sim.clock.predict(sim.time + 1);
  const double stepped = sim.clock.estimate().offset + 0.3;
  const double r = sim.sigma * sim.sigma;
  {
    // Without forgetting, a 0.3 s jump is thousands of sd: refused.
    KalmanClock copy = sim.clock;
    EXPECT_EQ(copy.update(stepped, r), UpdateResult::kOutlier);
  }
  const KalmanEstimate before = sim.clock.estimate();
  sim.clock.forget_offset(1.0);
  EXPECT_NEAR(sim.clock.estimate().offset_variance, 1.0, 1e-6);
  EXPECT_EQ(sim.clock.update(stepped, r), UpdateResult::kAccepted);
  const KalmanEstimate after = sim.clock.estimate();
  // Gain 1/(1 + σ²): the estimate lands within σ²·0.3 of the measurement and its variance is
  // the measurement's.
  EXPECT_NEAR(after.offset, stepped, 1e-7);
  EXPECT_NEAR(after.offset_variance, r, 0.01 * r);
  // The frequency was kept and, with the offset's correlation to it forgotten, is not disturbed.
  EXPECT_NEAR(after.frequency, before.frequency, 1e-3 * std::sqrt(before.frequency_variance));
  EXPECT_NEAR(after.frequency_variance, before.frequency_variance, 1e-3 * before.frequency_variance);
}

// Delayed measurements: one copy of a filter gets a measurement on time, another the same
// measurement a second later, after our own corrections in between. Relating it to the present
// through those corrections must give the same estimate (up to the approximation of the lag's
// process noise, tiny over a second for a quiet clock).
struct LateAndOnTime {
  Simulation sim;
  double t = 0;
  double z = 0;
  double r = 0;
  KalmanClock on_time;
  KalmanClock late;

  explicit LateAndOnTime(std::uint64_t seed) : sim(seed) {
    sim.sigma = 1e-7;
    sim.random_walk = 1e-18;
    sim.run(300);
    t = sim.time + 1;
    z = sim.offset + sim.frequency + sim.noise(sim.sigma);
    r = sim.sigma * sim.sigma;
    on_time = sim.clock;
    late = sim.clock;
    on_time.predict(t);
    EXPECT_EQ(on_time.update(z, r), UpdateResult::kAccepted);
  }

  // The same corrections to both, then the late copy gets the measurement taken at t.
  template <typename Corrections>
  void run(Corrections corrections) {
    corrections(on_time);
    corrections(late);
    EXPECT_EQ(late.update_at(t, z, r), UpdateResult::kAccepted);
  }

  void expect_same_estimate() const {
    const KalmanEstimate a = on_time.estimate();
    const KalmanEstimate b = late.estimate();
    EXPECT_EQ(a.time, b.time);
    const double sd = std::sqrt(a.offset_variance);
    EXPECT_NEAR(b.offset, a.offset, 0.05 * sd);
    EXPECT_NEAR(b.frequency, a.frequency, 0.05 * std::sqrt(a.frequency_variance));
    EXPECT_NEAR(b.offset_variance, a.offset_variance, 0.05 * a.offset_variance);
    EXPECT_NEAR(b.frequency_variance, a.frequency_variance, 0.05 * a.frequency_variance);
  }
};

TEST(KalmanClock, MeasurementOnePollLateGivesTheSameEstimateAsOnTime) {
  LateAndOnTime both(41);
  // Rate changes of tens of ppm, against 100 ns noise: uncorrected, they would be worth
  // hundreds of sd after a second.
  both.run([t = both.t](KalmanClock& c) {
    c.predict(t);
    c.apply_frequency_change(-30e-6);  // at the measurement's own time: made after it was taken
    c.predict(t + 0.4);
    c.apply_frequency_change(25e-6);
    c.predict(t + 0.7);
    c.apply_frequency_change(2e-6);
    c.predict(t + 1);
  });
  both.expect_same_estimate();
  // Treated as taken now instead, the same number would be far off (the oscillation this
  // prevents): the model's own prediction for then and for now differ by many sd.
  const double sd = std::sqrt(both.late.estimate().offset_variance);
  EXPECT_GT(std::abs(*both.late.offset_at(both.t) - both.late.estimate().offset), 100 * sd);
}

TEST(KalmanClock, MeasurementFromBeforeAStepIsTranslatedAcrossIt) {
  LateAndOnTime both(42);
  both.run([t = both.t](KalmanClock& c) {
    c.predict(t + 0.5);
    c.apply_step(-0.5);
    c.apply_frequency_change(10e-6);
    c.predict(t + 1);
  });
  both.expect_same_estimate();
  // The prediction for the measurement's time is from before the step.
  EXPECT_NEAR(*both.late.offset_at(both.t), both.z, 5 * both.sim.sigma);
}

TEST(KalmanClock, MeasurementOlderThanTheCorrectionLogIsRefused) {
  Simulation sim(43);
  sim.clock = KalmanClock(KalmanClock::Options{.correction_log = 4});
  sim.run(100);
  const double t = sim.time + 1;
  const double r = sim.sigma * sim.sigma;
  sim.clock.predict(t);
  const double z = sim.clock.estimate().offset;
  for (int k = 0; k < 4; ++k) {
    sim.clock.predict(t + 0.1 * k);
    sim.clock.apply_frequency_change(1e-6);
  }
  sim.clock.predict(t + 0.5);
  {
    // Four corrections since: all remembered.
    KalmanClock copy = sim.clock;
    EXPECT_TRUE(copy.offset_at(t).has_value());
    EXPECT_EQ(copy.update_at(t, z, r), UpdateResult::kAccepted);
  }
  sim.clock.apply_frequency_change(1e-6);  // pushes the one made at t out of the log
  const KalmanEstimate before = sim.clock.estimate();
  EXPECT_FALSE(sim.clock.offset_at(t).has_value());
  EXPECT_EQ(sim.clock.update_at(t, z, r), UpdateResult::kTooOld);
  const KalmanEstimate after = sim.clock.estimate();
  EXPECT_EQ(after.offset, before.offset);
  EXPECT_EQ(after.offset_variance, before.offset_variance);
  // One taken after the forgotten correction is still fine.
  EXPECT_EQ(sim.clock.update_at(t + 0.05, *sim.clock.offset_at(t + 0.05), r), UpdateResult::kAccepted);
}

TEST(KalmanClock, MeasurementFromBeforeAnUnknownStepIsRefused) {
  Simulation sim(44);
  sim.run(100);
  sim.clock.predict(sim.time + 1);
  const double r = sim.sigma * sim.sigma;
  const double before_step = *sim.clock.offset_at(sim.time + 0.5);
  sim.clock.forget_offset(1.0);
  EXPECT_EQ(sim.clock.update_at(sim.time + 0.5, before_step, r), UpdateResult::kTooOld);
  EXPECT_NEAR(sim.clock.estimate().offset_variance, 1.0, 1e-6);
  EXPECT_EQ(sim.clock.update_at(sim.time + 1, before_step + 0.3, r), UpdateResult::kAccepted);
}

TEST(KalmanClock, RandomWalkNoiseLevelIsLearned) {
  // The grid of random-walk levels runs 1e-24..1e-14 in decades; the truth sits on 1e-18. With
  // 100 ns noise the wander shows over ~(σ²/q)^(1/4) = 10 samples, and the likelihoods compare
  // the last ~256 samples, i.e. 25 such spans: the winner should be within a decade of it.
  for (std::uint64_t seed : {21u, 22u, 23u, 24u, 25u}) {
    Simulation sim(seed);
    sim.sigma = 1e-7;
    sim.random_walk = 1e-18;
    sim.run(3000);
    const double chosen = sim.clock.estimate().noise.random_walk;
    EXPECT_GE(chosen, 1e-19 * (1 - 1e-9)) << "seed " << seed;
    EXPECT_LE(chosen, 1e-17 * (1 + 1e-9)) << "seed " << seed;
  }
}

TEST(KalmanClock, QuietClockChoosesALowNoiseLevel) {
  // The same measurements without any wander: the chosen level must be well below the
  // wandering clock's (a noise the data never showed would widen every bound for nothing).
  for (std::uint64_t seed : {31u, 32u, 33u}) {
    Simulation sim(seed);
    sim.sigma = 1e-7;
    sim.run(3000);
    EXPECT_LT(sim.clock.estimate().noise.random_walk, 1e-19 * (1 + 1e-9)) << "seed " << seed;
  }
}

}  // namespace
}  // namespace kairos
