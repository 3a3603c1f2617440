#include "clock/timescale_map.hpp"

#include <gtest/gtest.h>

#include <random>

namespace kairos {
namespace {

TEST(TimescaleMap, NeedsTwoPointsAndStaysNearThem) {
  TimescaleMap map;
  EXPECT_FALSE(map.at(0));
  map.add(0, 10.0, 1e-9);
  EXPECT_FALSE(map.at(0));
  map.add(1, 10.0 + 2e-6, 1e-9);
  ASSERT_TRUE(map.at(1.5));
  EXPECT_NEAR(map.at(1.5)->offset, 10.0 + 3e-6, 1e-12);  // a PHC 2 ppm fast, 10 s ahead
  EXPECT_FALSE(map.at(3.5)) << "more than the span past the last point";
}

// A PHC 10 s off and 5 ppm fast, read with 20 ns of noise: the line predicts within its sd.
TEST(TimescaleMap, FitsTheLineThroughNoisyCrossTimestamps) {
  std::mt19937 random(7);
  std::normal_distribution<double> noise(0, 20e-9);
  TimescaleMap map;
  for (int i = 0; i < 16; ++i) map.add(i, 10.0 + 5e-6 * i + noise(random), 20e-9);
  const auto e = map.at(15.5);
  ASSERT_TRUE(e);
  const double truth = 10.0 + 5e-6 * 15.5;
  EXPECT_LT(e->sd, 20e-9);
  EXPECT_GT(e->sd, 2e-9);
  EXPECT_LT(std::abs(e->offset - truth), 4 * e->sd);
}

// The system clock we steer changed its frequency and was stepped: the points taken before move
// with it, so the line through old and new points stays straight.
TEST(TimescaleMap, OurOwnSteeringOfTheSystemClockIsAControlInput) {
  TimescaleMap map;
  const double phc_rate = 3e-6;  // PHC minus a free system clock grows 3 µs/s
  for (int i = 0; i <= 8; ++i) map.add(i, phc_rate * i, 1e-9);
  // At t = 8.5 the system clock is sped up by 1 ppm and stepped forward by 2 µs.
  map.on_system_change(8.5, 1e-6, 2e-6);
  auto truth = [&](double t) { return phc_rate * t - 1e-6 * (t - 8.5) - 2e-6; };
  for (int i = 9; i <= 12; ++i) map.add(i, truth(i), 1e-9);
  const auto e = map.at(12.5);
  ASSERT_TRUE(e);
  EXPECT_NEAR(e->offset, truth(12.5), 1e-11);
  EXPECT_LT(e->sd, 1e-9);
}

// An interleaved sample is stamped a poll before it is used, and the system clock may have been
// slewed in between: converting it by the line of the latest regime put the slew's whole effect
// into the sample (22 µs in clknetsim at poll 0.25 s, ±87 ppm slews) and the model locked up.
TEST(TimescaleMap, ATimeBeforeOurLatestChangeIsMappedAsItWasThen) {
  TimescaleMap map;
  const double phc_rate = 3e-6;
  auto before = [&](double t) { return phc_rate * t; };
  auto after = [&](double t) { return phc_rate * t - 87e-6 * (t - 8.5) - 2e-6; };
  for (int i = 0; i <= 8; ++i) map.add(i, before(i), 1e-9);
  map.on_system_change(8.5, 87e-6, 2e-6);
  EXPECT_NEAR(map.at(8.25)->offset, before(8.25), 1e-11);  // dated before the change
  EXPECT_NEAR(map.at(8.75)->offset, after(8.75), 1e-11);
  for (int i = 9; i <= 12; ++i) map.add(i, after(i), 1e-9);
  map.on_system_change(12.25, -87e-6, 0);
  auto latest = [&](double t) { return after(t) + 87e-6 * (t - 12.25); };
  EXPECT_NEAR(map.at(12.1)->offset, after(12.1), 1e-11);
  EXPECT_NEAR(map.at(8.25)->offset, before(8.25), 1e-11);
  EXPECT_NEAR(map.at(12.5)->offset, latest(12.5), 1e-11);
}

TEST(TimescaleMap, KeepsOnlyTheRecentPoints) {
  TimescaleMap map(4);
  for (int i = 0; i < 10; ++i) map.add(i, i < 6 ? 0.0 : 1e-3 * (i - 5), 1e-9);
  EXPECT_EQ(map.size(), 4u);
  EXPECT_NEAR(map.at(9)->offset, 4e-3, 1e-12);  // the line of the last four only
  map.forget();
  EXPECT_FALSE(map.at(9));
}

}  // namespace
}  // namespace kairos
