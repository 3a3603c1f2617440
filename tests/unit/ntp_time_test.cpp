#include "clock/ntp_time.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace kairos {
namespace {

timespec ts(std::int64_t sec, long nsec) {
  timespec t{};
  t.tv_sec = static_cast<time_t>(sec);
  t.tv_nsec = nsec;
  return t;
}

// 2036-02-07T06:28:16Z: NTP seconds wrap from 0xFFFFFFFF to 0 (era 0 → era 1).
constexpr std::int64_t kEra1Unix = 4294967296 - kNtpUnixOffset;

TEST(NtpTime, UnixEpochIsNtpSeconds2208988800) {
  auto t = NtpTimestamp::from_timespec(ts(0, 0));
  EXPECT_EQ(t.seconds(), 2208988800u);
  EXPECT_EQ(t.fraction(), 0u);
}

TEST(NtpTime, HalfSecondIsHalfTheFraction) {
  auto t = NtpTimestamp::from_timespec(ts(1, 500'000'000));
  EXPECT_EQ(t.fraction(), 0x80000000u);
}

TEST(NtpTime, RoundTripKeepsNanoseconds) {
  const timespec pivot = ts(1'800'000'000, 0);
  for (long ns : {0L, 1L, 499'999'999L, 500'000'000L, 999'999'999L}) {
    for (std::int64_t sec : {std::int64_t{1'700'000'000}, kEra1Unix - 1, kEra1Unix, kEra1Unix + 1}) {
      auto back = NtpTimestamp::from_timespec(ts(sec, ns)).to_timespec(pivot);
      EXPECT_EQ(back.tv_sec, sec) << sec << "." << ns;
      EXPECT_EQ(back.tv_nsec, ns) << sec << "." << ns;
    }
  }
}

TEST(NtpTime, EraBoundaryWrapsSecondsToZero) {
  auto before = NtpTimestamp::from_timespec(ts(kEra1Unix - 1, 0));
  auto after = NtpTimestamp::from_timespec(ts(kEra1Unix, 0));
  EXPECT_EQ(before.seconds(), 0xFFFFFFFFu);
  EXPECT_EQ(after.seconds(), 0u);
  EXPECT_EQ((after - before).nanos(), 1'000'000'000);
  EXPECT_EQ((before - after).nanos(), -1'000'000'000);
}

TEST(NtpTime, PivotChoosesTheNearestEra) {
  auto t = NtpTimestamp::from_parts(10, 0);  // 10 s into some era
  EXPECT_EQ(t.to_timespec(ts(kEra1Unix - 100, 0)).tv_sec, kEra1Unix + 10);
  EXPECT_EQ(t.to_timespec(ts(-kNtpUnixOffset + 100, 0)).tv_sec, -kNtpUnixOffset + 10);
}

TEST(NtpTime, PreNtpEpochTimesWrapIntoThePreviousEra) {
  auto t = NtpTimestamp::from_timespec(ts(-kNtpUnixOffset - 1, 250'000'000));
  EXPECT_EQ(t.seconds(), 0xFFFFFFFFu);
  EXPECT_EQ(t.to_timespec(ts(-kNtpUnixOffset, 0)).tv_sec, -kNtpUnixOffset - 1);
}

TEST(NtpTime, UnnormalisedNanosecondsAreNormalised) {
  EXPECT_EQ(NtpTimestamp::from_timespec(ts(5, -1)), NtpTimestamp::from_timespec(ts(4, 999'999'999)));
  EXPECT_EQ(NtpTimestamp::from_timespec(ts(5, 1'000'000'000)), NtpTimestamp::from_timespec(ts(6, 0)));
}

TEST(NtpTime, FractionRoundingCarriesIntoSeconds) {
  // The largest fraction is 0.99999999977 s: it rounds up to the next whole second.
  auto t = NtpTimestamp::from_parts(kNtpUnixOffset + 7, 0xFFFFFFFFu);
  auto back = t.to_timespec(ts(0, 0));
  EXPECT_EQ(back.tv_sec, 8);
  EXPECT_EQ(back.tv_nsec, 0);
}

TEST(Duration, NanosecondsRoundTripAndResolution) {
  for (std::int64_t ns : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{123'456'789},
                          std::int64_t{-987'654'321'012}, std::int64_t{68} * 365 * 86400 * 1'000'000'000}) {
    EXPECT_EQ(Duration::from_nanos(ns).nanos(), ns);
  }
  EXPECT_EQ(Duration::from_nanos(1).raw(), 4);  // 4.29 ticks rounds to 4
  EXPECT_DOUBLE_EQ(Duration::from_raw(1LL << 32).seconds(), 1.0);
}

TEST(Duration, ArithmeticSaturatesInsteadOfWrapping) {
  EXPECT_EQ(Duration::max() + Duration::from_nanos(1), Duration::max());
  EXPECT_EQ(Duration::min() - Duration::from_nanos(1), Duration::min());
  EXPECT_EQ(-Duration::min(), Duration::max());
  EXPECT_EQ(Duration::from_seconds(1e30), Duration::max());
  EXPECT_EQ(Duration::from_seconds(-1e30), Duration::min());
  EXPECT_EQ(Duration::from_seconds(std::nan("")), Duration());
  EXPECT_EQ(Duration::from_nanos(INT64_MAX), Duration::max());
}

TEST(NtpShort, ConvertsAndSaturates) {
  EXPECT_EQ(NtpShort::from_duration(Duration::from_seconds(1.5)).raw(), 0x00018000u);
  EXPECT_EQ(NtpShort::from_duration(Duration::from_seconds(-3)).raw(), 0u);
  EXPECT_EQ(NtpShort::from_duration(Duration::from_seconds(70000)).raw(), 0xFFFFFFFFu);
  EXPECT_DOUBLE_EQ(NtpShort::from_raw(0x00010000).to_duration().seconds(), 1.0);
}

TEST(OffsetDelay, MatchesRfc5905Formulas) {
  // Client 0.5 s behind the server, 10 ms each way, 1 ms server processing.
  auto base = NtpTimestamp::from_timespec(ts(1'700'000'000, 0));
  auto t1 = base;
  auto t2 = base + Duration::from_nanos(510'000'000);
  auto t3 = t2 + Duration::from_nanos(1'000'000);
  auto t4 = t1 + Duration::from_nanos(21'000'000);
  auto r = offset_and_delay(t1, t2, t3, t4);
  EXPECT_EQ(r.offset.nanos(), 500'000'000);
  EXPECT_EQ(r.delay.nanos(), 20'000'000);
}

TEST(OffsetDelay, WorksAcrossTheEraBoundary) {
  auto t1 = NtpTimestamp::from_timespec(ts(kEra1Unix - 1, 0));
  auto t2 = NtpTimestamp::from_timespec(ts(kEra1Unix, 2'000));
  auto t3 = NtpTimestamp::from_timespec(ts(kEra1Unix, 3'000));
  auto t4 = NtpTimestamp::from_timespec(ts(kEra1Unix - 1, 5'000));
  auto r = offset_and_delay(t1, t2, t3, t4);
  EXPECT_EQ(r.offset.nanos(), 1'000'000'000);
  EXPECT_EQ(r.delay.nanos(), 4'000);
}

}  // namespace
}  // namespace kairos
