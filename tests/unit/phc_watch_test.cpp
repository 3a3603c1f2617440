#include "hwts/phc_watch.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

constexpr time_t kSec = 1'800'000'000;

CrossTimestamp at(double seconds_after, double offset, time_t phc_sec = kSec) {
  CrossTimestamp ct;
  ct.offset = offset;
  ct.window = 1e-6;
  ct.system_time.tv_sec = kSec + static_cast<time_t>(seconds_after);
  ct.phc_time.tv_sec = phc_sec + static_cast<time_t>(seconds_after);
  ct.method = CrossMethod::kExtended;
  return ct;
}

const PhcWatchLimits kLimits{.max_frequency_difference = 100e-6, .threshold = 1e-6};

TEST(PhcWatch, ResetIsFlaggedWhenThePhcReadsBefore2000) {
  PhcWatch watch(kLimits);
  EXPECT_EQ(watch.check(at(0, 0)), PhcEvent::kNone);
  EXPECT_EQ(watch.check(at(1, -1.8e9, 3)), PhcEvent::kReset);
  // A PHC that was never set reads 1970 from the start: that too is a reset to deal with.
  PhcWatch fresh(kLimits);
  EXPECT_EQ(fresh.check(at(0, -1.8e9, 0)), PhcEvent::kReset);
  // 2000-01-01 itself is not.
  PhcWatch y2k(kLimits);
  EXPECT_EQ(y2k.check(at(0, -8e8, 946684800)), PhcEvent::kNone);
}

TEST(PhcWatch, JumpIsFlaggedBeyondWhatTheRatesAllow) {
  // 1 s at 100 ppm allows 100 µs, plus 1 µs of windows and 1 µs of threshold.
  PhcWatch watch(kLimits);
  EXPECT_EQ(watch.check(at(0, 0)), PhcEvent::kNone);
  EXPECT_EQ(watch.check(at(1, 90e-6)), PhcEvent::kNone);
  EXPECT_EQ(watch.check(at(2, 90e-6 - 200e-6)), PhcEvent::kJump);
}

TEST(PhcWatch, SlowDriftOverALongGapIsNoJump) {
  PhcWatch watch(kLimits);
  EXPECT_EQ(watch.check(at(0, 0)), PhcEvent::kNone);
  EXPECT_EQ(watch.check(at(100, 5e-3)), PhcEvent::kNone);  // 50 ppm for 100 s
}

TEST(PhcWatch, TheReadingAfterAJumpIsTheNewNormal) {
  PhcWatch watch(kLimits);
  watch.check(at(0, 0));
  EXPECT_EQ(watch.check(at(1, 0.5)), PhcEvent::kJump);
  EXPECT_EQ(watch.check(at(2, 0.5)), PhcEvent::kNone);
}

TEST(PhcWatch, ForgetAfterOurOwnStep) {
  PhcWatch watch(kLimits);
  watch.check(at(0, 0));
  watch.forget();
  EXPECT_EQ(watch.check(at(1, 0.5)), PhcEvent::kNone);
}

}  // namespace
}  // namespace kairos
