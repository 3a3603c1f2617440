#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/relay/impairments.hpp"

namespace kairos::relay {
namespace {

std::vector<std::uint8_t> datagram(std::uint8_t fill, std::size_t size = 48) { return std::vector<std::uint8_t>(size, fill); }

TEST(RelayImpairments, NoImpairmentForwardsEachDatagramOnceAtOnce) {
  Impairer impairer(Impairments{}, 1);
  const auto in = datagram(7);
  const auto out = impairer.impair(Direction::kRequest, in);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes, in);
  EXPECT_EQ(out[0].delay, 0);
  EXPECT_EQ(impairer.counters(Direction::kRequest).received, 1u);
}

TEST(RelayImpairments, LossOfOneDropsEverything) {
  Impairer impairer(Impairments{.loss = 1}, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(impairer.impair(Direction::kResponse, datagram(1)).empty());
  EXPECT_EQ(impairer.counters(Direction::kResponse).lost, 100u);
}

TEST(RelayImpairments, LossRateIsNearItsProbability) {
  Impairer impairer(Impairments{.loss = 0.3}, 42);
  for (int i = 0; i < 10000; ++i) impairer.impair(Direction::kRequest, datagram(1));
  const auto lost = impairer.counters(Direction::kRequest).lost;
  EXPECT_GT(lost, 2800u);
  EXPECT_LT(lost, 3200u);
}

TEST(RelayImpairments, SameSeedGivesSameDecisions) {
  const Impairments all{.loss = 0.2, .delay = 0.005, .jitter = 0.002, .reorder = 0.1, .duplicate = 0.2,
                        .corrupt = 0.3, .truncate = 0.1, .replay = 0.2};
  Impairer a(all, 9);
  Impairer b(all, 9);
  Impairer c(all, 10);
  bool differs = false;
  for (std::uint8_t i = 0; i < 200; ++i) {
    const auto in = datagram(i);
    const auto from_a = a.impair(Direction::kResponse, in);
    const auto from_b = b.impair(Direction::kResponse, in);
    const auto from_c = c.impair(Direction::kResponse, in);
    ASSERT_EQ(from_a.size(), from_b.size());
    for (std::size_t k = 0; k < from_a.size(); ++k) {
      EXPECT_EQ(from_a[k].bytes, from_b[k].bytes);
      EXPECT_EQ(from_a[k].delay, from_b[k].delay);
    }
    differs = differs || from_a.size() != from_c.size() || (!from_a.empty() && from_a[0].bytes != from_c[0].bytes);
  }
  EXPECT_TRUE(differs) << "another seed made the very same 200 decisions";
}

TEST(RelayImpairments, CorruptionFlipsExactlyOneByte) {
  Impairer impairer(Impairments{.corrupt = 1}, 3);
  for (int i = 0; i < 50; ++i) {
    const auto in = datagram(0x55);
    const auto out = impairer.impair(Direction::kResponse, in);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].bytes.size(), in.size());
    int changed = 0;
    for (std::size_t k = 0; k < in.size(); ++k) changed += out[0].bytes[k] != in[k];
    EXPECT_EQ(changed, 1);
  }
  EXPECT_EQ(impairer.counters(Direction::kResponse).corrupted, 50u);
}

TEST(RelayImpairments, TruncationShortensTheDatagram) {
  Impairer impairer(Impairments{.truncate = 1}, 3);
  for (int i = 0; i < 50; ++i) {
    const auto out = impairer.impair(Direction::kRequest, datagram(1, 90));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_LT(out[0].bytes.size(), 90u);
  }
}

TEST(RelayImpairments, DuplicateSendsTheSameBytesTwice) {
  Impairer impairer(Impairments{.duplicate = 1}, 3);
  const auto out = impairer.impair(Direction::kRequest, datagram(4));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bytes, out[1].bytes);
  EXPECT_GT(out[1].delay, out[0].delay);
}

TEST(RelayImpairments, ReplaySendsAnOlderDatagramLater) {
  Impairer impairer(Impairments{.replay = 1}, 3);
  // Nothing older yet: nothing to replay.
  EXPECT_EQ(impairer.impair(Direction::kResponse, datagram(1)).size(), 1u);
  const auto out = impairer.impair(Direction::kResponse, datagram(2));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bytes, datagram(2));
  EXPECT_EQ(out[1].bytes, datagram(1));
  EXPECT_GE(out[1].delay, 0.05);
  EXPECT_EQ(impairer.counters(Direction::kResponse).replayed, 1u);
}

TEST(RelayImpairments, ReplayNeverMixesDirections) {
  Impairer impairer(Impairments{.replay = 1}, 3);
  impairer.impair(Direction::kRequest, datagram(1));
  const auto out = impairer.impair(Direction::kResponse, datagram(2));
  EXPECT_EQ(out.size(), 1u);
}

TEST(RelayImpairments, DelayStaysWithinJitter) {
  Impairer impairer(Impairments{.delay = 0.005, .jitter = 0.002}, 5);
  double low = 1, high = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto out = impairer.impair(Direction::kRequest, datagram(1));
    ASSERT_EQ(out.size(), 1u);
    low = std::min(low, out[0].delay);
    high = std::max(high, out[0].delay);
  }
  EXPECT_GE(low, 0.003);
  EXPECT_LE(high, 0.007);
  EXPECT_LT(low, 0.0035);
  EXPECT_GT(high, 0.0065);
}

TEST(RelayImpairments, ReorderedDatagramIsOvertakenByTheNext) {
  Impairer impairer(Impairments{.delay = 0.005, .jitter = 0.002, .reorder = 1}, 5);
  const auto held = impairer.impair(Direction::kRequest, datagram(1));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_GT(held[0].delay, 0.007 + 0.007);  // later than the next one can arrive even with no delay
}

TEST(RelayImpairments, AffectResponsesLeavesRequestsAlone) {
  Impairer impairer(Impairments{.loss = 1, .affected = Affected::kResponses}, 5);
  EXPECT_EQ(impairer.impair(Direction::kRequest, datagram(1)).size(), 1u);
  EXPECT_TRUE(impairer.impair(Direction::kResponse, datagram(1)).empty());
}

}  // namespace
}  // namespace kairos::relay
