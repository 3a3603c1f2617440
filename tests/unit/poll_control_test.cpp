#include "daemon/poll_control.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

namespace kairos {
namespace {

// A sample the model predicted well: its prediction far finer than the sample's own noise.
PollFeedback well_predicted() {
  return PollFeedback{.residual = 1e-4, .predicted_sd = 1e-5, .measurement_sd = 1e-4, .excess_delay = 1e-4};
}

TEST(PollControlTest, StartsAtMinpoll) {
  PollControl poll(6, 10);
  EXPECT_EQ(poll.exponent(), 6);
}

TEST(PollControlTest, WellPredictedSamplesLengthenThePollUpToMaxpoll) {
  PollControl poll(6, 10);
  for (int i = 0; i < PollControl::kRunToLengthen - 1; ++i) poll.on_sample(well_predicted());
  EXPECT_EQ(poll.exponent(), 6);  // a run, not one lucky sample
  poll.on_sample(well_predicted());
  EXPECT_EQ(poll.exponent(), 7);
  for (int i = 0; i < 100; ++i) poll.on_sample(well_predicted());
  EXPECT_EQ(poll.exponent(), 10);
}

TEST(PollControlTest, ASurpriseShortensThePollAtOnce) {
  PollControl poll(4, 10);
  for (int i = 0; i < 4 * PollControl::kRunToLengthen; ++i) poll.on_sample(well_predicted());
  ASSERT_EQ(poll.exponent(), 8);
  PollFeedback step = well_predicted();
  step.residual = 0.01;  // 100 sd: a step, a new path, a frequency change
  poll.on_sample(step);
  EXPECT_EQ(poll.exponent(), 7);
  poll.on_sample(step);
  EXPECT_EQ(poll.exponent(), 6);
  // And the run to lengthen starts again.
  for (int i = 0; i < PollControl::kRunToLengthen - 1; ++i) poll.on_sample(well_predicted());
  EXPECT_EQ(poll.exponent(), 6);
}

TEST(PollControlTest, APredictionCoarserThanTheNoiseShortensThePoll) {
  PollControl poll(4, 10);
  // Hardware stamps: 1 µs of noise, and a model that predicts to 0.1 µs at first.
  const PollFeedback fine{.residual = 1e-7, .predicted_sd = 1e-7, .measurement_sd = 1e-6, .excess_delay = 0};
  for (int i = 0; i < 2 * PollControl::kRunToLengthen; ++i) poll.on_sample(fine);
  ASSERT_EQ(poll.exponent(), 6);
  // Then the clock wanders more between polls than one sample can resolve (temperature, a poor
  // oscillator): ask more often.
  PollFeedback wander = fine;
  wander.predicted_sd = 3e-6;
  poll.on_sample(wander);
  EXPECT_EQ(poll.exponent(), 5);
  for (int i = 0; i < 10; ++i) poll.on_sample(wander);
  EXPECT_EQ(poll.exponent(), 4);  // never below minpoll
}

TEST(PollControlTest, BetweenTheLinesThePollHolds) {
  // The hysteresis band: neither fine enough to lengthen nor coarse enough to shorten.
  PollControl poll(6, 10);
  const PollFeedback middling{.residual = 1e-5, .predicted_sd = 1e-5, .measurement_sd = 1e-5, .excess_delay = 0};
  for (int i = 0; i < 50; ++i) poll.on_sample(middling);
  EXPECT_EQ(poll.exponent(), 6);
}

TEST(PollControlTest, ADelayJumpShortensThePoll) {
  PollControl poll(4, 10);
  for (int i = 0; i < 3 * PollControl::kRunToLengthen; ++i) poll.on_sample(well_predicted());
  ASSERT_EQ(poll.exponent(), 7);
  PollFeedback jump = well_predicted();
  jump.excess_delay = 20e-3;  // the round trip 20 ms above its minimum, usually 0.1 ms
  poll.on_sample(jump);
  EXPECT_EQ(poll.exponent(), 7);  // one long round trip is queueing
  poll.on_sample(jump);
  EXPECT_EQ(poll.exponent(), 6);  // two in a row: the path changed
}

TEST(PollControlTest, WithoutAModelThePollStays) {
  PollControl poll(6, 10);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int i = 0; i < 20; ++i) {
    poll.on_sample(PollFeedback{.residual = 0.5, .predicted_sd = nan, .measurement_sd = 1e-3, .excess_delay = 0});
  }
  EXPECT_EQ(poll.exponent(), 6);
}

TEST(PollControlTest, ARateKissLengthensUpToMaxpoll) {
  PollControl poll(4, 6);
  poll.on_rate_kiss();
  EXPECT_EQ(poll.exponent(), 5);
  poll.on_rate_kiss();
  poll.on_rate_kiss();
  EXPECT_EQ(poll.exponent(), 6);
}

TEST(PollControlTest, IntervalsAreRandomisedByTenPercent) {
  PollControl poll(6, 10);
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double lo = 1e9;
  double hi = 0;
  for (int i = 0; i < 2000; ++i) {
    const double s = std::chrono::duration<double>(poll.interval([&] { return u(rng); })).count();
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_GE(lo, 64 * 0.9);
  EXPECT_LE(hi, 64 * 1.1);
  EXPECT_LT(lo, 64 * 0.92);  // the whole range is used, not one fixed value
  EXPECT_GT(hi, 64 * 1.08);
  EXPECT_DOUBLE_EQ(std::chrono::duration<double>(poll.nominal_interval()).count(), 64.0);
}

}  // namespace
}  // namespace kairos
