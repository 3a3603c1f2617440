#include "clock/sim_clock.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace kairos {
namespace {

constexpr std::int64_t kEpoch = 1798761600;  // 2027-01-01 00:00:00 UTC

// A SimClock whose true time is a variable the test moves forward.
struct Bench {
  double now = 0;
  SimClock clock;
  Bench(double initial_offset, double oscillator, double max_frequency = 500e-6)
      : clock("sim", [this] { return now; }, kEpoch, initial_offset, oscillator, max_frequency) {}
};

// Readings are sums of a few doubles near 1e3 s: a few ulps (~1e-13 s) of rounding at most.
constexpr double kRounding = 1e-9;

TEST(SimClock, ReadingAdvancesAtOscillatorTimesAdjustment) {
  Bench b(0.25, 100e-6);
  ASSERT_TRUE(b.clock.set_frequency(-30e-6));
  // Rates multiply: the adjustment scales the oscillator's already-wrong second.
  const double rate = (1 + 100e-6) * (1 - 30e-6);
  EXPECT_NEAR(b.clock.reading_at(1000), 0.25 + 1000 * rate, kRounding);
  EXPECT_NEAR(b.clock.offset_at(2000), 0.25 + 2000 * (rate - 1), kRounding);
  EXPECT_NEAR(b.clock.rate_error(), rate - 1, 1e-15);
  EXPECT_EQ(*b.clock.frequency(), -30e-6);
}

TEST(SimClock, FreeRunningClockDriftsByOscillatorError) {
  Bench b(0, -20e-6);
  EXPECT_NEAR(b.clock.offset_at(500), -0.01, kRounding);
  EXPECT_EQ(*b.clock.frequency(), 0);
}

TEST(SimClock, SetFrequencyTakesEffectAtCurrentTrueTime) {
  Bench b(0, 50e-6);
  b.now = 100;
  ASSERT_TRUE(b.clock.set_frequency(-50e-6));
  // The first 100 s ran at the oscillator's rate alone; only the next 200 s are adjusted.
  const double expected = 100 * (1 + 50e-6) + 200 * (1 + 50e-6) * (1 - 50e-6);
  EXPECT_NEAR(b.clock.reading_at(300), expected, kRounding);
}

TEST(SimClock, StepTakesEffectAtCurrentTrueTime) {
  Bench b(0, 100e-6);
  b.now = 100;
  ASSERT_TRUE(b.clock.step(0.5));
  EXPECT_NEAR(b.clock.reading_at(100), 100 * (1 + 100e-6) + 0.5, kRounding);
  // The step adds once; the drift continues as before.
  EXPECT_NEAR(b.clock.reading_at(200), 200 * (1 + 100e-6) + 0.5, kRounding);
}

TEST(SimClock, OscillatorChangeTakesEffectAtCurrentTrueTime) {
  Bench b(0, 10e-6);
  b.now = 1000;
  b.clock.set_oscillator_frequency(-10e-6);
  EXPECT_NEAR(b.clock.offset_at(2000), 1000 * 10e-6 - 1000 * 10e-6, kRounding);
  EXPECT_EQ(b.clock.oscillator_frequency(), -10e-6);
}

TEST(SimClock, NonFiniteStepRefused) {
  Bench b(0.125, 0);
  EXPECT_FALSE(b.clock.step(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(b.clock.step(std::numeric_limits<double>::infinity()));
  EXPECT_NEAR(b.clock.offset_at(10), 0.125, kRounding);
}

TEST(SimClock, FrequencyBeyondMaxRefused) {
  Bench b(0, 0, 500e-6);
  ASSERT_TRUE(b.clock.set_frequency(200e-6));
  const auto too_fast = b.clock.set_frequency(501e-6);
  ASSERT_FALSE(too_fast);
  EXPECT_FALSE(too_fast.error().message.empty());
  EXPECT_FALSE(b.clock.set_frequency(-501e-6));
  EXPECT_FALSE(b.clock.set_frequency(std::numeric_limits<double>::quiet_NaN()));
  // A refused change leaves the old adjustment in force.
  EXPECT_EQ(*b.clock.frequency(), 200e-6);
  EXPECT_NEAR(b.clock.offset_at(100), 100 * 200e-6, kRounding);
  // The limit itself is allowed.
  EXPECT_TRUE(b.clock.set_frequency(-500e-6));
  EXPECT_EQ(b.clock.max_frequency(), 500e-6);
}

TEST(SimClock, LeapInsertAtLeapPointSubtractsOneSecond) {
  Bench b(0, 0);
  b.clock.set_leap_point(1000);
  ASSERT_TRUE(b.clock.set_leap(Leap::kInsert));
  EXPECT_NEAR(b.clock.reading_at(999.5), 999.5, kRounding);
  EXPECT_EQ(b.clock.leaps(), 0);
  // Crossing the point repeats a second: the reading goes back by one.
  EXPECT_NEAR(b.clock.reading_at(1000.5), 999.5, kRounding);
  EXPECT_EQ(b.clock.leaps(), 1);
  // Reading plus leaps counts like TAI, without the jump.
  EXPECT_NEAR(b.clock.reading_at(1000.5) + b.clock.leaps(), 1000.5, kRounding);
  // One insertion per arming: crossing the point again (the repeated second) does nothing.
  EXPECT_NEAR(b.clock.reading_at(1002), 1001, kRounding);
  EXPECT_EQ(b.clock.leaps(), 1);
}

TEST(SimClock, LeapDeleteAtLeapPointAddsOneSecond) {
  Bench b(0, 0);
  b.clock.set_leap_point(1000);
  ASSERT_TRUE(b.clock.set_leap(Leap::kDelete));
  EXPECT_NEAR(b.clock.reading_at(1000.5), 1001.5, kRounding);
  EXPECT_EQ(b.clock.leaps(), -1);
}

TEST(SimClock, LeapPointIsOnTheClocksOwnReading) {
  // Ahead by 0.3 s, the clock reaches its leap point 0.3 s of true time early.
  Bench b(0.3, 0);
  b.clock.set_leap_point(1000);
  ASSERT_TRUE(b.clock.set_leap(Leap::kInsert));
  EXPECT_NEAR(b.clock.reading_at(999.6), 999.9, kRounding);
  EXPECT_EQ(b.clock.leaps(), 0);
  EXPECT_NEAR(b.clock.reading_at(999.8), 999.1, kRounding);
  EXPECT_EQ(b.clock.leaps(), 1);
}

TEST(SimClock, NoLeapUnlessArmed) {
  Bench b(0, 0);
  b.clock.set_leap_point(1000);
  EXPECT_NEAR(b.clock.reading_at(1001), 1001, kRounding);
  EXPECT_EQ(b.clock.leaps(), 0);

  Bench disarmed(0, 0);
  disarmed.clock.set_leap_point(1000);
  ASSERT_TRUE(disarmed.clock.set_leap(Leap::kInsert));
  ASSERT_TRUE(disarmed.clock.set_leap(Leap::kNone));
  EXPECT_NEAR(disarmed.clock.reading_at(1001), 1001, kRounding);
  EXPECT_EQ(disarmed.clock.leaps(), 0);

  // LI = 3 is not an instruction to the kernel.
  Bench unsynchronized(0, 0);
  unsynchronized.clock.set_leap_point(1000);
  ASSERT_TRUE(unsynchronized.clock.set_leap(Leap::kUnsynchronized));
  EXPECT_NEAR(unsynchronized.clock.reading_at(1001), 1001, kRounding);
  EXPECT_EQ(unsynchronized.clock.leaps(), 0);
}

TEST(SimClock, NowMatchesEpochPlusReading) {
  Bench b(0.25, 40e-6);
  b.now = 10.123456789;
  const double reading = 0.25 + 10.123456789 * (1 + 40e-6);
  const auto ts = b.clock.now();
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->tv_sec, kEpoch + 10);
  // The reading is exact to ~1e-15 s; the timespec rounds it to the nearest nanosecond.
  EXPECT_NEAR(static_cast<double>(ts->tv_nsec), (reading - 10) * 1e9, 0.5 + 1e-5);
  EXPECT_EQ(b.clock.epoch(), kEpoch);
}

TEST(SimClock, NowCarriesRoundedNanosecondsIntoSeconds) {
  // 0.4 ns before a whole second rounds up to it: the second must carry, not show 1e9 ns.
  Bench b(5.9999999996, 0);
  const auto ts = b.clock.now();
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->tv_sec, kEpoch + 6);
  EXPECT_EQ(ts->tv_nsec, 0);
}

TEST(SimClock, NowBeforeEpochReadsBackwards) {
  // A clock behind by 1.25 s at the start reads 1.25 s before the epoch: floor, not truncation.
  Bench b(-1.25, 0);
  const auto ts = b.clock.now();
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->tv_sec, kEpoch - 2);
  EXPECT_EQ(ts->tv_nsec, 750'000'000);
}

TEST(SimClock, ErrorEstimateIsKept) {
  Bench b(0, 0);
  ASSERT_TRUE(b.clock.set_error_estimate(ClockErrorEstimate{.max_error = 1e-3, .est_error = 2e-4, .synchronized = true}));
  EXPECT_EQ(b.clock.error_estimate().max_error, 1e-3);
  EXPECT_EQ(b.clock.error_estimate().est_error, 2e-4);
  EXPECT_TRUE(b.clock.error_estimate().synchronized);
}

}  // namespace
}  // namespace kairos
