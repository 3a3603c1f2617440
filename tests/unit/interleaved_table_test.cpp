#include "nts/interleaved_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>

namespace kairos {
namespace {

NtpTimestamp ts(std::uint64_t raw) { return NtpTimestamp::from_raw(raw); }

ClientAddress client(std::uint32_t n) {
  const std::uint8_t address[4] = {10, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                                   static_cast<std::uint8_t>(n)};
  return ClientAddress::ipv4(std::span<const std::uint8_t, 4>(address));
}
const ClientAddress kA = client(1);
const ClientAddress kB = client(2);

// Receive timestamps as the table hands them out are odd; these keys are.
TEST(InterleavedTable, RecordedResponseIsFoundByItsReceiveTimestampOnce) {
  InterleavedTable table(8);
  table.record(kA, ts(1001), ts(2000), false);
  EXPECT_EQ(table.take(kA, ts(1001), false), ts(2000));
  // RFC 9769 §2: a receive timestamp detects one interleaved request, never a second.
  EXPECT_FALSE(table.take(kA, ts(1001), false));
  EXPECT_FALSE(table.take(kA, ts(2000), false));  // a transmit timestamp is not a key
  EXPECT_FALSE(table.take(kA, NtpTimestamp(), false));
  EXPECT_EQ(table.size(), 0u);
}

TEST(InterleavedTable, EntryIsSpentOnlyByTheClientItWasSavedFor) {
  InterleavedTable table(8);
  table.record(kA, ts(1001), ts(2000), false);
  EXPECT_FALSE(table.take(kB, ts(1001), false));  // B names A's receive timestamp
  EXPECT_EQ(table.size(), 1u);                    // ...and A's entry is still there
  EXPECT_EQ(table.take(kA, ts(1001), false), ts(2000));
  // IPv4 and the same bytes as IPv6 are different clients.
  const std::uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1};
  table.record(kA, ts(3001), ts(4000), false);
  EXPECT_FALSE(table.take(ClientAddress::ipv6(std::span<const std::uint8_t, 16>(v6)), ts(3001), false));
}

TEST(InterleavedTable, TwoClientsMayHoldTheSameReceiveTimestamp) {
  InterleavedTable table(8);
  table.record(kA, ts(1001), ts(2000), false);
  table.record(kB, ts(1001), ts(3000), false);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.take(kB, ts(1001), false), ts(3000));
  EXPECT_EQ(table.take(kA, ts(1001), false), ts(2000));
}

TEST(InterleavedTable, OldestEntryIsOverwrittenAndMemoryStaysFixed) {
  InterleavedTable table(4);
  for (std::uint64_t i = 1; i <= 10; ++i) table.record(kA, ts(i * 100 + 1), ts(i * 100 + 2), false);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.capacity(), 4u);
  for (std::uint64_t i = 1; i <= 6; ++i) EXPECT_FALSE(table.take(kA, ts(i * 100 + 1), false)) << i;
  for (std::uint64_t i = 7; i <= 10; ++i) EXPECT_EQ(table.take(kA, ts(i * 100 + 1), false), ts(i * 100 + 2)) << i;
}

// A server with many clients (ntpperf plays thousands of addresses): the table holds the newest
// `capacity` responses whoever they went to, never more, and each is found only by its client.
TEST(InterleavedTable, StaysBoundedUnderManyClients) {
  constexpr std::size_t kCapacity = 256;
  constexpr std::uint32_t kClients = 100'000;
  InterleavedTable table(kCapacity);
  for (std::uint32_t n = 0; n < kClients; ++n) {
    const NtpTimestamp rx = table.unique_receive(client(n), ts(1'000'000 + 2 * std::uint64_t{n}));
    table.record(client(n), rx, ts(rx.raw() + 1), false);
    ASSERT_LE(table.size(), kCapacity);
  }
  EXPECT_EQ(table.size(), kCapacity);
  EXPECT_EQ(table.capacity(), kCapacity);
  // The newest ones are there for their own clients, under no one else's address.
  for (std::uint32_t n = kClients - kCapacity; n < kClients; ++n) {
    const NtpTimestamp key = ts((1'000'000 + 2 * std::uint64_t{n}) | 1);
    EXPECT_FALSE(table.take(client(n + 1), key, false)) << n;
    EXPECT_EQ(table.take(client(n), key, false), InterleavedTable::transmit_timestamp(ts(key.raw() + 1))) << n;
  }
  EXPECT_EQ(table.size(), 0u);
  // The older ones were evicted.
  EXPECT_FALSE(table.take(client(0), ts(1'000'001), false));
}

