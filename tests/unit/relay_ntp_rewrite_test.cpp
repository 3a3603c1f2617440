#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/relay/impairments.hpp"
#include "tests/relay/ntp_rewrite.hpp"

namespace kairos::relay {
namespace {

std::uint64_t read_be(const std::vector<std::uint8_t>& p, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | p[at + i];
  return v;
}

void write_be(std::vector<std::uint8_t>& p, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 8; i-- > 0;) {
    p[at + i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

// A server-mode (4) NTPv4 response with distinct origin, receive and transmit timestamps.
std::vector<std::uint8_t> response(std::uint8_t mode = 4) {
  std::vector<std::uint8_t> p(48, 0);
  p[0] = static_cast<std::uint8_t>((4 << 3) | mode);
  write_be(p, 24, 0x1111111100000000);
  write_be(p, 32, 0xE000000080000000);
  write_be(p, 40, 0xE000000180000000);
  return p;
}

TEST(RelayNtpRewrite, ShiftsReceiveAndTransmitButNotOrigin) {
  auto p = response();
  ASSERT_TRUE(shift_server_timestamps(p, Duration::from_seconds(0.5)));
  EXPECT_EQ(read_be(p, 24), 0x1111111100000000u);
  EXPECT_EQ(read_be(p, 32), 0xE000000100000000u);
  EXPECT_EQ(read_be(p, 40), 0xE000000200000000u);
}

TEST(RelayNtpRewrite, NegativeShiftAndEraWrap) {
  auto p = response();
  write_be(p, 32, 0xFFFFFFFF80000000);  // half a second before the 2036 era boundary
  ASSERT_TRUE(shift_server_timestamps(p, Duration::from_seconds(1.0)));
  EXPECT_EQ(read_be(p, 32), 0x0000000080000000u);
  ASSERT_TRUE(shift_server_timestamps(p, Duration::from_seconds(-1.0)));
  EXPECT_EQ(read_be(p, 32), 0xFFFFFFFF80000000u);
}

TEST(RelayNtpRewrite, LeavesRequestsAndShortPacketsAlone) {
  auto request = response(3);
  const auto before = request;
  EXPECT_FALSE(shift_server_timestamps(request, Duration::from_seconds(0.5)));
  EXPECT_EQ(request, before);
  std::vector<std::uint8_t> short_packet(47, 0x24);
  EXPECT_FALSE(shift_server_timestamps(short_packet, Duration::from_seconds(0.5)));
}

TEST(RelayNtpRewrite, OffsetRewritesEveryResponseButNoRequest) {
  Impairer impairer(Impairments{.offset = 0.2}, 1);
  const auto out = impairer.impair(Direction::kResponse, response());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].bytes, response());
  EXPECT_EQ(read_be(out[0].bytes, 24), 0x1111111100000000u);
  const auto request = impairer.impair(Direction::kRequest, response(3));
  EXPECT_EQ(request[0].bytes, response(3));
  EXPECT_EQ(impairer.counters(Direction::kResponse).rewritten, 1u);
  EXPECT_EQ(impairer.counters(Direction::kRequest).rewritten, 0u);
}

TEST(RelayNtpRewrite, OffsetFromRelaysTheFirstResponsesHonestlyThenSteps) {
  Impairer impairer(Impairments{.offset = 0.2, .offset_from = 2}, 1);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(impairer.impair(Direction::kResponse, response())[0].bytes, response());
  const auto stepped = impairer.impair(Direction::kResponse, response());
  EXPECT_NE(stepped[0].bytes, response());
  EXPECT_EQ(impairer.counters(Direction::kResponse).rewritten, 1u);
}

TEST(RelayNtpRewrite, LeapSetsTheIndicatorOfResponsesOnly) {
  Impairer impairer(Impairments{.leap = 1}, 1);
  const auto out = impairer.impair(Direction::kResponse, response());
  EXPECT_EQ(out[0].bytes[0] >> 6, 1);
  EXPECT_EQ(out[0].bytes[0] & 0x3f, response()[0] & 0x3f);
  std::vector<std::uint8_t> request = response(3);
  EXPECT_FALSE(set_leap_indicator(request, 1));
  EXPECT_EQ(request, response(3));
}

}  // namespace
}  // namespace kairos::relay
