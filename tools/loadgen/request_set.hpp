#pragma once
// The requests a load run sends, built once before the run so the generator spends almost no CPU
// per packet, and the check of every response against them.
//
// Each request's transmit timestamp is `salt << 32 | index`: a response's origin timestamp
// (RFC 5905 §8: the server echoes our transmit timestamp) names the request it answers with one
// comparison and one array index. Requests are sent round-robin and reused; a response counts as
// served only while its request has more sends than answers, so duplicates cannot inflate the
// count. NTS requests are fully sealed here (RFC 8915 §5.6), so their timestamps cannot change per
// send; the server is stateless, so sending the same sealed request again is a valid request.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"
#include "nts/ke_client.hpp"
#include "nts/ntp_client.hpp"

namespace kairos {

// What one received datagram turned out to be.
enum class Verdict : std::uint8_t {
  kServed,      // a server-mode answer to one of our requests (for NTS: authenticated if checked)
  kNak,         // NTS NAK (kiss NTSN, RFC 8915 §5.7): the server could not use our cookie
  kKiss,        // any other kiss-o'-death (RATE, DENY, RSTR): not served
  kAuthFailed,  // NTS response whose authenticator or unique identifier did not check
  kUnmatched,   // not an answer to a request we sent (unknown origin, or more answers than sends)
  kMalformed,   // not an NTP server-mode packet
};
inline constexpr std::size_t kVerdictCount = 6;
const char* to_string(Verdict verdict);

class RequestSet {
 public:
  // `count` plain NTPv4 client requests.
  static RequestSet plain(std::size_t count, const RandomFill& random);
  // NTS requests: `per_cookie` requests (own unique identifier and nonce each) for every cookie of
  // every NTS-KE result, sealed with that result's C2S key. Each asks for no extra cookie, as a
  // client with a full jar does. Every `verify_every`-th matched response is checked with the
  // S2C key (1 checks all).
  static Result<RequestSet> nts(std::span<const KeClientResult> sessions, std::size_t per_cookie,
                                std::size_t verify_every, const RandomFill& random);

  RequestSet(RequestSet&&) = default;
  RequestSet& operator=(RequestSet&&) = default;

  std::size_t size() const { return requests_.size(); }
  bool is_nts() const { return !sessions_.empty(); }
  ByteView request(std::size_t i) const { return requests_[i].bytes; }
  // Index of the request to send next (round-robin); records it as sent.
  std::size_t next_to_send() {
    const std::size_t i = next_;
    next_ = next_ + 1 == requests_.size() ? 0 : next_ + 1;
    ++requests_[i].sent;
    return i;
  }
  // A request handed out by next_to_send() that never left (send failed).
  void unsend(std::size_t i) { --requests_[i].sent; }

  // Classifies one received datagram and, when it is served, counts it against its request.
  Verdict classify(ByteView response);
  // Responses verified with the S2C key so far (NTS only).
  std::uint64_t verified() const { return verified_; }

 private:
  struct Request {
    std::vector<std::uint8_t> bytes;
    std::uint32_t sent = 0;
    std::uint32_t answered = 0;
    std::uint32_t session = 0;  // NTS: index into sessions_
    std::array<std::uint8_t, kNtsUniqueIdSize> unique_id{};
  };
  RequestSet() = default;
  // The request whose transmit timestamp is `origin`, or nullptr.
  Request* find(std::uint64_t origin);

  std::uint32_t salt_ = 0;
  std::vector<Request> requests_;
  std::vector<Aead> sessions_;  // S2C keys, one per NTS-KE result
  std::size_t next_ = 0;
  std::size_t verify_every_ = 1;
  std::uint64_t matched_ = 0;
  std::uint64_t verified_ = 0;
};

}  // namespace kairos
