#include "hwts/cross_timestamp.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kairos {
namespace {

timespec ts(time_t sec, long nsec) {
  timespec t{};
  t.tv_sec = sec;
  t.tv_nsec = nsec;
  return t;
}

constexpr time_t kSec = 1'800'000'000;

TEST(CrossMethod, NamesEveryMethod) {
  EXPECT_EQ(to_string(CrossMethod::kPrecise), "precise");
  EXPECT_EQ(to_string(CrossMethod::kExtended), "extended");
  EXPECT_EQ(to_string(CrossMethod::kBasic), "basic");
  EXPECT_EQ(to_string(CrossMethod::kSandwich), "sandwich");
}

TEST(BestCrossTimestamp, PicksTheShortestWindow) {
  const std::vector<CrossReading> readings = {
      {ts(kSec, 1000), ts(kSec, 1600), ts(kSec, 2200)},  // window 1200 ns
      {ts(kSec, 5000), ts(kSec, 5510), ts(kSec, 5900)},  // window 900 ns: the best
      {ts(kSec, 9000), ts(kSec, 9400), ts(kSec, 10000)},  // window 1000 ns
  };
  auto ct = best_cross_timestamp(readings, CrossMethod::kExtended);
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_NEAR(ct->window, 900e-9, 1e-15);
  // Midpoint 5450 ns, PHC 5510 ns.
  EXPECT_NEAR(ct->offset, 60e-9, 1e-15);
  EXPECT_EQ(ct->system_time.tv_sec, kSec);
  EXPECT_EQ(ct->system_time.tv_nsec, 5450);
  EXPECT_EQ(ct->phc_time.tv_nsec, 5510);
  EXPECT_EQ(ct->method, CrossMethod::kExtended);
}

TEST(BestCrossTimestamp, TiesGoToTheLaterReading) {
  const std::vector<CrossReading> readings = {
      {ts(kSec, 0), ts(kSec, 500), ts(kSec, 1000)},
      {ts(kSec, 2000), ts(kSec, 2700), ts(kSec, 3000)},
  };
  auto ct = best_cross_timestamp(readings, CrossMethod::kBasic);
  ASSERT_TRUE(ct);
  EXPECT_NEAR(ct->offset, 200e-9, 1e-15);
  EXPECT_EQ(ct->system_time.tv_nsec, 2500);
}

TEST(BestCrossTimestamp, NegativeWindowIsRejected) {
  // The system clock was stepped back between before and after.
  const std::vector<CrossReading> readings = {
      {ts(kSec, 5000), ts(kSec, 5500), ts(kSec, 6000)},
      {ts(kSec, 9000), ts(kSec, 9500), ts(kSec, 8000)},
  };
  auto ct = best_cross_timestamp(readings, CrossMethod::kSandwich);
  ASSERT_FALSE(ct);
  EXPECT_NE(ct.error().message.find("went backwards"), std::string::npos) << ct.error().message;
}

TEST(BestCrossTimestamp, NoReadingsIsAnError) {
  auto ct = best_cross_timestamp({}, CrossMethod::kExtended);
  ASSERT_FALSE(ct);
  EXPECT_NE(ct.error().message.find("no readings"), std::string::npos);
}

TEST(BestCrossTimestamp, ExactPairHasZeroWindow) {
  const std::vector<CrossReading> readings = {{ts(kSec, 123), ts(kSec + 37, 124), ts(kSec, 123)}};
  auto ct = best_cross_timestamp(readings, CrossMethod::kPrecise);
  ASSERT_TRUE(ct);
  EXPECT_EQ(ct->window, 0.0);
  EXPECT_NEAR(ct->offset, 37.000000001, 1e-12);
}

TEST(BestCrossTimestamp, HalfNanosecondMidpointIsKept) {
  // A window of 1001 ns puts the midpoint between two nanoseconds: the offset keeps the half.
  const std::vector<CrossReading> readings = {{ts(kSec, 0), ts(kSec, 500), ts(kSec, 1001)}};
  auto ct = best_cross_timestamp(readings, CrossMethod::kExtended);
  ASSERT_TRUE(ct);
  EXPECT_DOUBLE_EQ(ct->offset, -0.5e-9);
}

TEST(BestCrossTimestamp, OffsetAcrossASecondBoundary) {
  const std::vector<CrossReading> readings = {{ts(kSec, 999'999'800), ts(kSec + 1, 50), ts(kSec + 1, 200)}};
  auto ct = best_cross_timestamp(readings, CrossMethod::kExtended);
  ASSERT_TRUE(ct);
  EXPECT_NEAR(ct->window, 400e-9, 1e-15);
  EXPECT_NEAR(ct->offset, 50e-9, 1e-15);  // midpoint is kSec + 1 s + 0 ns
  EXPECT_EQ(ct->system_time.tv_sec, kSec + 1);
  EXPECT_EQ(ct->system_time.tv_nsec, 0);
}

TEST(BestCrossTimestamp, PhcResetTo1970KeepsNanoseconds) {
  // A PHC counting from 1970 is 1.8e9 s behind: the offset must still resolve nanoseconds
  // relative to that (doubles hold 1.8e9 to about 2e-7 s; the integer difference is exact).
  const std::vector<CrossReading> readings = {{ts(kSec, 100), ts(5, 103), ts(kSec, 100)}};
  auto ct = best_cross_timestamp(readings, CrossMethod::kPrecise);
  ASSERT_TRUE(ct);
  EXPECT_DOUBLE_EQ(ct->offset, -static_cast<double>(kSec - 5) + 3e-9);
}

TEST(ToMeasurement, PhcIsTheReference) {
  CrossTimestamp ct{.offset = 2.5e-6, .window = 800e-9, .method = CrossMethod::kExtended};
  const Measurement m = to_measurement(ct, 42.0);
  EXPECT_EQ(m.time, 42.0);
  EXPECT_EQ(m.offset, 2.5e-6);  // reference (PHC) minus us (system)
  EXPECT_EQ(m.delay, 800e-9);
  EXPECT_NEAR(m.precision, 1e-9 / std::sqrt(12.0), 1e-18);
  EXPECT_EQ(m.root_delay, 0.0);
}

}  // namespace
}  // namespace kairos
