#include "clock/phc_line.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

constexpr std::int64_t kBase = 1'700'000'000;  // system time (unix s) at model time 0

timespec at_ns(std::int64_t ns) { return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)}; }
std::int64_t ns_of(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// A PHC 10 s ahead of the system clock and 5 ppm fast: PHC minus system at model time t.
double difference(double t) { return 10.0 + 5e-6 * t; }
// The PHC's reading at model time t (the system clock reads kBase + t then).
timespec phc_at(double t) { return at_ns(kBase * 1'000'000'000 + static_cast<std::int64_t>((t + difference(t)) * 1e9)); }

TimescaleMap fitted(int points) {
  TimescaleMap map;
  for (int i = 0; i < points; ++i) map.add(i, difference(i), 1e-9);
  return map;
}

TEST(PhcLine, MapsAPhcStampToSystemTimeThroughTheFittedLine) {
  const TimescaleMap map = fitted(8);
  const auto line = phc_line(map, 7.0, phc_at(7.0));
  ASSERT_TRUE(line);
  EXPECT_NEAR(line->offset, difference(7.0), 1e-12);
  EXPECT_NEAR(line->slope, 5e-6, 1e-12);
  // A NIC stamp 2.3 s after the last cross-timestamp (and one before it): the system time then.
  for (const double t : {9.3, 6.4}) {
    const auto system = line->to_system(phc_at(t));
    ASSERT_TRUE(system) << t;
    const std::int64_t truth = kBase * 1'000'000'000 + static_cast<std::int64_t>(t * 1e9);
    EXPECT_LE(std::abs(ns_of(*system) - truth), 1) << t;
  }
}

TEST(PhcLine, IsNothingWithoutALineAndNothingFarFromIt) {
  EXPECT_FALSE(phc_line(fitted(1), 0.0, phc_at(0.0))) << "one cross-timestamp is no line";
  EXPECT_FALSE(phc_line(TimescaleMap(), 0.0, phc_at(0.0)));
  const auto line = phc_line(fitted(8), 7.0, phc_at(7.0));
  ASSERT_TRUE(line);
  // The points span 7 s: the map answers up to 7 s past the last one, the line as far.
  EXPECT_TRUE(line->to_system(phc_at(13.9)));
  EXPECT_FALSE(line->to_system(phc_at(14.1))) << "stale: the cross-timestamps stopped";
  EXPECT_FALSE(line->to_system(phc_at(-7.1)));
  // Made long after the last point, nothing is valid.
  EXPECT_FALSE(phc_line(fitted(8), 15.0, phc_at(15.0)));
}

// Our own steering of the system clock after the last cross-timestamp: the line is the new one.
TEST(PhcLine, FollowsOurOwnChangesOfTheSystemClock) {
  TimescaleMap map = fitted(8);
  map.on_system_change(7.5, 1e-6, 3e-6);  // 1 ppm faster and 3 µs forward at 7.5 s
  const auto after = [](double t) { return difference(t) - 1e-6 * (t - 7.5) - 3e-6; };
  const auto line = phc_line(map, 8.0, phc_at(8.0));
  ASSERT_TRUE(line);
  EXPECT_NEAR(line->offset, after(8.0), 1e-12);
  EXPECT_NEAR(line->slope, 4e-6, 1e-12);
}

}  // namespace
}  // namespace kairos
