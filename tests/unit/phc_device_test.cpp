#include "hwts/phc_device.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "clock/sim_clock.hpp"
#include "hwts/sim_phc.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kEpoch = 1'800'000'000;

// A system clock and a PHC apart by 0.25 s and 150 ppm, read through SimPhc.
struct Bench {
  double now = 100.0;
  SimClock system{"system", [this] { return now; }, kEpoch, 0.0, 100e-6, 0.1};
  SimClock phc{"phc", [this] { return now; }, kEpoch, 0.25, -50e-6, 500e-6};
  std::optional<SimPhc> sim;

  explicit Bench(SimPhcOptions options = {}) { sim.emplace(system, phc, [this] { return now; }, options); }

  Result<PhcDevice> open(PhcAccess access = PhcAccess::kReadOnly) {
    return PhcDevice::open("/dev/ptp0", sim->syscalls(), access);
  }
  // PHC minus system at true time t, as both clocks count it. A SimClock read at a time before
  // its last reading answers for that later time, so t must not be before any reading taken:
  // pass sim->cursor() after readings.
  double true_offset(double t) { return phc.reading_at(t) - system.reading_at(t); }
};

SimPhcOptions precise_options() {
  SimPhcOptions o;
  o.precise = true;
  return o;
}

TEST(PhcDevice, ReadsCaps) {
  SimPhcOptions o = precise_options();
  o.max_adj = 62'499'999;
  Bench bench(o);
  auto device = bench.open();
  ASSERT_TRUE(device) << device.error().message;
  EXPECT_EQ(device->caps().max_adj, 62'499'999);
  EXPECT_TRUE(device->caps().cross_timestamping);
  EXPECT_FALSE(device->caps().pps);
  EXPECT_EQ(device->path(), "/dev/ptp0");
}

TEST(PhcDevice, OpensReadOnlyUnlessAskedToSteer) {
  Bench bench;
  {
    auto device = bench.open();
    ASSERT_TRUE(device);
    EXPECT_EQ(bench.sim->last_open_flags() & O_ACCMODE, O_RDONLY);
    auto clock = device->clock();
    ASSERT_FALSE(clock);
    EXPECT_NE(clock.error().message.find("read-only"), std::string::npos) << clock.error().message;
  }
  auto device = bench.open(PhcAccess::kReadWrite);
  ASSERT_TRUE(device);
  EXPECT_EQ(bench.sim->last_open_flags() & O_ACCMODE, O_RDWR);
  EXPECT_TRUE(device->clock());
}

TEST(PhcDevice, ClosesItsDescriptorButTheClockKeepsItOpen) {
  Bench bench;
  std::unique_ptr<ClockDevice> clock;
  {
    auto device = bench.open(PhcAccess::kReadWrite);
    ASSERT_TRUE(device);
    EXPECT_EQ(bench.sim->open_descriptors(), 1);
    clock = std::move(device->clock().value());
  }
  EXPECT_EQ(bench.sim->open_descriptors(), 1);
  EXPECT_TRUE(clock->set_frequency(1e-6));
  clock.reset();
  EXPECT_EQ(bench.sim->open_descriptors(), 0);
}

TEST(PhcDevice, PreciseIsPreferredWhenOffered) {
  Bench bench(precise_options());
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->cross_timestamp();
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kPrecise);
  EXPECT_EQ(ct->window, 0.0);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kPrecise), 1);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 0);
  EXPECT_NEAR(ct->offset, bench.true_offset(bench.now), 2e-9);
}

TEST(PhcDevice, PreciseMissingIsAskedOnceThenNeverAgain) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  for (int i = 0; i < 3; ++i) {
    auto ct = device->cross_timestamp();
    ASSERT_TRUE(ct);
    EXPECT_EQ(ct->method, CrossMethod::kExtended);
  }
  EXPECT_EQ(bench.sim->calls(CrossMethod::kPrecise), 1);
  EXPECT_FALSE(device->supports(CrossMethod::kPrecise));
}

// A driver (or clknetsim) may serve PTP_SYS_OFFSET_PRECISE without the caps flag: the caps alone
// once made kairosd settle for a worse method.
TEST(PhcDevice, PreciseServedWithoutTheCapsFlagIsUsed) {
  SimPhcOptions o = precise_options();
  o.precise_in_caps = false;
  Bench bench(o);
  auto device = bench.open();
  ASSERT_TRUE(device);
  EXPECT_FALSE(device->caps().cross_timestamping);
  auto ct = device->cross_timestamp();
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kPrecise);
}

TEST(PhcDevice, RefusedPreciseFallsBackToExtendedAndIsNeverTriedAgain) {
  Bench bench(precise_options());
  bench.sim->refuse(CrossMethod::kPrecise);
  auto device = bench.open();
  ASSERT_TRUE(device);
  for (int i = 0; i < 3; ++i) {
    auto ct = device->cross_timestamp();
    ASSERT_TRUE(ct) << ct.error().message;
    EXPECT_EQ(ct->method, CrossMethod::kExtended);
  }
  EXPECT_EQ(bench.sim->calls(CrossMethod::kPrecise), 1);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 3);
}

