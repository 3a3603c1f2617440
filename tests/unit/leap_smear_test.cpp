#include "clock/leap_smear.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

constexpr std::int64_t k2017 = 1483228800;  // 2017-01-01T00:00:00Z, after 2016-12-31T23:59:60Z
const LeapSmear kInsert{.leap = k2017, .kind = Leap::kInsert};
const LeapSmear kDelete{.leap = k2017, .kind = Leap::kDelete};

TEST(LeapSmearTest, NothingOutsideTheNoonToNoonWindow) {
  EXPECT_EQ(smear_correction(kInsert, -43200.001, false), 0);
  EXPECT_EQ(smear_correction(kInsert, 43200, true), 0);
  EXPECT_EQ(smear_correction(kInsert, -86400 * 3, false), 0);
  EXPECT_FALSE(smear_active(kInsert, 43200));
  EXPECT_TRUE(smear_active(kInsert, -43200));
  EXPECT_EQ(smear_correction(LeapSmear{.leap = k2017, .kind = Leap::kNone}, 0, false), 0);
}

TEST(LeapSmearTest, EdgesOfTheWindowAreContinuous) {
  EXPECT_NEAR(smear_correction(kInsert, -43200, false), 0, 1e-12);
  EXPECT_NEAR(smear_correction(kInsert, 43200 - 1e-6, true), 0, 1e-9);
  EXPECT_NEAR(smear_correction(kDelete, -43200, false), 0, 1e-12);
  EXPECT_NEAR(smear_correction(kDelete, 43200 - 1e-6, true), 0, 1e-9);
}

TEST(LeapSmearTest, ServedTimeRunsOneSecondSlowOverTheWindowForAnInsertion) {
  // 86401 real seconds from noon to noon; served time covers 86400 of them, evenly.
  const double rate = 86400.0 / 86401.0;
  EXPECT_NEAR(smear_correction(kInsert, -43200 + 3600, false), 3600 * rate - 3600, 1e-9);
  // At the kernel's midnight, before the leap: half a second behind.
  EXPECT_NEAR(smear_correction(kInsert, -1e-9, false), -43200.0 / 86401, 1e-9);
}

TEST(LeapSmearTest, TheRepeatedSecondContinuesServedTimeWithoutAStep) {
  // The kernel shows 23:59:59 twice; served time keeps going through both.
  const double first_end = -1e-6 + smear_correction(kInsert, -1e-6, false);  // 23:59:59.999999, first pass
  const double second_start = -1 + smear_correction(kInsert, -1, true);      // 23:59:59.000000, second pass
  EXPECT_NEAR(second_start - first_end, 1e-6 * 86400 / 86401, 1e-9);
  const double second_end = -1e-6 + smear_correction(kInsert, -1e-6, true);
  const double midnight = smear_correction(kInsert, 0, true);  // 00:00:00 after the leap
  EXPECT_NEAR(midnight - second_end, 1e-6 * 86400 / 86401, 1e-9);
  EXPECT_NEAR(midnight, 43200.0 / 86401, 1e-9);  // half a second ahead of the clock's reading
  // Served time across the whole repeated second advances less than a real second, never back.
  EXPECT_GT(second_start, -1.0);
  EXPECT_LT(second_start, 0.0);
}

TEST(LeapSmearTest, ADeletionRunsServedTimeFastAcrossTheSkippedSecond) {
  // The kernel goes from 23:59:58.999999 to 00:00:00: served time moves on by a microsecond's
  // worth, not by the skipped second.
  const double before = -1 - 1e-6 + smear_correction(kDelete, -1 - 1e-6, false);
  const double after = 0 + smear_correction(kDelete, 0, false);
  EXPECT_NEAR(after - before, 1e-6 * 86400 / 86399, 1e-9);
  EXPECT_NEAR(smear_correction(kDelete, -43200 + 3600, false), 3600 * 86400.0 / 86399 - 3600, 1e-9);
}

TEST(LeapSmearTest, TimestampsAreSmearedAroundTheLeap) {
  const NtpTimestamp leap = NtpTimestamp::from_timespec(timespec{.tv_sec = k2017, .tv_nsec = 0});
  const NtpTimestamp noon_before = leap + Duration::from_seconds(-43200);
  EXPECT_EQ(smeared(kInsert, noon_before, false), noon_before);
  const NtpTimestamp last = leap + Duration::from_seconds(-0.5);
  EXPECT_TRUE(in_ambiguous_second(kInsert, last));
  EXPECT_FALSE(in_ambiguous_second(kDelete, last));
  EXPECT_FALSE(in_ambiguous_second(kInsert, leap));
  const Duration first = smeared(kInsert, last, false) - last;
  const Duration second = smeared(kInsert, last, true) - last;
  EXPECT_NEAR(first.seconds(), -0.5, 1e-4);
  EXPECT_NEAR(second.seconds(), 0.5, 1e-4);
}

}  // namespace
}  // namespace kairos
