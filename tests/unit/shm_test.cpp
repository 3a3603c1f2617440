#include "daemon/shm_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"
#include "tools/kairos_now/kairos_now.h"
#include "tools/kairos_now/kairos_now.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::int64_t ns_of(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

timespec read_clock(clockid_t id) {
  timespec t{};
  ::clock_gettime(id, &t);
  return t;
}

// Edits the page in place the way no writer would (tests of damaged pages).
void tamper(const std::string& path, const std::function<void(kairos_shm_page&)>& edit) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, KAIROS_SHM_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(map, MAP_FAILED);
  edit(*static_cast<kairos_shm_page*>(map));
  ::munmap(map, KAIROS_SHM_FILE_SIZE);
}

ShmClock synchronized_clock(double offset, double bound, Steady::time_point t0) {
  ShmClock c;
  c.name = "system";
  c.synchronized = true;
  c.steered = true;
  c.t0 = t0;
  c.max_age = 10s;
  c.offset = offset;
  c.bound = bound;
  c.frequency = 0;
  c.drift = 1e-6;
  return c;
}

TEST(ShmPage, BoundContainsTheWritersTruth) {
  test::TempDir dir;
  const std::string path = dir.file("run/kairos/time.shm");
  auto writer = ShmWriter::create(path);
  ASSERT_TRUE(writer) << writer.error().message;
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(dir.file("run/kairos").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);

  // The model two seconds ago: 0.3 s behind, losing 10 ppm, ±1 ms.
  ShmClock c = synchronized_clock(0.3, 1e-3, Steady::now() - 2s);
  c.frequency = 1e-5;
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));

  TimePage page(path.c_str());
  ASSERT_TRUE(page.ok()) << page.error_message();
  EXPECT_EQ(page.clock_count(), 1);
  const timespec before = read_clock(CLOCK_REALTIME);
  const timespec mono_before = read_clock(CLOCK_MONOTONIC);
  kairos_time t{};
  ASSERT_EQ(page.now(0, t), 0);
  const timespec mono_after = read_clock(CLOCK_MONOTONIC);
  const timespec after = read_clock(CLOCK_REALTIME);
  EXPECT_TRUE(KAIROS_NOW_USABLE(t.status));
  EXPECT_TRUE(t.status & KAIROS_NOW_STEERED);

  const double t0 = static_cast<double>(c.t0.time_since_epoch().count()) * 1e-9;
  auto truth_ns = [&](const timespec& reading, const timespec& mono) {
    const double age = static_cast<double>(ns_of(mono)) * 1e-9 - t0;
    return static_cast<double>(ns_of(reading)) + (0.3 + 1e-5 * age) * 1e9;
  };
  // The reader's clock reading lies between ours, so the truth it describes lies between these.
  EXPECT_LE(static_cast<double>(ns_of(t.earliest)), truth_ns(after, mono_after));
  EXPECT_GE(static_cast<double>(ns_of(t.latest)), truth_ns(before, mono_before));
  // Width: 2 × (1 ms + 1 ppm × 2 s).
  const auto width = ns_of(t.latest) - ns_of(t.earliest);
  EXPECT_GE(width, 2'004'000);
  EXPECT_LE(width, 2'010'000);
}

