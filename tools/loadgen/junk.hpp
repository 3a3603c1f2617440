#pragma once
// Malformed and oversize datagrams for an NTP server under load: what a flood mixes in besides
// requests. Every kind is one no server may answer (RFC 5905 §9.2 answers client mode only;
// RFC 7822 §3 says what an extension field must look like), so any answer to one is a finding.
// Built once before a run, like the RequestSet, and reused round-robin.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nts/bytes.hpp"
#include "nts/ntp_client.hpp"

namespace kairos {

enum class JunkKind : std::uint8_t {
  kTooShort,           // 1–47 octets: less than an NTP header
  kBadVersion,         // a 48-octet client request of version 0 or 5–7
  kBadMode,            // a 48-octet NTPv4 packet in any mode but client (3)
  kOversize,           // 1400 octets: a client header, then zeros (an extension field of length 0)
  kBogusExtension,     // a client header and an extension field shorter than 16 or not whole words
  kOverlongExtension,  // a client header and an extension field claiming more octets than follow
  kRandom,             // random octets of random length, never in client mode
};
inline constexpr std::size_t kJunkKindCount = 7;
const char* to_string(JunkKind kind);

// The largest datagram a JunkSet holds (kOversize, and the longest kRandom).
inline constexpr std::size_t kJunkMaxLength = 1400;

// One datagram of `kind`; its random parts come from `random`.
std::vector<std::uint8_t> make_junk(JunkKind kind, const RandomFill& random);

class JunkSet {
 public:
  // `count` datagrams, the kinds in turn, so every kind is sent when count ≥ kJunkKindCount.
  JunkSet(std::size_t count, const RandomFill& random);

  std::size_t size() const { return datagrams_.size(); }
  ByteView datagram(std::size_t i) const { return datagrams_[i]; }
  // The next datagram to send, round-robin.
  ByteView next() {
    const ByteView d = datagrams_[next_];
    next_ = next_ + 1 == datagrams_.size() ? 0 : next_ + 1;
    return d;
  }

 private:
  std::vector<std::vector<std::uint8_t>> datagrams_;
  std::size_t next_ = 0;
};

}  // namespace kairos
