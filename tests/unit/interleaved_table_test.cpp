#include "nts/interleaved_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace kairos {
namespace {

NtpTimestamp ts(std::uint64_t raw) { return NtpTimestamp::from_raw(raw); }

TEST(InterleavedTable, RecordedResponseIsFoundByItsReceiveTimestampOnce) {
  InterleavedTable table(8);
  table.record(ts(1000), ts(2000), false);
  EXPECT_EQ(table.take(ts(1000), false), ts(2000));
  // RFC 9769 §2: a receive timestamp detects one interleaved request, never a second.
  EXPECT_FALSE(table.take(ts(1000), false));
  EXPECT_FALSE(table.take(ts(2000), false));  // a transmit timestamp is not a key
  EXPECT_FALSE(table.take(NtpTimestamp(), false));
  EXPECT_EQ(table.size(), 0u);
}

TEST(InterleavedTable, OldestEntryIsOverwrittenAndMemoryStaysFixed) {
  InterleavedTable table(4);
  for (std::uint64_t i = 1; i <= 10; ++i) table.record(ts(i * 100), ts(i * 100 + 1), false);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.capacity(), 4u);
  for (std::uint64_t i = 1; i <= 6; ++i) EXPECT_FALSE(table.take(ts(i * 100), false)) << i;
  for (std::uint64_t i = 7; i <= 10; ++i) EXPECT_EQ(table.take(ts(i * 100), false), ts(i * 100 + 1)) << i;
}

TEST(InterleavedTable, NoteTransmitImprovesTheEntryUntilItIsOverwritten) {
  InterleavedTable table(2);
  const TransmitHandle first = table.record(ts(10), ts(20), false);
  const TransmitHandle second = table.record(ts(30), ts(40), false);
  EXPECT_TRUE(table.note_transmit(first, ts(21)));
  EXPECT_EQ(table.take(ts(10), false), ts(21));
  EXPECT_FALSE(table.note_transmit(first, ts(22)));  // spent
  table.record(ts(50), ts(60), false);
  table.record(ts(70), ts(80), false);               // second is overwritten now
  EXPECT_FALSE(table.note_transmit(second, ts(41)));
  EXPECT_FALSE(table.note_transmit(TransmitHandle{}, ts(1)));
  EXPECT_FALSE(table.take(ts(30), false));
}

TEST(InterleavedTable, ReceiveAndTransmitTimestampsAreMadeUnique) {
  InterleavedTable table(8);
  table.record(ts(1000), ts(1005), false);
  table.record(ts(1001), ts(1006), false);
  EXPECT_EQ(table.unique_receive(ts(1000)), ts(1002));
  EXPECT_EQ(table.unique_receive(ts(999)), ts(999));
  EXPECT_FALSE(table.unique_receive(NtpTimestamp()).is_zero());
  // Never equal to the response's own receive timestamp, nor to any saved one.
  EXPECT_EQ(table.unique_transmit(ts(500), ts(500)), ts(501));
  EXPECT_EQ(table.unique_transmit(ts(1000), ts(7)), ts(1002));
}

TEST(InterleavedTable, NtsEntryServesOnlyNtsRequestsAndPlainOnlyPlain) {
  InterleavedTable table(8);
  table.record(ts(1000), ts(2000), true);
  table.record(ts(3000), ts(4000), false);
  EXPECT_FALSE(table.take(ts(1000), false));
  EXPECT_FALSE(table.take(ts(3000), true));
  EXPECT_EQ(table.take(ts(1000), true), ts(2000));
  EXPECT_EQ(table.take(ts(3000), false), ts(4000));
}

// Colliding keys, removals from the middle of probe runs and wrap-around, checked against a map.
TEST(InterleavedTable, AgreesWithAReferenceMapUnderRandomTraffic) {
  constexpr std::size_t kCapacity = 64;
  InterleavedTable table(kCapacity);
  std::map<std::uint64_t, std::uint64_t> expected;  // rx -> tx of live entries
  std::vector<std::uint64_t> order;                  // rx in serving order
  std::mt19937_64 rng(7);
  std::uint64_t spent = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t key = rng() % 512;  // few distinct keys: many collisions and reuses
    if (rng() % 3 == 0) {
      const auto got = table.take(ts(key), false);
      const auto it = expected.find(key);
      ASSERT_EQ(got.has_value(), it != expected.end()) << step;
      if (got) {
        EXPECT_EQ(got->raw(), it->second);
        expected.erase(it);
        ++spent;
      }
      continue;
    }
    const NtpTimestamp rx = table.unique_receive(ts(key));
    ASSERT_EQ(expected.count(rx.raw()), 0u);
    table.record(rx, ts(rx.raw() * 3), false);
    order.push_back(rx.raw());
    expected[rx.raw()] = rx.raw() * 3;
    // The ring drops the entry recorded kCapacity records ago, if it is still live.
    if (order.size() > kCapacity) {
      const std::uint64_t old = order[order.size() - 1 - kCapacity];
      // Only if that key was not spent and re-recorded since (then the newer one stays).
      bool reused = false;
      for (std::size_t i = order.size() - kCapacity; i < order.size(); ++i) reused |= order[i] == old;
      if (!reused) expected.erase(old);
    }
    ASSERT_EQ(table.size(), expected.size()) << step;
  }
  EXPECT_GT(spent, 500u);  // takes did hit live entries
}

}  // namespace
}  // namespace kairos
