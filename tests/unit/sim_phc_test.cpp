#include "hwts/sim_phc.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ptp_clock.h>

#include <cerrno>
#include <cstdint>
#include <optional>

#include "hwts/phc_device.hpp"
#include "hwts/phc_watch.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kEpoch = 1'800'000'000;

struct Bench {
  double now = 10.0;
  SimClock system{"system", [this] { return now; }, kEpoch, 0.0, 20e-6, 0.1};
  SimClock phc{"phc", [this] { return now; }, kEpoch, -0.5, 0.0, 500e-6};
  std::optional<SimPhc> sim;
  PhcSyscalls calls;

  explicit Bench(SimPhcOptions options = {}) {
    sim.emplace(system, phc, [this] { return now; }, options);
    calls = sim->syscalls();
  }
};

TEST(SimPhc, OpensOnlyItsOwnPath) {
  Bench bench;
  errno = 0;
  EXPECT_EQ(bench.calls.open("/dev/ptp1", O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
  const int fd = bench.calls.open("/dev/ptp0", O_RDONLY);
  EXPECT_GE(fd, 1000);
  EXPECT_EQ(bench.calls.close(fd), 0);
  EXPECT_EQ(bench.calls.close(fd), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(SimPhc, NeverReachesARealClock) {
  Bench bench;
  timex tx{};
  timespec ts{};
  // Clocks it does not simulate, and dynamic ids of descriptors it did not open, fail.
  for (clockid_t id : {CLOCK_MONOTONIC, CLOCK_TAI, CLOCK_BOOTTIME, phc_clock_id(3)}) {
    tx = timex{};
    tx.modes = ADJ_FREQUENCY;
    tx.freq = 65536;
    errno = 0;
    EXPECT_EQ(bench.calls.adjtime(id, &tx), -1) << id;
    EXPECT_EQ(errno, EINVAL) << id;
    EXPECT_EQ(bench.calls.gettime(id, &ts), -1) << id;
  }
  // CLOCK_REALTIME is the simulated system clock.
  tx = timex{};
  tx.modes = ADJ_FREQUENCY;
  tx.freq = 3 * 65536;  // 3 ppm
  ASSERT_GE(bench.calls.adjtime(CLOCK_REALTIME, &tx), 0);
  EXPECT_NEAR(*bench.system.frequency(), 3e-6, 1e-15);
  ASSERT_EQ(bench.calls.gettime(CLOCK_REALTIME, &ts), 0);
  EXPECT_EQ(ts.tv_sec, kEpoch + 10);
  // Anything but frequency and offset (tick, status, ...) is refused rather than ignored.
  tx = timex{};
  tx.modes = ADJ_TICK;
  tx.tick = 10'001;
  EXPECT_EQ(bench.calls.adjtime(CLOCK_REALTIME, &tx), -1);
  EXPECT_EQ(bench.calls.ioctl(4, PTP_CLOCK_GETCAPS, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(SimPhc, ReadOnlyDescriptorReadsButCannotAdjust) {
  Bench bench;
  const int fd = bench.calls.open("/dev/ptp0", O_RDONLY);
  timex tx{};
  EXPECT_GE(bench.calls.adjtime(phc_clock_id(fd), &tx), 0);
  tx.modes = ADJ_FREQUENCY;
  tx.freq = 65536;
  errno = 0;
  EXPECT_EQ(bench.calls.adjtime(phc_clock_id(fd), &tx), -1);
  EXPECT_EQ(errno, EACCES);
  EXPECT_EQ(*bench.phc.frequency(), 0.0);
}

TEST(SimPhc, FrequencyBeyondMaxAdjIsOutOfRange) {
  SimPhcOptions o;
  o.max_adj = 1000;  // 1 ppm
  Bench bench(o);
  const int fd = bench.calls.open("/dev/ptp0", O_RDWR);
  timex tx{};
  tx.modes = ADJ_FREQUENCY;
  tx.freq = 2 * 65536;  // 2 ppm
  errno = 0;
  EXPECT_EQ(bench.calls.adjtime(phc_clock_id(fd), &tx), -1);
  EXPECT_EQ(errno, ERANGE);
}

TEST(SimPhc, SetOffsetStepsThePhcByNanoseconds) {
  Bench bench;
  const int fd = bench.calls.open("/dev/ptp0", O_RDWR);
  timex tx{};
  tx.modes = ADJ_SETOFFSET | ADJ_NANO;
  tx.time.tv_sec = -1;
  tx.time.tv_usec = 999'999'750;  // -250 ns
  ASSERT_GE(bench.calls.adjtime(phc_clock_id(fd), &tx), 0);
  EXPECT_NEAR(bench.phc.offset_at(bench.now), -0.5 - 250e-9, 1e-12);
  tx.time.tv_usec = 1'000'000'000;
  EXPECT_EQ(bench.calls.adjtime(phc_clock_id(fd), &tx), -1);
}

TEST(SimPhc, ExtendedReadingsFollowTheReadoutModel) {
  SimPhcOptions o;
  o.readout_delay = 1e-6;
  o.readout_jitter = 100e-9;
  Bench bench(o);
  const int fd = bench.calls.open("/dev/ptp0", O_RDONLY);
  ptp_sys_offset_extended e{};
  e.n_samples = PTP_MAX_SAMPLES;
  ASSERT_EQ(bench.calls.ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &e), 0);
  double total = 0;
  for (unsigned i = 0; i < e.n_samples; ++i) {
    // System time runs 20 ppm fast; over microseconds that is far below a nanosecond.
    const double window = static_cast<double>(e.ts[i][2].sec - e.ts[i][0].sec) +
                          (static_cast<double>(e.ts[i][2].nsec) - static_cast<double>(e.ts[i][0].nsec)) * 1e-9;
    EXPECT_GE(window, 1e-6 - 1e-9);
    total += window;
  }
  // Mean window: the delay plus two exponential halves of 100 ns each.
  EXPECT_NEAR(total / PTP_MAX_SAMPLES, 1.2e-6, 0.1e-6);
  // The cursor advanced through every reading and its gap.
  EXPECT_NEAR(bench.sim->cursor() - bench.now, total + PTP_MAX_SAMPLES * 1e-6, 1e-7);
  // The kernel's limits.
  e.n_samples = PTP_MAX_SAMPLES + 1;
  EXPECT_EQ(bench.calls.ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &e), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(SimPhc, SameSeedGivesTheSameReadings) {
  auto read = [](std::uint64_t seed) {
    SimPhcOptions o;
    o.seed = seed;
    Bench bench(o);
    auto device = PhcDevice::open("/dev/ptp0", bench.calls);
    return device.value().cross_timestamp().value().offset;
  };
  EXPECT_EQ(read(7), read(7));
  EXPECT_NE(read(7), read(8));
}

TEST(SimPhc, LentGeneratorIsTheOneDrawnFrom) {
  std::mt19937_64 rng(99);
  Bench bench;
  SimPhc lent(bench.system, bench.phc, [&bench] { return bench.now; }, {}, &rng);
  auto device = PhcDevice::open("/dev/ptp0", lent.syscalls());
  ASSERT_TRUE(device);
  std::mt19937_64 untouched(99);
  ASSERT_TRUE(device->cross_timestamp(3));
  EXPECT_NE(rng(), untouched());  // draws were taken from `rng`
}

TEST(SimPhc, BusyCountsDownOverCrossTimestampIoctls) {
  Bench bench;
  const int fd = bench.calls.open("/dev/ptp0", O_RDONLY);
  bench.sim->busy_for(2);
  ptp_clock_caps caps{};
  EXPECT_EQ(bench.calls.ioctl(fd, PTP_CLOCK_GETCAPS, &caps), 0);  // caps are never busy
  ptp_sys_offset b{};
  b.n_samples = 1;
  EXPECT_EQ(bench.calls.ioctl(fd, PTP_SYS_OFFSET, &b), -1);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_EQ(bench.calls.ioctl(fd, PTP_SYS_OFFSET, &b), -1);
  EXPECT_EQ(bench.calls.ioctl(fd, PTP_SYS_OFFSET, &b), 0);
}

TEST(SimPhc, ResetPutsThePhcBackTo1970AndTheWatchSeesIt) {
  Bench bench;
  bench.sim->reset_at(20.0);
  auto device = PhcDevice::open("/dev/ptp0", bench.calls);
  ASSERT_TRUE(device);
  PhcWatch watch;
  auto before = device->cross_timestamp();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->phc_time.tv_sec, kEpoch + 9);  // 10 s minus the PHC's 0.5 s
  EXPECT_EQ(watch.check(*before), PhcEvent::kNone);
  bench.now = 21.0;
  auto after = device->cross_timestamp();
  ASSERT_TRUE(after);
  EXPECT_LT(after->phc_time.tv_sec, 10);  // a second after the Unix epoch
  EXPECT_EQ(watch.check(*after), PhcEvent::kReset);
}

TEST(SimPhc, ForeignStepOfThePhcIsAJump) {
  Bench bench;
  auto device = PhcDevice::open("/dev/ptp0", bench.calls);
  ASSERT_TRUE(device);
  PhcWatch watch;
  for (int i = 0; i < 5; ++i) {
    bench.now += 1.0;
    EXPECT_EQ(watch.check(device->cross_timestamp().value()), PhcEvent::kNone) << i;
  }
  ASSERT_TRUE(bench.phc.step(0.01));  // someone else's step of 10 ms
  bench.now += 1.0;
  EXPECT_EQ(watch.check(device->cross_timestamp().value()), PhcEvent::kJump);
  bench.now += 1.0;
  EXPECT_EQ(watch.check(device->cross_timestamp().value()), PhcEvent::kNone);
}

}  // namespace
}  // namespace kairos
