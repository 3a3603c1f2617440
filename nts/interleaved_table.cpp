#include "nts/interleaved_table.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace kairos {
namespace {

constexpr std::uint64_t kReceiveBit = 1;  // set in every saved receive timestamp, clear in every transmit one
constexpr Duration kReceiveSlack = Duration::from_raw(std::int64_t{1} << 22);  // ~1 ms

}  // namespace

ClientAddress ClientAddress::ipv4(std::span<const std::uint8_t, 4> address) {
  ClientAddress client;
  client.bytes[10] = 0xff;  // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)
  client.bytes[11] = 0xff;
  std::copy(address.begin(), address.end(), client.bytes.begin() + 12);
  return client;
}

ClientAddress ClientAddress::ipv6(std::span<const std::uint8_t, 16> address) {
  ClientAddress client;
  std::copy(address.begin(), address.end(), client.bytes.begin());
  return client;
}

InterleavedTable::InterleavedTable(std::size_t capacity)
    : entries_(std::clamp<std::size_t>(capacity, 1, kEmpty - 1)) {
  // At most half full, so probe runs stay short and a search always meets an empty slot.
  const std::size_t slots = std::bit_ceil(2 * entries_.size());
  index_.assign(slots, Slot{});
  index_mask_ = slots - 1;
}

std::uint32_t InterleavedTable::hash(const ClientAddress& client, NtpTimestamp rx) {
  // The low bits of a timestamp are clock noise, the high ones change slowly, and an address
  // differs from its neighbours in a few bits: fold everything in, then mix it all.
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::memcpy(&high, client.bytes.data(), 8);
  std::memcpy(&low, client.bytes.data() + 8, 8);
  std::uint64_t x = rx.raw() ^ low ^ (high * 0x9e3779b97f4a7c15ULL);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return static_cast<std::uint32_t>(x);
}

std::optional<std::size_t> InterleavedTable::find(const ClientAddress& client, NtpTimestamp rx) const {
  const std::uint32_t h = hash(client, rx);
  for (std::size_t i = h & index_mask_;; i = (i + 1) & index_mask_) {
    const Slot& slot = index_[i];
    if (slot.entry == kEmpty) return std::nullopt;
    if (slot.hash == h && entries_[slot.entry].rx == rx && entries_[slot.entry].client == client) return i;
  }
}

// Backward-shift deletion: later members of the probe run move up, so no tombstones pile up.
void InterleavedTable::erase_index(std::size_t slot) {
  std::size_t hole = slot;
  index_[hole] = Slot{};
  for (std::size_t j = (hole + 1) & index_mask_; index_[j].entry != kEmpty; j = (j + 1) & index_mask_) {
    const std::size_t want = index_[j].hash & index_mask_;
    // Entry j may fill the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (want > hole && want <= j) : (want > hole || want <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    index_[j] = Slot{};
    hole = j;
  }
}

void InterleavedTable::forget(std::size_t entry) {
  if (entries_[entry].sequence == 0) return;
  const Entry& e = entries_[entry];
  if (auto slot = find(e.client, e.rx); slot && index_[*slot].entry == entry) erase_index(*slot);
  entries_[entry].sequence = 0;
  --size_;
}

NtpTimestamp InterleavedTable::unique_receive(const ClientAddress& client, NtpTimestamp rx) const {
  // Odd, hence never zero ("no timestamp" on the wire) and never a transmit timestamp.
  rx = NtpTimestamp::from_raw(rx.raw() | kReceiveBit);
  while (find(client, rx)) rx = NtpTimestamp::from_raw(rx.raw() + 2);
  return rx;
}

NtpTimestamp InterleavedTable::transmit_timestamp(NtpTimestamp tx) {
  const std::uint64_t even = tx.raw() & ~kReceiveBit;
  return NtpTimestamp::from_raw(even == 0 ? 2 : even);  // zero means "no timestamp" on the wire
}

std::optional<NtpTimestamp> InterleavedTable::take(const ClientAddress& client, NtpTimestamp origin, bool nts) {
  // An even origin is one of our transmit timestamps echoed by a basic client (or zero).
  if ((origin.raw() & kReceiveBit) == 0) return std::nullopt;
  const auto slot = find(client, origin);
  if (!slot) return std::nullopt;
  const std::uint32_t entry = index_[*slot].entry;
  // An NTS client is answered only from an NTS exchange and a plain one only from a plain one:
  // a transmit timestamp never crosses from an unauthenticated exchange into an authenticated one.
  if (entries_[entry].nts != nts) return std::nullopt;
  const NtpTimestamp tx = entries_[entry].tx;
  forget(entry);
  return tx;
}

TransmitHandle InterleavedTable::record(const ClientAddress& client, NtpTimestamp rx, NtpTimestamp tx, bool nts) {
  const std::uint64_t sequence = next_sequence_++;
  const auto entry = static_cast<std::uint32_t>((sequence - 1) % entries_.size());
  forget(entry);  // the oldest entry, when the ring has come round
  // Callers make rx unique for the client; stay consistent anyway.
  if (auto slot = find(client, rx)) forget(index_[*slot].entry);
  entries_[entry] = Entry{.sequence = sequence, .client = client, .rx = rx, .tx = transmit_timestamp(tx), .nts = nts};
  const std::uint32_t h = hash(client, rx);
  std::size_t i = h & index_mask_;
  while (index_[i].entry != kEmpty) i = (i + 1) & index_mask_;
  index_[i] = Slot{entry, h};
  ++size_;
  return TransmitHandle{sequence};
}

bool InterleavedTable::note_transmit(TransmitHandle handle, NtpTimestamp tx) {
  if (!handle) return false;
  Entry& e = entries_[(handle.sequence - 1) % entries_.size()];
  if (e.sequence != handle.sequence) return false;
  // The slack below rx allows RX and TX stamps from different sources (hardware RX, software TX).
  if ((tx - e.rx) < -kReceiveSlack || (tx - e.tx) > kMaxTransmitLag) return false;
  e.tx = transmit_timestamp(tx);
  return true;
}

}  // namespace kairos
