#include "clock/observed_clock.hpp"

#include <gtest/gtest.h>

#include "clock/discipline.hpp"
#include "clock/sim_clock.hpp"

namespace kairos {
namespace {

struct ObservedClockTest : ::testing::Test {
  double t = 0;
  SimClock real{"real", [this] { return t; }, 1'700'000'000, 0.0, 0.0, 500e-6};
  ObservedClock observed{real, [this] { return t; }};
};

TEST_F(ObservedClockTest, FrequencyAndStepsStayVirtual) {
  ASSERT_TRUE(observed.set_frequency(10e-6));
  t = 100;
  ASSERT_TRUE(observed.step(0.25));
  t = 200;
  EXPECT_NEAR(observed.correction(t), 100 * 10e-6 + 0.25 + 100 * 10e-6, 1e-12);
  // The real clock never moved.
  EXPECT_EQ(*real.frequency(), 0.0);
  EXPECT_DOUBLE_EQ(real.offset_at(t), 0.0);
  EXPECT_EQ(observed.steps(), 1u);
}

TEST_F(ObservedClockTest, NowIsTheRealReadingPlusTheCorrection) {
  ASSERT_TRUE(observed.step(-1.5));
  t = 10;
  auto real_now = real.now();
  auto now = observed.now();
  ASSERT_TRUE(real_now && now);
  const double diff = static_cast<double>(now->tv_sec - real_now->tv_sec) + static_cast<double>(now->tv_nsec - real_now->tv_nsec) * 1e-9;
  EXPECT_NEAR(diff, -1.5, 1e-9);
  EXPECT_GE(now->tv_nsec, 0);
  EXPECT_LT(now->tv_nsec, 1'000'000'000);
}

TEST_F(ObservedClockTest, OutOfRangeFrequencyIsRefused) {
  EXPECT_FALSE(observed.set_frequency(1e-3));
  EXPECT_FALSE(observed.set_frequency(std::nan("")));
  EXPECT_FALSE(observed.step(std::nan("")));
}

// The model run on an observed clock learns the real clock's error: the real clock runs 20 ppm
// fast and is 3 ms ahead; measurements against it, with the correction taken out, converge and
// the model's offset plus the correction tells the real clock's offset.
TEST(ObservedClockModel, LearnsTheRealClocksOffsetWithoutTouchingIt) {
  double t = 0;
  SimClock real{"real", [&] { return t; }, 1'700'000'000, 3e-3, 20e-6, 500e-6};
  ObservedClock observed{real, [&] { return t; }};
  DisciplineOptions options;
  options.init_wait = 0;
  Discipline discipline(observed, options);
  discipline.add_source(SourceOptions{.name = "server"});
  for (int i = 0; i < 200; ++i) {
    t = 16.0 * i;
    Measurement m;
    m.time = t;
    m.offset = -real.offset_at(t) - observed.correction(t);  // reference minus corrected clock
    m.delay = 1e-4;
    m.precision = 1e-7;
    discipline.on_measurement(0, m, t);
    if (auto timer = discipline.next_timer(); timer && *timer <= t + 16) {
      t = *timer;
      discipline.on_timer(t);
    }
  }
  t += 1;
  EXPECT_EQ(*real.frequency(), 0.0);
  EXPECT_TRUE(discipline.synchronized());
  // The corrected clock is on time: its correction cancels the real clock's error.
  EXPECT_NEAR(real.offset_at(t) + observed.correction(t), 0.0, 1e-6);
}

}  // namespace
}  // namespace kairos