TEST(ShmPage, TornPagesAreNeverAccepted) {
  test::TempDir dir;
  const std::string path = dir.file("time.shm");
  auto writer = ShmWriter::create(path);
  ASSERT_TRUE(writer) << writer.error().message;
  // Every field of record n follows from n, so a copy mixing two publications shows.
  auto record = [](std::uint64_t n) {
    ShmClock c;
    c.name = std::to_string(n);
    c.t0 = Steady::time_point(std::chrono::nanoseconds(n));
    c.max_age = std::chrono::nanoseconds(3 * n);
    c.bound = static_cast<double>(n);
    c.offset = -2.0 * c.bound;
    c.frequency = 4.0 * c.bound;
    c.drift = 8.0 * c.bound;
    c.synchronized = n % 2 == 0;
    return c;
  };
  std::vector<ShmClock> first{record(1), record(1)};
  ASSERT_TRUE((*writer)->publish(first));

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::thread writing([&] {
    std::vector<ShmClock> clocks(2);
    for (std::uint64_t n = 2; !stop.load(std::memory_order_relaxed); ++n) {
      clocks[0] = record(n);
      clocks[1] = record(n + 1'000'000'000);
      (void)(*writer)->publish(clocks);
      published.store(n, std::memory_order_relaxed);
    }
  });
  TimePage page(path.c_str());
  ASSERT_TRUE(page.ok()) << page.error_message();
  std::atomic<std::uint64_t> accepted{0}, torn{0}, busy{0}, backwards{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::uint64_t last = 0;
      const int index = r % 2;
      while (!stop.load(std::memory_order_relaxed)) {
        kairos_shm_clock c{};
        const int got = page.read_clock(index, c);
        if (got == KAIROS_E_BUSY) {
          ++busy;
          continue;
        }
        if (got != 0) {
          ++torn;
          continue;
        }
        const auto n = static_cast<std::uint64_t>(c.t0_ns);
        const double b = static_cast<double>(n);
        const bool consistent = std::to_string(n) == c.name && c.max_age_ns == static_cast<std::int64_t>(3 * n) &&
                                c.bound0 == b && c.offset0 == -2.0 * b && c.frequency == 4.0 * b &&
                                c.drift == 8.0 * b &&
                                ((c.flags & KAIROS_SHM_SYNCHRONIZED) != 0) == (n % 2 == 0);
        if (!consistent) ++torn;
        if (n < last) ++backwards;
        last = n;
        ++accepted;
      }
    });
  }
  std::this_thread::sleep_for(1s);
  stop = true;
  writing.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_GT(accepted.load(), 1000u) << busy.load() << " busy";
  EXPECT_GT(published.load(), 1000u);
}

TEST(ShmPage, OldRecordIsStale) {
  test::TempDir dir;
  auto writer = ShmWriter::create(dir.file("time.shm"));
  ASSERT_TRUE(writer) << writer.error().message;
  ShmClock c = synchronized_clock(0, 1e-3, Steady::now() - 30s);
  c.max_age = 3s;
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  TimePage page(dir.file("time.shm").c_str());
  kairos_time t{};
  ASSERT_EQ(page.now(0, t), 0);
  EXPECT_TRUE(t.status & KAIROS_NOW_STALE);
  EXPECT_TRUE(t.status & KAIROS_NOW_SYNCHRONIZED);
  EXPECT_FALSE(KAIROS_NOW_USABLE(t.status));
  // The bound still grew with the age: 1 ms + 1 ppm × 30 s.
  EXPECT_GE(ns_of(t.latest) - ns_of(t.earliest), 2'060'000);

  c.t0 = Steady::now();
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  ASSERT_EQ(page.now(0, t), 0);
  EXPECT_TRUE(KAIROS_NOW_USABLE(t.status));
}

TEST(ShmPage, UnsynchronizedClockHasNoBound) {
  test::TempDir dir;
  auto writer = ShmWriter::create(dir.file("time.shm"));
  ASSERT_TRUE(writer) << writer.error().message;
  ShmClock c = synchronized_clock(0.5, std::numeric_limits<double>::infinity(), Steady::now());
  c.synchronized = false;
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  TimePage page(dir.file("time.shm").c_str());
  kairos_time t{};
  ASSERT_EQ(page.now(0, t), 0);
  EXPECT_FALSE(t.status & KAIROS_NOW_SYNCHRONIZED);
  EXPECT_TRUE(t.status & KAIROS_NOW_UNBOUNDED);
  EXPECT_EQ(ns_of(t.earliest), ns_of(t.latest));  // the bare reading
}

TEST(ShmPage, WriterExitLeavesThePageUnsynchronized) {
  test::TempDir dir;
  auto writer = ShmWriter::create(dir.file("time.shm"));
  ASSERT_TRUE(writer) << writer.error().message;
  const ShmClock c = synchronized_clock(0, 1e-3, Steady::now());
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  TimePage page(dir.file("time.shm").c_str());
  kairos_time t{};
  ASSERT_EQ(page.now(0, t), 0);
  ASSERT_TRUE(KAIROS_NOW_USABLE(t.status));
  writer->reset();
  ASSERT_EQ(page.now(0, t), 0);
  EXPECT_FALSE(t.status & KAIROS_NOW_SYNCHRONIZED);
  EXPECT_FALSE(t.status & KAIROS_NOW_STEERED);
  EXPECT_TRUE(t.status & KAIROS_NOW_UNBOUNDED);
}

