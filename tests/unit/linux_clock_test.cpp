#include "hwts/linux_clock.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <ctime>
#include <vector>

namespace kairos {
namespace {

constexpr long kNominalTick = 10'000;  // USER_HZ 100
constexpr long kScaledPpm = 65536;

// A kernel that keeps a timex state, answers reads from it, applies writes to it as the real
// kernel would for the fields we use, and records every timex it was given. It never touches
// a real clock.
struct FakeKernel {
  timex state{};
  std::vector<clockid_t> ids;
  std::vector<timex> calls;  // each timex as the clock handed it over
  int fail_with = 0;         // errno to fail every call with; 0 = succeed

  FakeKernel() {
    state.tick = kNominalTick;
    state.status = STA_UNSYNC;
  }

  KernelClock::Syscalls syscalls() {
    return {
        [this](clockid_t id, timex* tx) { return adjtime(id, tx); },
        [this](clockid_t id, timespec* ts) {
          ids.push_back(id);
          if (fail_with != 0) {
            errno = fail_with;
            return -1;
          }
          ts->tv_sec = 1'700'000'000;
          ts->tv_nsec = 5;
          return 0;
        },
    };
  }

  int adjtime(clockid_t id, timex* tx) {
    ids.push_back(id);
    calls.push_back(*tx);
    if (fail_with != 0) {
      errno = fail_with;
      return -1;
    }
    if (tx->modes & ADJ_FREQUENCY) state.freq = tx->freq;
    if (tx->modes & ADJ_TICK) state.tick = tx->tick;
    if (tx->modes & ADJ_STATUS) state.status = tx->status;
    if (tx->modes & ADJ_MAXERROR) state.maxerror = tx->maxerror;
    if (tx->modes & ADJ_ESTERROR) state.esterror = tx->esterror;
    if (tx->modes & ADJ_TAI) state.tai = static_cast<int>(tx->constant);
    *tx = state;
    return TIME_OK;
  }