TEST(PhcDevice, RefusedExtendedFallsBackToBasic) {
  Bench bench;
  bench.sim->refuse(CrossMethod::kExtended);
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->cross_timestamp();
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kBasic);
  ASSERT_TRUE(device->cross_timestamp());
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 1);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kBasic), 2);
}

TEST(PhcDevice, RefusedIoctlsFallBackToTheSandwich) {
  Bench bench(precise_options());
  bench.sim->refuse(CrossMethod::kPrecise);
  bench.sim->refuse(CrossMethod::kExtended);
  bench.sim->refuse(CrossMethod::kBasic);
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->cross_timestamp(5);
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kSandwich);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kSandwich), 5);  // one PHC clock_gettime per reading
}

TEST(PhcDevice, NoMethodLeftIsAnError) {
  Bench bench;
  for (CrossMethod m : {CrossMethod::kExtended, CrossMethod::kBasic, CrossMethod::kSandwich}) bench.sim->refuse(m);
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->cross_timestamp();
  ASSERT_FALSE(ct);
  EXPECT_NE(ct.error().message.find("no cross-timestamp method works"), std::string::npos) << ct.error().message;
  EXPECT_FALSE(device->gone());
}

TEST(PhcDevice, OffsetMatchesTheTrueOffsetByEveryMethod) {
  // 9 readings with a 1 µs readout and 100 ns mean jitter each way. The PHC is latched
  // readout/2 + e1 after the first system reading and read again readout/2 + e2 later, so the
  // midpoint misses the latch by (e1 - e2) / 2: never more than half the window's excess over
  // the readout, and a few tens of ns on average.
  for (CrossMethod method :
       {CrossMethod::kPrecise, CrossMethod::kExtended, CrossMethod::kBasic, CrossMethod::kSandwich}) {
    Bench bench(precise_options());
    for (CrossMethod m : {CrossMethod::kPrecise, CrossMethod::kExtended, CrossMethod::kBasic}) {
      if (m < method) bench.sim->refuse(m);
    }
    auto device = bench.open();
    ASSERT_TRUE(device);
    double squares = 0;
    constexpr int kRuns = 50;
    for (int i = 0; i < kRuns; ++i) {
      bench.now += 1.0;
      auto ct = device->cross_timestamp(9);
      ASSERT_TRUE(ct) << ct.error().message;
      ASSERT_EQ(ct->method, method);
      // The clocks drift 150 ppm apart, 3 ns over the 20 µs the readings take: compare just after.
      const double error = ct->offset - bench.true_offset(bench.sim->cursor());
      const double excess = std::max(0.0, ct->window - 1e-6);
      EXPECT_LE(std::abs(error), excess / 2 + 4e-9) << to_string(method);
      EXPECT_LE(ct->window, 2e-6) << to_string(method);
      squares += error * error;
    }
    EXPECT_LT(std::sqrt(squares / kRuns), 50e-9) << to_string(method);
    if (method == CrossMethod::kPrecise) {
      EXPECT_LT(std::sqrt(squares / kRuns), 4e-9);
    }
  }
}

TEST(PhcDevice, BusyIsRetriedOnce) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  bench.sim->busy_for(1);
  auto ct = device->cross_timestamp();
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kExtended);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 2);
}

TEST(PhcDevice, BusyTwiceIsATransientError) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  bench.sim->busy_for(2);
  auto ct = device->cross_timestamp();
  ASSERT_FALSE(ct);
  EXPECT_NE(ct.error().message.find("busy"), std::string::npos) << ct.error().message;
  // Neither gone nor unsupported: the next poll works with the same method.
  EXPECT_FALSE(device->gone());
  EXPECT_TRUE(device->supports(CrossMethod::kExtended));
  EXPECT_EQ(bench.sim->calls(CrossMethod::kBasic), 0);
  auto next = device->cross_timestamp();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->method, CrossMethod::kExtended);
}

TEST(PhcDevice, RemovedDeviceIsGoneUntilOpenedAgain) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  bench.sim->remove();
  auto ct = device->cross_timestamp();
  ASSERT_FALSE(ct);
  EXPECT_TRUE(device->gone());
  EXPECT_NE(ct.error().message.find("gone"), std::string::npos) << ct.error().message;
  EXPECT_FALSE(device->frequency_ppb());
  // While it is away it cannot be opened either.
  auto reopened = bench.open();
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.error().message.find("no such device"), std::string::npos) << reopened.error().message;
  // Back: the old descriptor stays dead, a new one works.
  bench.sim->restore();
  const int calls = bench.sim->calls(CrossMethod::kExtended);
  EXPECT_FALSE(device->cross_timestamp());
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), calls);  // not even tried
  reopened = bench.open();
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_TRUE(reopened->cross_timestamp());
}