TEST(ShmPage, DamagedOrForeignPagesGetClearErrors) {
  test::TempDir dir;
  const std::string path = dir.file("time.shm");
  auto open_error = [&] {
    kairos_handle* h = nullptr;
    const int r = kairos_open(path.c_str(), &h);
    kairos_close(h);
    return r;
  };
  {
    auto writer = ShmWriter::create(path);
    ASSERT_TRUE(writer) << writer.error().message;
  }
  EXPECT_EQ(open_error(), 0);
  tamper(path, [](kairos_shm_page& p) { p.magic = 0xdeadbeef; });
  EXPECT_EQ(open_error(), KAIROS_E_MAGIC);
  tamper(path, [](kairos_shm_page& p) {
    p.magic = KAIROS_SHM_MAGIC;
    p.version_major = KAIROS_SHM_VERSION_MAJOR + 1;
  });
  EXPECT_EQ(open_error(), KAIROS_E_VERSION);
  tamper(path, [](kairos_shm_page& p) {
    p.version_major = KAIROS_SHM_VERSION_MAJOR;
    p.version_minor = KAIROS_SHM_VERSION_MINOR + 1;  // a later minor version is still read
  });
  EXPECT_EQ(open_error(), 0);
  tamper(path, [](kairos_shm_page& p) { p.clock_count = KAIROS_SHM_MAX_CLOCKS + 1; });
  EXPECT_EQ(open_error(), KAIROS_E_CORRUPT);
  tamper(path, [](kairos_shm_page& p) {
    p.clock_count = 0;
    p.size = 16;
  });
  EXPECT_EQ(open_error(), KAIROS_E_CORRUPT);
  ASSERT_EQ(::truncate(path.c_str(), 100), 0);
  EXPECT_EQ(open_error(), KAIROS_E_TRUNCATED);
  EXPECT_EQ(open_error(), KAIROS_E_TRUNCATED);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_EQ(open_error(), KAIROS_E_OPEN);

  TimePage missing(path.c_str());
  EXPECT_FALSE(missing.ok());
  kairos_time t{};
  EXPECT_EQ(missing.now(0, t), KAIROS_E_OPEN);
}

TEST(ShmPage, ReaderGivesUpWhenTheWriterDiedMidWrite) {
  test::TempDir dir;
  const std::string path = dir.file("time.shm");
  auto writer = ShmWriter::create(path);
  ASSERT_TRUE(writer) << writer.error().message;
  const ShmClock c = synchronized_clock(0, 1e-3, Steady::now());
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  TimePage page(path.c_str());
  ASSERT_TRUE(page.ok());
  tamper(path, [](kairos_shm_page& p) { p.sequence |= 1; });  // a writer killed in its critical section
  kairos_time t{};
  const auto start = Steady::now();
  EXPECT_EQ(page.now(0, t), KAIROS_E_BUSY);
  EXPECT_LT(Steady::now() - start, 1s);
  // A new writer takes the page over from the odd sequence.
  ASSERT_TRUE((*writer)->publish(std::span(&c, 1)));
  EXPECT_EQ(page.now(0, t), 0);
  EXPECT_TRUE(KAIROS_NOW_USABLE(t.status));
}

TEST(ShmPage, ClockIndexOutsideThePageIsRefused) {
  test::TempDir dir;
  auto writer = ShmWriter::create(dir.file("time.shm"));
  ASSERT_TRUE(writer) << writer.error().message;
  TimePage page(dir.file("time.shm").c_str());
  kairos_time t{};
  EXPECT_EQ(page.now(0, t), KAIROS_E_NO_CLOCK);
  EXPECT_EQ(page.now(-1, t), KAIROS_E_NO_CLOCK);
  std::vector<ShmClock> nine(KAIROS_SHM_MAX_CLOCKS + 1, synchronized_clock(0, 1, Steady::now()));
  EXPECT_FALSE((*writer)->publish(nine));
}