  std::vector<timex> writes() const {
    std::vector<timex> out;
    for (const timex& tx : calls) {
      if (tx.modes != 0) out.push_back(tx);
    }
    return out;
  }
};

std::unique_ptr<KernelClock> system_clock(FakeKernel& kernel) {
  return std::make_unique<KernelClock>(KernelClock::Kind::kSystem, CLOCK_REALTIME, "system", 0.1,
                                       kernel.syscalls(), kNominalTick);
}

constexpr double kPhcMaxFrequency = 100e-6;  // max_adj 100000 ppb

std::unique_ptr<KernelClock> phc(FakeKernel& kernel) {
  return std::make_unique<KernelClock>(KernelClock::Kind::kPhc, phc_clock_id(7), "/dev/ptp0", kPhcMaxFrequency,
                                       kernel.syscalls());
}

// --- split_frequency and step_timeval ---

TEST(SplitFrequency, WithinFivehundredPpmKeepsNominalTick) {
  const FrequencySplit split = split_frequency(-123.5e-6, kNominalTick);
  EXPECT_EQ(split.tick, kNominalTick);
  EXPECT_EQ(split.freq_scaled, std::lround(-123.5 * kScaledPpm));
}

TEST(SplitFrequency, ExactlyFivehundredPpmStillFitsFreq) {
  const FrequencySplit split = split_frequency(500e-6, kNominalTick);
  EXPECT_EQ(split.tick, kNominalTick);
  EXPECT_EQ(split.freq_scaled, kMaxFreqScaled);
}

TEST(SplitFrequency, BeyondFivehundredPpmTickTakesTheNearestWholeStep) {
  // One tick unit is 100 ppm at tick 10000: 830 ppm = 8 ticks + 30 ppm.
  const FrequencySplit split = split_frequency(830e-6, kNominalTick);
  EXPECT_EQ(split.tick, 10'008);
  EXPECT_EQ(split.freq_scaled, 30 * kScaledPpm);
}

TEST(SplitFrequency, TenPercentIsTheKernelTickLimit) {
  EXPECT_EQ(split_frequency(0.1, kNominalTick).tick, 11'000);
  EXPECT_EQ(split_frequency(-0.1, kNominalTick).tick, 9'000);
  EXPECT_EQ(split_frequency(0.1, kNominalTick).freq_scaled, 0);
}

TEST(SplitFrequency, TickAndFreqAddBackToTheRequest) {
  for (double ppm : {501.0, -501.0, 777.777, -2345.678, 64'321.0, -99'999.0}) {
    const FrequencySplit split = split_frequency(ppm * 1e-6, kNominalTick);
    const double back = static_cast<double>(split.tick - kNominalTick) / kNominalTick * 1e6 +
                        static_cast<double>(split.freq_scaled) / kScaledPpm;
    EXPECT_NEAR(back, ppm, 1.0 / kScaledPpm) << ppm;
    EXPECT_LE(std::abs(split.freq_scaled), 50 * kScaledPpm) << ppm;
  }
}

TEST(StepTimeval, NegativeFractionBorrowsASecond) {
  const timeval tv = step_timeval(-0.3);
  EXPECT_EQ(tv.tv_sec, -1);
  EXPECT_EQ(tv.tv_usec, 700'000'000);
}

TEST(StepTimeval, WholeAndMixedValues) {
  EXPECT_EQ(step_timeval(-1.0).tv_sec, -1);
  EXPECT_EQ(step_timeval(-1.0).tv_usec, 0);
  EXPECT_EQ(step_timeval(-2.5).tv_sec, -3);
  EXPECT_EQ(step_timeval(-2.5).tv_usec, 500'000'000);
  EXPECT_EQ(step_timeval(3.000000001).tv_sec, 3);
  EXPECT_EQ(step_timeval(3.000000001).tv_usec, 1);
}

TEST(StepTimeval, FractionRoundingUpToASecondCarries) {
  const timeval tv = step_timeval(0.9999999999);
  EXPECT_EQ(tv.tv_sec, 1);
  EXPECT_EQ(tv.tv_usec, 0);
}

TEST(PhcClockId, IsTheKernelsDynamicClockEncoding) {
  // FD_TO_CLOCKID: the inverted descriptor shifted left by 3, low bits CLOCKFD (3).
  EXPECT_EQ(phc_clock_id(3), (~3 << 3) | 3);
  EXPECT_EQ(phc_clock_id(3) & 7, 3);
  EXPECT_LT(phc_clock_id(0), 0);  // never a static clock id
}

// --- the system clock on a fake kernel ---

TEST(KernelClock, SetFrequencyWithinTickRangeUsesFreqOnly) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_frequency(300e-6));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_FREQUENCY | ADJ_TICK));
  EXPECT_EQ(writes[0].tick, kNominalTick);
  EXPECT_EQ(writes[0].freq, 300 * kScaledPpm);
  EXPECT_EQ(kernel.ids[0], CLOCK_REALTIME);
}

TEST(KernelClock, LargeFrequencyUsesTick) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_frequency(830e-6));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].tick, 10'008);
  EXPECT_EQ(writes[0].freq, 30 * kScaledPpm);
}

TEST(KernelClock, NegativeLargeFrequencyUsesTick) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_frequency(-1234e-6));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].tick, 9'988);
  EXPECT_EQ(writes[0].freq, -34 * kScaledPpm);
}

TEST(KernelClock, ReturnWithinFreqRangeRestoresNominalTick) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_frequency(2000e-6));
  ASSERT_TRUE(clock->set_frequency(10e-6));
  EXPECT_EQ(kernel.state.tick, kNominalTick);
  EXPECT_EQ(kernel.state.freq, 10 * kScaledPpm);
}

TEST(KernelClock, FrequencyReadsTickAndFreq) {
  FakeKernel kernel;
  kernel.state.tick = 10'005;
  kernel.state.freq = 300 * kScaledPpm;
  auto clock = system_clock(kernel);
  auto f = clock->frequency();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_NEAR(*f, 800e-6, 1e-12);
  ASSERT_EQ(kernel.calls.size(), 1u);
  EXPECT_EQ(kernel.calls[0].modes, 0u);
}

