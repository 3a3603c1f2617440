#pragma once
// What an NTP server must remember to answer in the interleaved client/server mode (RFC 9769 §2):
// for each response it served, the client it went to, the receive timestamp it put in that
// response (the key the client echoes as its origin timestamp) and the best transmit timestamp it
// has for that response — at first the one it wrote into the packet, later the kernel or hardware
// stamp taken when the packet actually left.
//
// Entries are per client: a lookup names the client's address and the timestamp together, so a
// request can only spend an entry saved for a response to its own address, never another
// client's whose receive timestamp it happens to carry (issue 24: keyed by timestamp alone, a
// basic request whose origin met some other client's key got that client's transmit stamp).
// And the two kinds of timestamp the server hands out never meet: every saved receive timestamp
// is odd (lowest bit set) and every transmit timestamp written is even, so the origin of a basic
// request — the previous answer's transmit timestamp echoed back (RFC 5905 §8) — can name no
// entry, not even one saved later. One tick is 2^-32 s, far below any clock's precision.
//
// Fixed capacity, allocated once: the oldest entry is overwritten, so memory does not depend on
// traffic or on the number of clients. A flood of requests only pushes entries out early, and a
// client whose entry is gone gets a basic response, which it handles anyway. Lookups are O(1): a
// ring of entries in serving order plus an open-addressed index from (client, receive timestamp)
// to ring slot.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "clock/ntp_time.hpp"

namespace kairos {

// Who sent a request, as far as the interleaved mode tells clients apart: the source address
// without the port (RFC 9769 §2: a client may change its source port between requests, and
// chronyd does, so the server keeps its timestamps per address, not per port). An IPv4 address
// is held as its IPv4-mapped IPv6 form. All zeros: an unknown sender, one client like any other.
struct ClientAddress {
  std::array<std::uint8_t, 16> bytes{};

  static ClientAddress ipv4(std::span<const std::uint8_t, 4> address);
  static ClientAddress ipv6(std::span<const std::uint8_t, 16> address);
  bool operator==(const ClientAddress&) const = default;
};

// Names one served response, so that its transmit stamp can be filled in once the kernel
// reports it. Zero names nothing.
struct TransmitHandle {
  std::uint64_t sequence = 0;
  explicit operator bool() const { return sequence != 0; }
  bool operator==(const TransmitHandle&) const = default;
};

class InterleavedTable {
 public:
  static constexpr std::size_t kDefaultCapacity = 16384;
  static constexpr Duration kMaxTransmitLag = Duration::from_raw(std::int64_t{1} << 32);  // 1 s

  explicit InterleavedTable(std::size_t capacity = kDefaultCapacity);

  std::size_t capacity() const { return entries_.size(); }
  std::size_t size() const { return size_; }

  // A receive timestamp for a new response to `client`: `rx` made odd, or the next odd value
  // after it that none of the client's saved entries uses (RFC 9769 §2: the server SHOULD make
  // its receive timestamps unique, so an origin timestamp names exactly one earlier response).
  NtpTimestamp unique_receive(const ClientAddress& client, NtpTimestamp rx) const;
  // The transmit timestamp to write into an answer: `tx` made even, so it never equals a receive
  // timestamp from unique_receive (RFC 9769 §2: a basic client echoes the transmit timestamp as
  // its origin, which must never be mistaken for an interleaved request).
  static NtpTimestamp transmit_timestamp(NtpTimestamp tx);

  // The transmit timestamp saved for the response to `client` whose receive timestamp was
  // `origin`, if the entry is still there and belongs to the same kind of exchange (NTS or not).
  // The entry is then spent: RFC 9769 §2 says a receive timestamp must not detect an interleaved
  // request twice, so a replayed request cannot draw the same transmit timestamp again.
  std::optional<NtpTimestamp> take(const ClientAddress& client, NtpTimestamp origin, bool nts);

  // Saves one served response and returns its handle. Overwrites the oldest entry when full.
  TransmitHandle record(const ClientAddress& client, NtpTimestamp rx, NtpTimestamp tx, bool nts);

  // The better transmit stamp for a response, once it is known. False when the entry is gone
  // (overwritten or spent) or the stamp cannot be this response's — before its request arrived,
  // or more than kMaxTransmitLag after the server's own reading — and is dropped: a stamp matched
  // to the wrong packet must not reach a client.
  bool note_transmit(TransmitHandle handle, NtpTimestamp tx);

 private:
  struct Entry {
    std::uint64_t sequence = 0;  // 0: empty; else the handle that names it
    ClientAddress client;
    NtpTimestamp rx;
    NtpTimestamp tx;
    bool nts = false;
  };
  static constexpr std::uint32_t kEmpty = UINT32_MAX;
  // An index slot: the entry's number and its key's hash. A probe compares the hash before it
  // reads the entry, and backward-shift deletion finds a moved key's home from it, so probing
  // past other keys touches only the index, not an entry each (a cache miss each in a table of
  // 16k entries: 9 % of a worker's CPU at 50k requests/s before the hash was kept).
  struct Slot {
    std::uint32_t entry = kEmpty;
    std::uint32_t hash = 0;
  };

  static std::uint32_t hash(const ClientAddress& client, NtpTimestamp rx);
  // Index slot holding (client, rx), or nullopt.
  std::optional<std::size_t> find(const ClientAddress& client, NtpTimestamp rx) const;
  void erase_index(std::size_t slot);
  void forget(std::size_t entry);

  std::vector<Entry> entries_;       // ring in serving order
  std::vector<Slot> index_;  // open addressing, linear probing; a slot's home is hash & index_mask_
  std::size_t index_mask_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::size_t size_ = 0;
};

}  // namespace kairos