TEST(ShmBound, ImpossibleRecordsAreUnbounded) {
  kairos_shm_clock c{};
  c.flags = KAIROS_SHM_SYNCHRONIZED;
  c.max_age_ns = 1'000'000'000;
  const timespec reading{.tv_sec = 1'700'000'000, .tv_nsec = 5};
  kairos_time t{};
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 1e12}) {
    c.offset0 = bad;
    c.bound0 = 1e-3;
    ASSERT_EQ(kairos_bound_at(&c, &reading, 0, &t), 0);
    EXPECT_TRUE(t.status & KAIROS_NOW_UNBOUNDED) << bad;
    EXPECT_EQ(ns_of(t.earliest), ns_of(reading));
  }
  c.offset0 = 0;
  c.bound0 = -1;  // a negative half-width
  ASSERT_EQ(kairos_bound_at(&c, &reading, 0, &t), 0);
  EXPECT_TRUE(t.status & KAIROS_NOW_UNBOUNDED);
  // A t0 in the reader's future cannot be: stale.
  c.bound0 = 1e-3;
  c.t0_ns = 10;
  ASSERT_EQ(kairos_bound_at(&c, &reading, 0, &t), 0);
  EXPECT_TRUE(t.status & KAIROS_NOW_STALE);
  // Outward rounding: -1.5 ns .. +1.5 ns around a reading at .5 ns past a second boundary.
  c.t0_ns = 0;
  c.bound0 = 1.5e-9;
  ASSERT_EQ(kairos_bound_at(&c, &reading, 0, &t), 0);
  EXPECT_EQ(ns_of(t.earliest), ns_of(reading) - 2);
  EXPECT_EQ(ns_of(t.latest), ns_of(reading) + 2);
  EXPECT_TRUE(KAIROS_NOW_USABLE(t.status));
}

ClockStatus status(bool steered) {
  ClockStatus s;
  s.name = "system";
  s.state = DisciplineState::kSynchronized;
  s.steered = steered;
  s.offset = 2e-3;
  s.error_bound = 1e-4;
  s.frequency = 20e-6;
  s.frequency_sd = 0.5e-6;
  return s;
}

TEST(ShmFromStatus, ObservedClockDriftsAtTheModelsRate) {
  const ShmOptions options{.max_drift = 1e-6, .max_slew = 500e-6, .max_age = 3s};
  const auto t0 = Steady::now();
  const ShmClock c = shm_clock_from_status(status(false), std::nullopt, options, t0);
  EXPECT_TRUE(c.synchronized);
  EXPECT_FALSE(c.steered);
  EXPECT_EQ(c.t0, t0);
  EXPECT_DOUBLE_EQ(c.offset, 2e-3);
  EXPECT_DOUBLE_EQ(c.bound, 1e-4);
  EXPECT_DOUBLE_EQ(c.frequency, 20e-6);
  // max-drift plus 4 frequency sd: the rate the maximum error itself grows at.
  EXPECT_DOUBLE_EQ(c.drift, 1e-6 + 4 * 0.5e-6);
  EXPECT_EQ(c.max_age, 3s);
}

TEST(ShmFromStatus, SteeredClockBoundCoversTheSlewEnding) {
  const ShmOptions options{.max_drift = 1e-6, .max_slew = 500e-6, .max_age = 3s};
  // The kernel runs 30 ppm: the model's 20 ppm plus a 10 ppm slew, so the offset shrinks at
  // 10 ppm until the slew ends, then stays.
  const ShmClock c = shm_clock_from_status(status(true), 30e-6, options, Steady::now());
  for (double age : {0.5, 1.0, 3.0}) {
    const double centre = c.offset + c.frequency * age;
    const double half = c.bound + c.drift * age;
    for (double slew_time : {0.0, age / 2, age}) {
      const double truth = 2e-3 - 10e-6 * slew_time;
      EXPECT_LE(std::abs(truth - centre), half) << age << " " << slew_time;
    }
  }
  // Without the kernel's frequency, the largest slew is assumed.
  const ShmClock blind = shm_clock_from_status(status(true), std::nullopt, options, Steady::now());
  EXPECT_DOUBLE_EQ(blind.frequency, 0);
  EXPECT_DOUBLE_EQ(blind.drift, 1e-6 + 4 * 0.5e-6 + 500e-6);
}

TEST(ShmFromStatus, UnsynchronizedStatusHasNoBound) {
  ClockStatus s = status(false);
  s.state = DisciplineState::kNoMajority;
  const ShmClock c = shm_clock_from_status(s, std::nullopt, ShmOptions{}, Steady::now());
  EXPECT_FALSE(c.synchronized);
  EXPECT_TRUE(std::isinf(c.bound));
}

}  // namespace
}  // namespace kairos
