#include "clock/source_filter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <vector>

namespace kairos {
namespace {

Measurement with_delay(double delay, double precision = 1e-6) {
  Measurement m;
  m.delay = delay;
  m.precision = precision;
  return m;
}

double variance_of(SourceFilter& filter, const Measurement& m) {
  const std::optional<Observation> obs = filter.add(m);
  EXPECT_TRUE(obs.has_value());
  return obs ? obs->variance : std::numeric_limits<double>::quiet_NaN();
}

TEST(SourceFilter, FirstSampleMayHaveHalfItsDelayInQueues) {
  SourceFilter filter;
  // Nothing is known about the minimum yet: the excess is taken as delay/2, spread over ±excess/2,
  // so the variance is precision² + (delay/2)²/12.
  const double v = variance_of(filter, with_delay(4e-3, 1e-6));
  EXPECT_NEAR(v, 1e-12 + 4e-6 / 12, 1e-20);
  EXPECT_EQ(filter.samples(), 1u);
  EXPECT_EQ(filter.min_delay(), 4e-3);
}

TEST(SourceFilter, ExcessDelayOverTheMinimumSetsTheVariance) {
  SourceFilter filter;
  for (int i = 0; i < 9; ++i) (void)filter.add(with_delay(1e-3, 1e-6));
  // Tenth sample 10 ms over the minimum: mean delay 2 ms, so the minimum itself is uncertain by
  // (2 - 1) ms / sqrt(10); the excess is 10 ms plus that, spread uniformly over ±excess/2.
  const double excess = 10e-3 + 1e-3 / std::sqrt(10.0);
  EXPECT_NEAR(variance_of(filter, with_delay(11e-3, 1e-6)), 1e-12 + excess * excess / 12, 1e-18);
}

// Two samples of about the same delay have no spread, yet say next to nothing about the path's
// minimum: each may still have half its delay in queues (shared unevenly between the two ways),
// less only as samples accumulate. The hardening test through a 5 ms ± 2 ms relay caught a
// model 4 sd sure of an offset 2 ms off after two such samples.
TEST(SourceFilter, FewSimilarDelaysDoNotClaimTheMinimumIsKnown) {
  SourceFilter filter;
  (void)filter.add(with_delay(10.01e-3, 1e-6));
  const double excess = 10e-3 / (2 * std::sqrt(2.0));  // the minimum's share for n = 2
  EXPECT_NEAR(variance_of(filter, with_delay(10e-3, 1e-6)), 1e-12 + excess * excess / 12, 1e-18);
  while (filter.samples() < SourceFilter::kFewDelays - 2) (void)filter.add(with_delay(10e-3, 1e-6));
  const double last_share = 10e-3 / (2.0 * std::sqrt(static_cast<double>(SourceFilter::kFewDelays - 1)));
  EXPECT_GE(std::sqrt(variance_of(filter, with_delay(10e-3, 1e-6))), 0.99 * last_share / std::sqrt(12.0));
  // From kFewDelays on, the spread of the delays alone: almost none here, so about the precision.
  EXPECT_LT(variance_of(filter, with_delay(10e-3, 1e-6)), 1e-12 + 1e-13);
}

TEST(SourceFilter, VarianceGrowsWithExcessDelay) {
  SourceFilter history;
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> queueing(1.0 / 200e-6);
  for (int i = 0; i < 64; ++i) (void)history.add(with_delay(1e-3 + queueing(rng)));
  // The same history, then one more sample with more and more delay: the variance must grow.
  double previous = 0;
  for (double excess : {0.0, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3}) {
    SourceFilter filter = history;
    const double v = variance_of(filter, with_delay(history.min_delay() + excess));
    EXPECT_GT(v, previous) << "excess " << excess;
    previous = v;
  }
  // A 100 ms queue makes the sample worthless next to a minimum-delay one: sd ~ 100 ms / sqrt(12).
  EXPECT_GT(std::sqrt(previous), 0.9 * 100e-3 / std::sqrt(12.0));
}

TEST(SourceFilter, MinimumDelaySampleGetsTheSmallestVariance) {
  SourceFilter history;
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> queueing(1.0 / 500e-6);
  for (int i = 0; i < 100; ++i) (void)history.add(with_delay(2e-3 + queueing(rng)));
  // Candidates for the next sample: whichever has the least delay is the most trustworthy.
  std::vector<double> delays;
  for (int i = 0; i < 20; ++i) delays.push_back(2e-3 + queueing(rng));
  std::vector<double> variances;
  for (double d : delays) {
    SourceFilter filter = history;
    variances.push_back(variance_of(filter, with_delay(d)));
  }
  const auto fastest = std::min_element(delays.begin(), delays.end()) - delays.begin();
  const auto best = std::min_element(variances.begin(), variances.end()) - variances.begin();
  EXPECT_EQ(fastest, best);
  // A sample at the minimum keeps only the minimum's own uncertainty: mean excess (500 µs) over
  // sqrt(100), i.e. ~50 µs, spread over ±25 µs (sd ~15 µs); allow for the sample mean's spread.
  SourceFilter at_minimum = history;
  EXPECT_LT(std::sqrt(variance_of(at_minimum, with_delay(history.min_delay()))), 30e-6);
}

TEST(SourceFilter, NewMinimumCountsAtOnce) {
  SourceFilter filter;
  for (int i = 0; i < 20; ++i) (void)filter.add(with_delay(5e-3));
  const std::optional<Observation> obs = filter.add(with_delay(1e-3));
  ASSERT_TRUE(obs);
  EXPECT_EQ(filter.min_delay(), 1e-3);
  // Its excess over the (new) minimum is zero; only the minimum's uncertainty remains:
  // mean 4.81 ms, so (4.81 - 1) ms / sqrt(21).
  const double mean = (20 * 5e-3 + 1e-3) / 21;
  const double u = (mean - 1e-3) / std::sqrt(21.0);
  EXPECT_NEAR(obs->variance, 1e-12 + u * u / 12, 1e-18);
}

TEST(SourceFilter, OldMinimumLeavesTheWindow) {
  SourceFilter filter;
  (void)filter.add(with_delay(1e-3));
  for (std::size_t i = 0; i < SourceFilter::kWindow - 1; ++i) (void)filter.add(with_delay(3e-3));
  EXPECT_EQ(filter.min_delay(), 1e-3);
  EXPECT_EQ(filter.samples(), SourceFilter::kWindow);
  (void)filter.add(with_delay(3e-3));
  EXPECT_EQ(filter.min_delay(), 3e-3);
  EXPECT_EQ(filter.samples(), SourceFilter::kWindow);
}

TEST(SourceFilter, ImpossibleMeasurementsAreRejected) {
  SourceFilter filter;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Measurement negative = with_delay(-1e-6);
  EXPECT_FALSE(filter.add(negative));
  Measurement nan_delay = with_delay(nan);
  EXPECT_FALSE(filter.add(nan_delay));
  Measurement inf_delay = with_delay(inf);
  EXPECT_FALSE(filter.add(inf_delay));
  Measurement nan_offset = with_delay(1e-3);
  nan_offset.offset = nan;
  EXPECT_FALSE(filter.add(nan_offset));
  Measurement inf_offset = with_delay(1e-3);
  inf_offset.offset = -inf;
  EXPECT_FALSE(filter.add(inf_offset));
  Measurement nan_precision = with_delay(1e-3, nan);
  EXPECT_FALSE(filter.add(nan_precision));
  // A rejected measurement must not become the minimum either.
  EXPECT_EQ(filter.samples(), 0u);
  EXPECT_TRUE(std::isnan(filter.min_delay()));
  // Zero delay is possible (a cross-timestamp with a perfect window).
  EXPECT_TRUE(filter.add(with_delay(0)));
}

TEST(SourceFilter, OffsetSignIsFlipped) {
  SourceFilter filter;
  Measurement m = with_delay(2e-3);
  m.time = 123.5;
  m.offset = 0.25;  // the reference is ahead of us: we are behind
  m.leap = Leap::kInsert;
  const std::optional<Observation> obs = filter.add(m);
  ASSERT_TRUE(obs);
  EXPECT_EQ(obs->offset, -0.25);
  EXPECT_EQ(obs->time, 123.5);
  EXPECT_EQ(obs->leap, Leap::kInsert);
}

TEST(SourceFilter, DistanceIsHalfDelayPlusRootDistancePlusPrecision) {
  SourceFilter filter;
  Measurement m = with_delay(10e-3, 2e-6);
  m.root_delay = 20e-3;
  m.root_dispersion = 3e-3;
  const std::optional<Observation> obs = filter.add(m);
  ASSERT_TRUE(obs);
  EXPECT_NEAR(obs->distance, 5e-3 + 10e-3 + 3e-3 + 2e-6, 1e-18);
}

}  // namespace
}  // namespace kairos
