#include "nts/ptp_bmca.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

const PortIdentity kUs{{0x50, 0, 0, 0xff, 0xfe, 0, 0, 1}, 1};

AnnouncedDataset gm(std::uint8_t last_octet) {
  AnnouncedDataset d;
  d.grandmaster = ClockIdentity{0x10, 0, 0, 0xff, 0xfe, 0, 0, last_octet};
  d.sender = PortIdentity{d.grandmaster, 1};
  d.receiver = kUs;
  d.quality = ClockQuality{248, 0xfe, 0xffff};
  return d;
}

TEST(PtpBmca, EachAttributeOutranksTheOnesAfterIt) {
  // Each step: B is worse than A in an earlier attribute and better in every later one.
  AnnouncedDataset a = gm(9);
  AnnouncedDataset b = gm(1);
  b.priority2 = 1;
  b.quality = ClockQuality{6, 0x20, 0x4000};
  a.priority1 = 100;
  b.priority1 = 101;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kABetter);
  b.priority1 = 100;
  a.quality.clock_class = 7;
  b.quality.clock_class = 8;
  b.quality.clock_accuracy = 0x20;
  a.quality.clock_accuracy = 0x31;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kABetter);
  b.quality.clock_class = 7;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kBBetter);  // accuracy decides now
  a.quality.clock_accuracy = 0x20;
  a.quality.offset_scaled_log_variance = 0x3000;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kABetter);  // variance decides
  a.quality.offset_scaled_log_variance = 0x4000;
  a.priority2 = 1;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kBBetter);  // all equal to priority2: identity
  EXPECT_EQ(compare_datasets(b, a), DatasetOrder::kABetter);
  a.priority2 = 0;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kABetter);
}

TEST(PtpBmca, SameGrandmasterTwoStepsShorterWinsOutright) {
  AnnouncedDataset a = gm(1);
  AnnouncedDataset b = gm(1);
  b.sender.clock[7] = 2;
  a.steps_removed = 3;
  b.steps_removed = 1;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kBBetter);
  EXPECT_EQ(compare_datasets(b, a), DatasetOrder::kABetter);
}

TEST(PtpBmca, SameGrandmasterOneStepShorterWins) {
  AnnouncedDataset a = gm(1);
  AnnouncedDataset b = gm(1);
  b.sender.clock[7] = 2;
  a.steps_removed = 2;
  b.steps_removed = 1;
  // Our identity (0x50...) is above A's sender (0x10...): B better by topology.
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kBBetterByTopology);
  EXPECT_TRUE(a_is_better(compare_datasets(b, a)));
  // A's sender is ourselves: our own Announce came back (error-1).
  a.sender = kUs;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kError1);
}

TEST(PtpBmca, SameGrandmasterEqualStepsLowerSenderThenSameMessage) {
  AnnouncedDataset a = gm(1);
  AnnouncedDataset b = gm(1);
  a.sender.clock[7] = 3;
  b.sender.clock[7] = 4;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kABetterByTopology);
  EXPECT_EQ(compare_datasets(b, a), DatasetOrder::kBBetterByTopology);
  b.sender = a.sender;
  EXPECT_EQ(compare_datasets(a, b), DatasetOrder::kError2);
  EXPECT_FALSE(a_is_better(compare_datasets(a, b)));
}

PtpHeader announce_header(std::uint8_t id, std::uint16_t sequence, std::int8_t log_interval = 1) {
  PtpHeader h;
  h.type = PtpMessageType::kAnnounce;
  h.source = PortIdentity{ClockIdentity{0x10, 0, 0, 0xff, 0xfe, 0, 0, id}, 1};
  h.sequence_id = sequence;
  h.log_interval = log_interval;
  return h;
}

PtpAnnounce announce_body(std::uint8_t id, std::uint8_t priority1 = 128) {
  PtpAnnounce a;
  a.grandmaster = ClockIdentity{0x10, 0, 0, 0xff, 0xfe, 0, 0, id};
  a.priority1 = priority1;
  return a;
}

ForeignMasters table() { return ForeignMasters(ForeignMasterConfig{kUs, 2, 4, 4}); }