TEST(KernelClock, FrequencyReadsBackWhatWasSet) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  for (double f : {0.0, 12.345e-6, -499.9e-6, 1234.5e-6, -0.0731}) {
    ASSERT_TRUE(clock->set_frequency(f));
    auto back = clock->frequency();
    ASSERT_TRUE(back);
    EXPECT_NEAR(*back, f, 1e-6 / kScaledPpm) << f;
  }
}

TEST(KernelClock, NaNFrequencyRefused) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  EXPECT_FALSE(clock->set_frequency(std::nan("")));
  EXPECT_FALSE(clock->set_frequency(INFINITY));
  EXPECT_FALSE(clock->set_frequency(-INFINITY));
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, FrequencyBeyondTenPercentRefused) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  auto r = clock->set_frequency(0.1001);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ppm"), std::string::npos) << r.error().message;
  EXPECT_TRUE(kernel.calls.empty());
  EXPECT_DOUBLE_EQ(clock->max_frequency(), 0.1);
}

// [clock.system] max-drift reaches the kernel's seam: beyond it nothing is written, so ADJ_TICK
// (which reaches 10 %) is never used for more than the configured limit.
TEST(KernelClock, SystemClockWithALimitRefusesMoreThanIt) {
  FakeKernel kernel;
  auto clock = KernelClock::system(kernel.syscalls(), 500e-6);
  EXPECT_DOUBLE_EQ(clock->max_frequency(), 500e-6);
  EXPECT_FALSE(clock->set_frequency(600e-6));
  EXPECT_FALSE(clock->set_frequency(-0.05));
  EXPECT_TRUE(kernel.calls.empty());
  ASSERT_TRUE(clock->set_frequency(-500e-6));
  ASSERT_EQ(kernel.calls.size(), 1u);
  EXPECT_EQ(kernel.calls[0].tick, kNominalTick);
  // Never more than the tick's reach, whatever is asked for.
  EXPECT_DOUBLE_EQ(KernelClock::system(kernel.syscalls(), 1.0)->max_frequency(), 0.1);
}

TEST(KernelClock, StepSetsOffsetNano) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->step(1.25));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_SETOFFSET | ADJ_NANO));
  EXPECT_EQ(writes[0].time.tv_sec, 1);
  EXPECT_EQ(writes[0].time.tv_usec, 250'000'000);
}

TEST(KernelClock, NegativeStepNormalized) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->step(-0.3));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].time.tv_sec, -1);
  EXPECT_EQ(writes[0].time.tv_usec, 700'000'000);
}

TEST(KernelClock, NaNStepRefused) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  EXPECT_FALSE(clock->step(std::nan("")));
  EXPECT_FALSE(clock->step(1e30));
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, LeapInsertKeepsOtherStatusBits) {
  FakeKernel kernel;
  kernel.state.status = STA_UNSYNC | STA_DEL | STA_NANO | STA_PPSFREQ;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_leap(Leap::kInsert));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_STATUS));
  EXPECT_EQ(writes[0].status, STA_UNSYNC | STA_INS | STA_NANO | STA_PPSFREQ);
}

TEST(KernelClock, LeapDeleteClearsInsert) {
  FakeKernel kernel;
  kernel.state.status = STA_INS;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_leap(Leap::kDelete));
  EXPECT_EQ(kernel.state.status, STA_DEL);
}

TEST(KernelClock, LeapNoneDisarmsBoth) {
  FakeKernel kernel;
  kernel.state.status = STA_INS | STA_DEL | STA_UNSYNC;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_leap(Leap::kNone));
  EXPECT_EQ(kernel.state.status, STA_UNSYNC);
}

TEST(KernelClock, UnsynchronizedIsNoLeapToArm) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  EXPECT_FALSE(clock->set_leap(Leap::kUnsynchronized));
  EXPECT_TRUE(kernel.writes().empty());
}