TEST(InterleavedTable, NoteTransmitImprovesTheEntryUntilItIsOverwritten) {
  InterleavedTable table(2);
  const TransmitHandle first = table.record(kA, ts(11), ts(20), false);
  const TransmitHandle second = table.record(kA, ts(31), ts(40), false);
  EXPECT_TRUE(table.note_transmit(first, ts(22)));
  EXPECT_EQ(table.take(kA, ts(11), false), ts(22));
  EXPECT_FALSE(table.note_transmit(first, ts(24)));  // spent
  table.record(kA, ts(51), ts(60), false);
  table.record(kA, ts(71), ts(80), false);           // second is overwritten now
  EXPECT_FALSE(table.note_transmit(second, ts(42)));
  EXPECT_FALSE(table.note_transmit(TransmitHandle{}, ts(2)));
  EXPECT_FALSE(table.take(kA, ts(31), false));
}

// Saved receive timestamps are odd and unique per client; transmit timestamps as written are
// even. So an origin a basic client echoes (our transmit timestamp) never names an entry, not even
// one saved after that transmit timestamp was written.
TEST(InterleavedTable, ReceiveTimestampsAreOddAndUniqueTransmitTimestampsEven) {
  InterleavedTable table(8);
  EXPECT_EQ(table.unique_receive(kA, ts(1000)), ts(1001));
  EXPECT_EQ(table.unique_receive(kA, ts(1001)), ts(1001));
  table.record(kA, ts(1001), ts(1006), false);
  table.record(kA, ts(1003), ts(1008), false);
  EXPECT_EQ(table.unique_receive(kA, ts(1000)), ts(1005));
  EXPECT_EQ(table.unique_receive(kB, ts(1000)), ts(1001));  // another client's keys do not matter
  EXPECT_FALSE(table.unique_receive(kA, NtpTimestamp()).is_zero());
  EXPECT_EQ(InterleavedTable::transmit_timestamp(ts(1001)), ts(1000));
  EXPECT_EQ(InterleavedTable::transmit_timestamp(ts(1000)), ts(1000));
  EXPECT_FALSE(InterleavedTable::transmit_timestamp(ts(1)).is_zero());
  // A transmit timestamp written before a receive timestamp with the same reading is saved.
  const NtpTimestamp written = InterleavedTable::transmit_timestamp(ts(5000));
  const NtpTimestamp saved = table.unique_receive(kA, ts(5000));
  table.record(kA, saved, ts(6000), false);
  EXPECT_NE(written, saved);
  EXPECT_FALSE(table.take(kA, written, false));
}

TEST(InterleavedTable, NtsEntryServesOnlyNtsRequestsAndPlainOnlyPlain) {
  InterleavedTable table(8);
  table.record(kA, ts(1001), ts(2000), true);
  table.record(kA, ts(3001), ts(4000), false);
  EXPECT_FALSE(table.take(kA, ts(1001), false));
  EXPECT_FALSE(table.take(kA, ts(3001), true));
  EXPECT_EQ(table.take(kA, ts(1001), true), ts(2000));
  EXPECT_EQ(table.take(kA, ts(3001), false), ts(4000));
}

// Colliding keys, removals from the middle of probe runs and wrap-around, over a few clients,
// checked against a map.
TEST(InterleavedTable, AgreesWithAReferenceMapUnderRandomTraffic) {
  constexpr std::size_t kCapacity = 64;
  using Key = std::pair<std::uint32_t, std::uint64_t>;  // client, rx
  InterleavedTable table(kCapacity);
  std::map<Key, std::uint64_t> expected;  // live entries: tx
  std::vector<Key> order;                 // in serving order
  std::mt19937_64 rng(7);
  std::uint64_t spent = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto who = static_cast<std::uint32_t>(rng() % 3);
    const std::uint64_t key = rng() % 512;  // few distinct keys: many collisions and reuses
    if (rng() % 3 == 0) {
      // Odd, as the keys are; an even origin (a basic client's) never finds anything.
      const auto got = table.take(client(who), ts(key | 1), false);
      const auto it = expected.find({who, key | 1});
      ASSERT_EQ(got.has_value(), it != expected.end()) << step;
      if (got) {
        EXPECT_EQ(got->raw(), it->second);
        expected.erase(it);
        ++spent;
      }
      continue;
    }
    const NtpTimestamp rx = table.unique_receive(client(who), ts(key));
    ASSERT_EQ(rx.raw() & 1, 1u);
    ASSERT_EQ(expected.count({who, rx.raw()}), 0u);
    const NtpTimestamp tx = ts(rx.raw() * 3 + 1);
    table.record(client(who), rx, tx, false);
    order.push_back({who, rx.raw()});
    expected[{who, rx.raw()}] = InterleavedTable::transmit_timestamp(tx).raw();
    // The ring drops the entry recorded kCapacity records ago, if it is still live.
    if (order.size() > kCapacity) {
      const Key old = order[order.size() - 1 - kCapacity];
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