TEST(PhcDevice, ReadingsOutOfRangeAreRefused) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  EXPECT_FALSE(device->cross_timestamp(0));
  EXPECT_FALSE(device->cross_timestamp(26));
  EXPECT_TRUE(device->cross_timestamp(25));
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 1);
}

TEST(PhcDevice, MonotonicRawOffsetByPrecise) {
  Bench bench(precise_options());
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->read_offset_to(CLOCK_MONOTONIC_RAW);
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kPrecise);
  // PHC in Unix time minus the raw clock (1000 s at true time 0).
  const double expected = static_cast<double>(kEpoch) + bench.phc.reading_at(bench.now) - (1000.0 + bench.now);
  EXPECT_NEAR(ct->offset, expected, 1e-6);
}

TEST(PhcDevice, MonotonicRawOffsetBySandwichWithoutPrecise) {
  Bench bench;
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ct = device->read_offset_to(CLOCK_MONOTONIC_RAW);
  ASSERT_TRUE(ct) << ct.error().message;
  EXPECT_EQ(ct->method, CrossMethod::kSandwich);
  const double t = bench.sim->cursor();
  const double expected = static_cast<double>(kEpoch) + bench.phc.reading_at(t) - (1000.0 + t);
  EXPECT_NEAR(ct->offset, expected, 1e-6);
  EXPECT_EQ(bench.sim->calls(CrossMethod::kExtended), 0);  // the ioctls read CLOCK_REALTIME only
}

TEST(PhcDevice, FrequencyReadsPpbOnAReadOnlyDescriptor) {
  Bench bench;
  ASSERT_TRUE(bench.phc.set_frequency(-12.5e-6));
  auto device = bench.open();
  ASSERT_TRUE(device);
  auto ppb = device->frequency_ppb();
  ASSERT_TRUE(ppb) << ppb.error().message;
  EXPECT_NEAR(*ppb, -12'500.0, 0.02);
}

TEST(PhcDevice, MaxAdjZeroRefusesToSteer) {
  SimPhcOptions o;
  o.max_adj = 0;
  Bench bench(o);
  auto device = bench.open(PhcAccess::kReadWrite);
  ASSERT_TRUE(device);
  auto clock = device->clock();
  ASSERT_TRUE(clock) << clock.error().message;
  EXPECT_EQ((*clock)->max_frequency(), 0.0);
  const double before = bench.phc.offset_at(bench.now);
  for (auto r : {(*clock)->set_frequency(1e-6), (*clock)->step(0.5)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "/dev/ptp0 is read-only (max_adj 0)");
  }
  EXPECT_EQ(bench.phc.offset_at(bench.now), before);
  EXPECT_EQ(*bench.phc.frequency(), 0.0);
}

TEST(PhcDevice, FrequencyIsLimitedToMaxAdj) {
  SimPhcOptions o;
  o.max_adj = 100'000;  // 100 ppm
  Bench bench(o);
  auto device = bench.open(PhcAccess::kReadWrite);
  ASSERT_TRUE(device);
  auto clock = std::move(device->clock().value());
  EXPECT_DOUBLE_EQ(clock->max_frequency(), 100e-6);
  EXPECT_FALSE(clock->set_frequency(150e-6));
  EXPECT_EQ(*bench.phc.frequency(), 0.0);
  ASSERT_TRUE(clock->set_frequency(-80e-6));
  EXPECT_NEAR(*bench.phc.frequency(), -80e-6, 1e-12);
  EXPECT_NEAR(device->frequency_ppb().value(), -80'000.0, 0.02);
}

TEST(PhcDevice, ClockStepsThePhc) {
  Bench bench;
  auto device = bench.open(PhcAccess::kReadWrite);
  ASSERT_TRUE(device);
  auto clock = std::move(device->clock().value());
  const double before = bench.phc.offset_at(bench.now);
  ASSERT_TRUE(clock->step(-0.3));
  EXPECT_NEAR(bench.phc.offset_at(bench.now) - before, -0.3, 1e-9);
  // The system clock was not touched.
  EXPECT_NEAR(bench.system.offset_at(bench.now), 100e-6 * bench.now, 1e-9);
}

// --- the real kernel, read only ---

TEST(PhcDevice, MissingRealDeviceSaysNoSuchDevice) {
  struct stat st {};
  if (::stat("/dev/ptp0", &st) == 0) GTEST_SKIP() << "this machine has /dev/ptp0";
  auto device = PhcDevice::open("/dev/ptp0");
  ASSERT_FALSE(device);
  EXPECT_NE(device.error().message.find("/dev/ptp0: no such device"), std::string::npos) << device.error().message;
}

TEST(PhcDevice, RealNonPtpDeviceIsRefused) {
  auto device = PhcDevice::open("/dev/null");
  ASSERT_FALSE(device);
  EXPECT_NE(device.error().message.find("PTP_CLOCK_GETCAPS"), std::string::npos) << device.error().message;
}

}  // namespace
}  // namespace kairos
