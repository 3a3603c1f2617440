#include "nts/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace kairos {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

RateKey v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::array<std::uint8_t, 4> address{a, b, c, d};
  return rate_key_ipv4(address);
}

TEST(RateLimiter, BurstIsAllowedThenOneKissThenDrops) {
  RateLimiter limiter({.interval = 2.0, .burst = 8, .entries = 64}, 1);
  const RateKey client = v4(192, 0, 2, 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(limiter.check(client, 0), RateDecision::kAllow) << i;
  EXPECT_EQ(limiter.check(client, 0), RateDecision::kKiss);
  EXPECT_EQ(limiter.check(client, 1), RateDecision::kDrop);
  EXPECT_EQ(limiter.check(client, kSecond), RateDecision::kDrop);
}

TEST(RateLimiter, ClientAtTheAllowedRateIsNeverLimited) {
  RateLimiter limiter({.interval = 2.0, .burst = 1, .entries = 64}, 1);
  const RateKey client = v4(192, 0, 2, 1);
  for (std::int64_t t = 0; t < 100 * kSecond; t += 2 * kSecond) EXPECT_EQ(limiter.check(client, t), RateDecision::kAllow);
}

TEST(RateLimiter, FlooderGetsOneAnswerAndOneKissPerInterval) {
  RateLimiter limiter({.interval = 1.0, .burst = 4, .entries = 64}, 7);
  const RateKey client = v4(198, 51, 100, 9);
  int allowed = 0, kisses = 0, drops = 0;
  // 1000 requests per second for 10 seconds.
  for (std::int64_t t = 0; t < 10 * kSecond; t += kSecond / 1000) {
    switch (limiter.check(client, t)) {
      case RateDecision::kAllow: ++allowed; break;
      case RateDecision::kKiss: ++kisses; break;
      case RateDecision::kDrop: ++drops; break;
    }
  }
  EXPECT_EQ(allowed, 4 + 9);  // the burst, then one per second
  EXPECT_LE(kisses, 10);
  EXPECT_GE(kisses, 9);
  EXPECT_EQ(allowed + kisses + drops, 10000);
}

TEST(RateLimiter, ClientsAreLimitedSeparately) {
  RateLimiter limiter({.interval = 2.0, .burst = 1, .entries = 64}, 3);
  EXPECT_EQ(limiter.check(v4(10, 0, 0, 1), 0), RateDecision::kAllow);
  EXPECT_EQ(limiter.check(v4(10, 0, 0, 1), 0), RateDecision::kKiss);
  EXPECT_EQ(limiter.check(v4(10, 0, 0, 2), 0), RateDecision::kAllow);
}

TEST(RateLimiter, Ipv6ClientsShareTheirSlash64) {
  std::array<std::uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
  std::array<std::uint8_t, 16> b = a;
  b[15] = 0x42;
  std::array<std::uint8_t, 16> other = a;
  other[7] = 2;
  EXPECT_EQ(rate_key_ipv6(a), rate_key_ipv6(b));
  EXPECT_NE(rate_key_ipv6(a), rate_key_ipv6(other));
  const std::array<std::uint8_t, 4> v4addr{0x20, 0x01, 0x0d, 0xb8};
  EXPECT_NE(rate_key_ipv4(v4addr), rate_key_ipv6(a));
}

TEST(RateLimiter, TableStaysBoundedUnderAnAddressFlood) {
  RateLimiter limiter({.interval = 2.0, .burst = 1, .entries = 1000}, 11);
  EXPECT_EQ(limiter.capacity(), 1024u);
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    limiter.check(v4(static_cast<std::uint8_t>(i >> 24), static_cast<std::uint8_t>(i >> 16),
                     static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)),
                  static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(limiter.capacity(), 1024u);
  // A recent client is still remembered after the flood passed.
  const RateKey victim = v4(203, 0, 113, 5);
  EXPECT_EQ(limiter.check(victim, 2'000'000), RateDecision::kAllow);
  EXPECT_EQ(limiter.check(victim, 2'000'001), RateDecision::kKiss);
}

}  // namespace
}  // namespace kairos
