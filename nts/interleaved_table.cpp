#include "nts/interleaved_table.hpp"

#include <algorithm>
#include <bit>

namespace kairos {
namespace {

constexpr Duration kTick = Duration::from_raw(1);
constexpr Duration kReceiveSlack = Duration::from_raw(std::int64_t{1} << 22);  // ~1 ms

}  // namespace

InterleavedTable::InterleavedTable(std::size_t capacity)
    : entries_(std::clamp<std::size_t>(capacity, 1, kEmpty - 1)) {
  // At most half full, so probe runs stay short and a search always meets an empty slot.
  const std::size_t slots = std::bit_ceil(2 * entries_.size());
  index_.assign(slots, kEmpty);
  index_mask_ = slots - 1;
}

std::size_t InterleavedTable::home(NtpTimestamp rx) const {
  // The low bits of a timestamp are clock noise, the high ones change slowly: mix them all.
  std::uint64_t x = rx.raw();
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<std::size_t>(x) & index_mask_;
}

std::optional<std::size_t> InterleavedTable::find(NtpTimestamp rx) const {
  for (std::size_t i = home(rx);; i = (i + 1) & index_mask_) {
    const std::uint32_t e = index_[i];
    if (e == kEmpty) return std::nullopt;
    if (entries_[e].rx == rx) return i;
  }
}

// Backward-shift deletion: later members of the probe run move up, so no tombstones pile up.
void InterleavedTable::erase_index(std::size_t slot) {
  std::size_t hole = slot;
  index_[hole] = kEmpty;
  for (std::size_t j = (hole + 1) & index_mask_; index_[j] != kEmpty; j = (j + 1) & index_mask_) {
    const std::size_t want = home(entries_[index_[j]].rx);
    // Entry j may fill the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (want > hole && want <= j) : (want > hole || want <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    index_[j] = kEmpty;
    hole = j;
  }
}

void InterleavedTable::forget(std::size_t entry) {
  if (entries_[entry].sequence == 0) return;
  if (auto slot = find(entries_[entry].rx); slot && index_[*slot] == entry) erase_index(*slot);
  entries_[entry].sequence = 0;
  --size_;
}

NtpTimestamp InterleavedTable::unique_receive(NtpTimestamp rx) const {
  if (rx.is_zero()) rx = rx + kTick;  // zero means "no timestamp" on the wire
  while (find(rx)) rx = rx + kTick;
  return rx;
}

NtpTimestamp InterleavedTable::unique_transmit(NtpTimestamp tx, NtpTimestamp rx) const {
  if (tx.is_zero()) tx = tx + kTick;
  while (tx == rx || find(tx)) tx = tx + kTick;
  return tx;
}

std::optional<NtpTimestamp> InterleavedTable::take(NtpTimestamp origin, bool nts) {
  if (origin.is_zero()) return std::nullopt;
  const auto slot = find(origin);
  if (!slot) return std::nullopt;
  const std::uint32_t entry = index_[*slot];
  // An NTS client is answered only from an NTS exchange and a plain one only from a plain one:
  // a transmit timestamp never crosses from an unauthenticated exchange into an authenticated one.
  if (entries_[entry].nts != nts) return std::nullopt;
  const NtpTimestamp tx = entries_[entry].tx;
  forget(entry);
  return tx;
}

TransmitHandle InterleavedTable::record(NtpTimestamp rx, NtpTimestamp tx, bool nts) {
  const std::uint64_t sequence = next_sequence_++;
  const auto entry = static_cast<std::uint32_t>((sequence - 1) % entries_.size());
  forget(entry);  // the oldest entry, when the ring has come round
  if (auto slot = find(rx)) forget(index_[*slot]);  // callers make rx unique; stay consistent anyway
  entries_[entry] = Entry{.sequence = sequence, .rx = rx, .tx = tx, .nts = nts};
  std::size_t i = home(rx);
  while (index_[i] != kEmpty) i = (i + 1) & index_mask_;
  index_[i] = entry;
  ++size_;
  return TransmitHandle{sequence};
}

bool InterleavedTable::note_transmit(TransmitHandle handle, NtpTimestamp tx) {
  if (!handle) return false;
  Entry& e = entries_[(handle.sequence - 1) % entries_.size()];
  if (e.sequence != handle.sequence) return false;
  // The slack below rx allows RX and TX stamps from different sources (hardware RX, software TX).
  if ((tx - e.rx) < -kReceiveSlack || (tx - e.tx) > kMaxTransmitLag) return false;
  e.tx = tx;
  return true;
}

}  // namespace kairos