TEST(PtpForeignMasters, TwoAnnouncesWithinFourIntervalsQualify) {
  auto masters = table();
  ASSERT_TRUE(masters.on_announce(announce_header(1, 0), announce_body(1), "a", 0));
  EXPECT_EQ(masters.best(0), nullptr);  // one is not enough
  ASSERT_TRUE(masters.on_announce(announce_header(1, 1), announce_body(1), "a", 7.9));  // window 4 × 2 s
  const ForeignMaster* best = masters.best(7.9);
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->address, "a");
  // The first Announce leaves the window at 8 s: no longer qualified without a third.
  EXPECT_EQ(masters.best(8.1), nullptr);
}

TEST(PtpForeignMasters, AnnouncesTooFarApartDoNotQualify) {
  auto masters = table();
  masters.on_announce(announce_header(1, 0), announce_body(1), "a", 0);
  masters.on_announce(announce_header(1, 1), announce_body(1), "a", 8.5);
  EXPECT_EQ(masters.best(8.5), nullptr);
  // A faster master (log −2: 0.25 s, a 1 s window) needs them closer still.
  masters.on_announce(announce_header(2, 0, -2), announce_body(2), "b", 10);
  masters.on_announce(announce_header(2, 1, -2), announce_body(2), "b", 11.1);
  EXPECT_EQ(masters.best(11.1), nullptr);
  masters.on_announce(announce_header(2, 2, -2), announce_body(2), "b", 11.3);
  EXPECT_NE(masters.best(11.3), nullptr);
}

TEST(PtpForeignMasters, RepeatedSequenceIdIsNotADistinctAnnounce) {
  auto masters = table();
  EXPECT_TRUE(masters.on_announce(announce_header(1, 5), announce_body(1), "a", 0));
  EXPECT_FALSE(masters.on_announce(announce_header(1, 5), announce_body(1), "a", 1));
  EXPECT_EQ(masters.best(1), nullptr);
}

TEST(PtpForeignMasters, StepsRemoved255IsNotUsed) {
  auto masters = table();
  PtpAnnounce body = announce_body(1);
  body.steps_removed = 255;
  EXPECT_FALSE(masters.on_announce(announce_header(1, 0), body, "a", 0));
  EXPECT_EQ(masters.size(), 0u);
}

TEST(PtpForeignMasters, BestIsTheBestQualifiedNotTheBestSeen) {
  auto masters = table();
  masters.on_announce(announce_header(1, 0), announce_body(1, 128), "a", 0);
  masters.on_announce(announce_header(1, 1), announce_body(1, 128), "a", 2);
  masters.on_announce(announce_header(2, 0), announce_body(2, 10), "b", 2);  // better, once
  ASSERT_NE(masters.best(2), nullptr);
  EXPECT_EQ(masters.best(2)->address, "a");
  masters.on_announce(announce_header(2, 1), announce_body(2, 10), "b", 4);
  EXPECT_EQ(masters.best(4)->address, "b");
}

TEST(PtpForeignMasters, TableIsBoundedAndStaleRecordsExpire) {
  auto masters = table();  // capacity 4
  for (std::uint8_t id = 1; id <= 4; ++id) EXPECT_TRUE(masters.on_announce(announce_header(id, 0), announce_body(id), "x", 0));
  EXPECT_FALSE(masters.on_announce(announce_header(5, 0), announce_body(5), "x", 1));
  EXPECT_EQ(masters.size(), 4u);
  // After the window the old ones are dropped and a newcomer fits.
  EXPECT_TRUE(masters.on_announce(announce_header(5, 1), announce_body(5), "x", 9));
  EXPECT_EQ(masters.size(), 1u);
}

TEST(PtpForeignMasters, AbsurdIntervalIsClamped) {
  EXPECT_DOUBLE_EQ(announce_interval(0x7f), 128.0);
  EXPECT_DOUBLE_EQ(announce_interval(-128), 1.0 / 128);
  EXPECT_DOUBLE_EQ(announce_interval(1), 2.0);
}

}  // namespace
}  // namespace kairos