TEST(KernelClock, ErrorEstimateClampedTo16s) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_error_estimate({.max_error = 100.0, .est_error = 0.0000015, .synchronized = true}));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS));
  EXPECT_EQ(writes[0].maxerror, 16'000'000);
  EXPECT_EQ(writes[0].esterror, 2);  // 1.5 µs, rounded up
  ASSERT_TRUE(clock->set_error_estimate({.max_error = INFINITY, .est_error = 16.5, .synchronized = false}));
  EXPECT_EQ(kernel.state.maxerror, 16'000'000);
  EXPECT_EQ(kernel.state.esterror, 16'000'000);
}

TEST(KernelClock, UnsyncedEstimateSetsStaUnsync) {
  FakeKernel kernel;
  kernel.state.status = STA_INS | STA_NANO;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_error_estimate({.max_error = 1.0, .est_error = 0.1, .synchronized = false}));
  EXPECT_EQ(kernel.state.status, STA_INS | STA_NANO | STA_UNSYNC);
  EXPECT_EQ(kernel.state.maxerror, 1'000'000);
  EXPECT_EQ(kernel.state.esterror, 100'000);
}

TEST(KernelClock, SynchronizedEstimateClearsUnsyncAndKernelPll) {
  FakeKernel kernel;
  kernel.state.status = STA_UNSYNC | STA_PLL | STA_DEL | STA_NANO;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_error_estimate({.max_error = 0.01, .est_error = 0.001, .synchronized = true}));
  EXPECT_EQ(kernel.state.status, STA_DEL | STA_NANO);
}

TEST(KernelClock, NegativeOrNaNEstimateRefused) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  EXPECT_FALSE(clock->set_error_estimate({.max_error = -1.0, .est_error = 0.1, .synchronized = true}));
  EXPECT_FALSE(clock->set_error_estimate({.max_error = 1.0, .est_error = std::nan(""), .synchronized = true}));
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, KernelRefusalIsReportedWithErrnoText) {
  FakeKernel kernel;
  kernel.fail_with = EPERM;
  auto clock = system_clock(kernel);
  auto r = clock->set_frequency(1e-6);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("system"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("Operation not permitted"), std::string::npos) << r.error().message;
  EXPECT_FALSE(clock->now());
  EXPECT_FALSE(clock->frequency());
  EXPECT_FALSE(clock->set_leap(Leap::kInsert));
}

TEST(KernelClock, NowReadsTheClockItWasGiven) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  auto t = clock->now();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->tv_sec, 1'700'000'000);
  EXPECT_EQ(t->tv_nsec, 5);
  ASSERT_EQ(kernel.ids.size(), 1u);
  EXPECT_EQ(kernel.ids[0], phc_clock_id(7));
}

TEST(KernelClock, TaiOffsetIsSetWithAdjTaiAlone) {
  FakeKernel kernel;
  kernel.state.status = STA_INS | STA_UNSYNC;
  auto clock = system_clock(kernel);
  ASSERT_TRUE(clock->set_tai_offset(37));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_TAI));
  EXPECT_EQ(writes[0].constant, 37);
  EXPECT_EQ(kernel.state.tai, 37);
  EXPECT_EQ(kernel.state.status, STA_INS | STA_UNSYNC);  // nothing else touched
}

TEST(KernelClock, NegativeTaiOffsetRefused) {
  FakeKernel kernel;
  auto clock = system_clock(kernel);
  EXPECT_FALSE(clock->set_tai_offset(-1));
  EXPECT_TRUE(kernel.writes().empty());
}

// --- a PHC on a fake kernel ---

