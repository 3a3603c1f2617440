#pragma once
// What an NTP server must remember to answer in the interleaved client/server mode (RFC 9769 §2):
// for each response it served, the receive timestamp it put in that response (the key a client
// echoes as its origin timestamp) and the best transmit timestamp it has for that response — at
// first the one it wrote into the packet, later the kernel or hardware stamp taken when the
// packet actually left.
//
// Fixed capacity, allocated once: the oldest entry is overwritten, so memory does not depend on
// traffic. A flood of requests only pushes entries out early, and a client whose entry is gone
// gets a basic response, which it handles anyway. Lookups are O(1): a ring of entries in serving
// order plus an open-addressed index from receive timestamp to ring slot.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "clock/ntp_time.hpp"

namespace kairos {

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

  // A receive timestamp for a new response that no saved entry uses as its key: `rx` itself, or
  // the next value after it that is free (RFC 9769 §2: the server SHOULD make sure its receive
  // timestamps are unique, so an origin timestamp names exactly one earlier response). One tick is
  // 2^-32 s, far below any clock's precision.
  NtpTimestamp unique_receive(NtpTimestamp rx) const;
  // A transmit timestamp for a basic response that equals neither its receive timestamp nor any
  // saved one (RFC 9769 §2: a basic client echoes the transmit timestamp as its origin, which must
  // never be mistaken for an interleaved request).
  NtpTimestamp unique_transmit(NtpTimestamp tx, NtpTimestamp rx) const;

  // The transmit timestamp saved for the response whose receive timestamp was `origin`, if the
  // entry is still there and belongs to the same kind of exchange (NTS or not). The entry is then
  // spent: RFC 9769 §2 says a receive timestamp must not detect an interleaved request twice,
  // so a replayed request cannot draw the same transmit timestamp again.
  std::optional<NtpTimestamp> take(NtpTimestamp origin, bool nts);

  // Saves one served response and returns its handle. Overwrites the oldest entry when full.
  TransmitHandle record(NtpTimestamp rx, NtpTimestamp tx, bool nts);

  // The better transmit stamp for a response, once it is known. False when the entry is gone
  // (overwritten or spent) or the stamp cannot be this response's — before its request arrived,
  // or more than kMaxTransmitLag after the server's own reading — and is dropped: a stamp matched
  // to the wrong packet must not reach a client.
  bool note_transmit(TransmitHandle handle, NtpTimestamp tx);

 private:
  struct Entry {
    std::uint64_t sequence = 0;  // 0: empty; else the handle that names it
    NtpTimestamp rx;
    NtpTimestamp tx;
    bool nts = false;
  };
  static constexpr std::uint32_t kEmpty = UINT32_MAX;

  std::size_t home(NtpTimestamp rx) const;
  // Index slot holding `rx`, or nullopt.
  std::optional<std::size_t> find(NtpTimestamp rx) const;
  void erase_index(std::size_t slot);
  void forget(std::size_t entry);

  std::vector<Entry> entries_;       // ring in serving order
  std::vector<std::uint32_t> index_;  // open addressing, linear probing: entry numbers
  std::size_t index_mask_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::size_t size_ = 0;
};

}  // namespace kairos