TEST(KernelClock, PhcRefusesTaiOffset) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  EXPECT_FALSE(clock->set_tai_offset(37));
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, PhcRefusesLeap) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  auto r = clock->set_leap(Leap::kInsert);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("leap seconds are the system clock's"), std::string::npos);
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, PhcFrequencyBeyondMaxAdjRefused) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  EXPECT_FALSE(clock->set_frequency(150e-6));
  EXPECT_FALSE(clock->set_frequency(-100.1e-6));
  EXPECT_TRUE(kernel.calls.empty());
  ASSERT_TRUE(clock->set_frequency(-100e-6));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_FREQUENCY));  // never tick on a PHC
  EXPECT_EQ(writes[0].freq, -100 * kScaledPpm);
}

TEST(KernelClock, PhcFrequencyIsFreqAlone) {
  FakeKernel kernel;
  kernel.state.tick = 10'005;  // meaningless for a PHC
  kernel.state.freq = -25 * kScaledPpm;
  auto clock = phc(kernel);
  auto f = clock->frequency();
  ASSERT_TRUE(f);
  EXPECT_NEAR(*f, -25e-6, 1e-15);
}

TEST(KernelClock, PhcErrorEstimateIsNoOp) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  EXPECT_TRUE(clock->set_error_estimate({.max_error = 1.0, .est_error = 0.5, .synchronized = true}));
  EXPECT_TRUE(kernel.calls.empty());
}

TEST(KernelClock, PhcStepSetsOffsetNano) {
  FakeKernel kernel;
  auto clock = phc(kernel);
  ASSERT_TRUE(clock->step(-2.000000250));
  const auto writes = kernel.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].modes, static_cast<unsigned>(ADJ_SETOFFSET | ADJ_NANO));
  EXPECT_EQ(writes[0].time.tv_sec, -3);
  EXPECT_EQ(writes[0].time.tv_usec, 999'999'750);
}

TEST(KernelClock, PhcWithMaxAdjZeroIsReadOnly) {
  FakeKernel kernel;
  KernelClock clock(KernelClock::Kind::kPhc, phc_clock_id(7), "/dev/ptp3", 0.0, kernel.syscalls());
  EXPECT_TRUE(clock.read_only());
  for (auto r : {clock.set_frequency(0.0), clock.set_frequency(1e-9), clock.step(1e-6)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "/dev/ptp3 is read-only (max_adj 0)");
  }
  EXPECT_TRUE(kernel.writes().empty());
  // Reading still works.
  EXPECT_TRUE(clock.now());
  EXPECT_TRUE(clock.frequency());
}

TEST(KernelClock, SystemClockIsNeverReadOnly) {
  FakeKernel kernel;
  EXPECT_FALSE(system_clock(kernel)->read_only());
  EXPECT_FALSE(phc(kernel)->read_only());
}

// --- the real kernel, read only ---

TEST(KernelClock, RealSystemClockReadsTimeAndFrequency) {
  // Only reads: now() is clock_gettime and frequency() is clock_adjtime with modes 0.
  auto clock = KernelClock::system();
  EXPECT_EQ(clock->name(), "system");
  EXPECT_EQ(clock->id(), CLOCK_REALTIME);
  auto t = clock->now();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_LE(std::abs(static_cast<double>(t->tv_sec - std::time(nullptr))), 2.0);
  auto f = clock->frequency();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_LE(std::abs(*f), 0.1 + 500e-6);
}

TEST(KernelClock, OpenPhcOnMissingPathNamesThePath) {
  auto clock = KernelClock::open_phc("/dev/ptp-kairos-missing");
  ASSERT_FALSE(clock);
  EXPECT_NE(clock.error().message.find("/dev/ptp-kairos-missing"), std::string::npos) << clock.error().message;
  EXPECT_NE(clock.error().message.find("No such file or directory"), std::string::npos) << clock.error().message;
}

TEST(KernelClock, OpenPhcOnANonPtpDeviceFails) {
  auto clock = KernelClock::open_phc("/dev/null");
  ASSERT_FALSE(clock);
  EXPECT_NE(clock.error().message.find("/dev/null"), std::string::npos) << clock.error().message;
  EXPECT_NE(clock.error().message.find("PTP_CLOCK_GETCAPS"), std::string::npos) << clock.error().message;
}

}  // namespace
}  // namespace kairos
