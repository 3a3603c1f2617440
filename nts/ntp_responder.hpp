#pragma once
// The server side of NTPv4 (RFC 5905 §8, §9.2) and NTS (RFC 8915 §5), sans IO: one received
// datagram in, the bytes to send back (or nothing) out. The daemon owns the sockets, reads the
// kernel receive timestamp and the sender's address, hands over its rate limiter, and calls
// respond() once per datagram.
//
// What is answered and how:
//  - plain client requests (mode 3, versions 1–4): a server response (mode 4, same version);
//  - NTS requests (any NTS extension field present, RFC 8915 §5.7): a response authenticated
//    with the cookie's server-to-client key, echoing the unique identifier, with fresh cookies
//    in the encrypted part; an NTS NAK when the cookie does not open or the request does not
//    authenticate;
//  - over the rate limit: a RATE kiss-o'-death, authenticated for NTS requests (RFC 8915 §5.7:
//    clients ignore unauthenticated kisses other than NTSN);
//  - everything else is dropped and counted: never an answer larger than the request, never an
//    answer to modes other than client (no symmetric, broadcast or mode 6/7 control traffic);
//  - with enable_interleaved(): requests in the interleaved client/server mode (RFC 9769 §2) get
//    the transmit timestamp of the earlier response to the same client they name, as good as the
//    daemon reported it through note_transmit(); all others are answered in the basic mode as
//    before (see interleaved_transmit() for the rule).
//
// One responder per worker thread (not thread-safe); counters are merged across workers.
// Interleaved mode and workers: each worker has its own table, so an interleaved request is only
// recognised by the worker that served the previous response. The daemon therefore steers each
// client's requests to one worker by source address (daemon/ntp_server.cpp), not by the default
// 4-tuple hash: chronyd opens a fresh socket per request even with xleave. A client that still
// lands elsewhere (its address changed) gets a basic response — correct, only not better.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "clock/leap_smear.hpp"
#include "clock/ntp_time.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"
#include "nts/interleaved_table.hpp"
#include "nts/key_ring.hpp"
#include "nts/ntp_client.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/rate_limiter.hpp"

namespace kairos {

// What the server says about its own clock in every response (RFC 5905 §7.3).
// RFC 5905 §7.3: the reference ID a server synchronized to an upstream at `address` announces:
// an IPv4 address (4 bytes, network order) as itself, an IPv6 address (16 bytes) as the first
// four octets of its MD5 digest. 0 for any other length.
std::uint32_t reference_id_of_address(std::span<const std::uint8_t> address);

struct ServerClockState {
  NtpLeap leap = NtpLeap::kUnsynchronized;
  std::uint8_t stratum = 16;  // 16 = unsynchronized
  std::int8_t precision = -20;
  NtpShort root_delay;
  NtpShort root_dispersion;
  std::uint32_t reference_id = 0;
  NtpTimestamp reference_time;
  // [server] leap-smear: every timestamp served (receive, transmit, reference) is smeared around
  // this leap second (clock/leap_smear.hpp). The leap field is then the caller's to clear.
  std::optional<LeapSmear> smear;

  bool operator==(const ServerClockState&) const = default;
};

enum class ResponseKind : std::uint8_t {
  kPlain,     // NTPv1–4 server response
  kNts,       // NTS-authenticated server response with fresh cookies
  kNak,       // NTS NAK (kiss NTSN, unauthenticated, RFC 8915 §5.7)
  kRateKiss,  // kiss RATE; authenticated when the request was NTS (see Response::authenticated)
  kDropped,   // nothing to send
};

enum class DropReason : std::uint8_t {
  kNone,
  kTooShort,        // shorter than the 48-byte header
  kBadVersion,      // version 0 or 5–7
  kNotClientMode,   // any mode but 3: no symmetric, broadcast or control (6/7) answers
  kMalformed,       // extension fields or MAC do not parse (RFC 7822)
  kLegacyMac,       // symmetric-key MAC or crypto-NAK: kairos has no symmetric keys
  kMalformedNts,    // NTS fields present but not a well-formed NTS request (RFC 8915 §5.7)
  kRateLimited,     // the caller's rate limiter said drop
  kResponseFailed,  // the answer could not be built (output buffer too small, crypto failure)
};
inline constexpr std::size_t kDropReasonCount = 9;
const char* to_string(DropReason reason);

enum class NakReason : std::uint8_t {
  kNone,
  kNoKeyRing,         // no NTS-KE server configured: no cookie can open
  kCookieRejected,    // unknown or expired key id, forged or damaged cookie
  kNotAuthenticated,  // the authenticator does not verify with the cookie's C2S key
};
inline constexpr std::size_t kNakReasonCount = 4;
const char* to_string(NakReason reason);

struct Response {
  ResponseKind kind = ResponseKind::kDropped;
  DropReason drop = DropReason::kNone;
  NakReason nak = NakReason::kNone;
  bool authenticated = false;  // sealed with the client's S2C key (kNts, or an NTS kRateKiss)
  std::size_t cookies = 0;     // fresh cookies inside an authenticated answer
  std::size_t length = 0;      // bytes to send from the start of `out`; 0 when dropped
  bool interleaved = false;    // carries the previous response's transmit timestamp (RFC 9769)
  // Set when interleaved mode is on and this answer was saved for a later interleaved request:
  // pass it to note_transmit() with the stamp of the packet's departure.
  TransmitHandle transmit_handle;
};

struct ResponderCounters {
  std::uint64_t plain = 0;             // plain server responses
  std::uint64_t nts = 0;               // authenticated NTS responses
  std::uint64_t rate_kisses_plain = 0; // RATE kisses to plain requests
  std::uint64_t rate_kisses_nts = 0;   // authenticated RATE kisses to NTS requests
  std::uint64_t cookies_sent = 0;      // fresh cookies in authenticated answers
  std::uint64_t interleaved = 0;       // plain or NTS responses in the interleaved mode
  std::array<std::uint64_t, kNakReasonCount> naks{};       // by NakReason (kNone unused)
  std::array<std::uint64_t, kDropReasonCount> dropped{};   // by DropReason (kNone unused)

  std::uint64_t naks_total() const;
  std::uint64_t dropped_total() const;
  std::uint64_t naks_for(NakReason reason) const { return naks[static_cast<std::size_t>(reason)]; }
  std::uint64_t dropped_for(DropReason reason) const { return dropped[static_cast<std::size_t>(reason)]; }
  // Requests seen: every respond() call counts exactly once somewhere above.
  std::uint64_t requests() const;
  void add(const ResponderCounters& other);
};

// At most this many fresh cookies per answer, whatever the number of placeholders: a client
// keeps eight (RFC 8915 §5.7 suggests that many), and each cookie costs the server a seal, so an
// authenticated client cannot make one small request cost dozens of seals.
inline constexpr std::size_t kMaxFreshCookies = 8;

// The rate limit for one request: a limiter to ask with the client's key and the time, or a fixed
// decision (tests, tools). The responder asks only once a request has parsed as one it would
// answer: junk is dropped anyway, and must neither use up a client's rate nor take the one kiss
// per interval that tells an over-limit client to slow down.
class RateCheck {
 public:
  RateCheck(RateDecision fixed) : fixed_(fixed) {}  // NOLINT(google-explicit-constructor)
  RateCheck(RateLimiter& limiter, const RateKey& client, std::int64_t now_ns)
      : limiter_(&limiter), client_(client), now_ns_(now_ns) {}

  RateDecision decide() const { return limiter_ ? limiter_->check(client_, now_ns_) : fixed_; }

 private:
  RateDecision fixed_ = RateDecision::kAllow;
  RateLimiter* limiter_ = nullptr;
  RateKey client_{};
  std::int64_t now_ns_ = 0;
};

class NtpResponder {
 public:
  // `now` reads the server clock for the transmit timestamp (T3). `random` fills every nonce
  // (response authenticators and fresh cookies); it is called once per nonce, so it should be
  // cheap: see counter_mode_random() for the generator a server worker wants.
  NtpResponder(std::function<NtpTimestamp()> now, RandomFill random);

  NtpResponder(NtpResponder&&) noexcept = default;
  NtpResponder& operator=(NtpResponder&&) noexcept = default;

  void set_clock_state(const ServerClockState& state) { clock_ = state; }
  // For a smearing server: true while the kernel is in (or past) the second it inserts, so that a
  // reading of the 23:59:59 it shows twice is smeared as the second one. Asked only for readings
  // in that second; without it, such readings count as the first 23:59:59.
  void set_inserted_second_probe(std::function<bool()> probe) { inserted_second_ = std::move(probe); }
  const ServerClockState& clock_state() const { return clock_; }

  // Turns on the interleaved mode with a table of `capacity` responses (allocated here, once).
  void enable_interleaved(std::size_t capacity = InterleavedTable::kDefaultCapacity);
  bool interleaved_enabled() const { return table_.has_value(); }
  // The stamp of a response's actual departure (kernel or hardware), for the response named by
  // `handle`; false when that response is no longer remembered.
  bool note_transmit(TransmitHandle handle, NtpTimestamp tx);

  // One request from `client` received at `rx_time` (T2, best the kernel receive timestamp).
  // `client` is the source address (no port); only the interleaved mode looks at it. `ring` is
  // nullptr when no NTS-KE server is configured. The answer is written to the start of `out`,
  // which should have room for the request's length: no answer is ever longer than that (a
  // smaller `out` gets fewer cookies, or a kResponseFailed drop). Exceptions from `now` or
  // `random` propagate.
  Response respond(ByteView request, NtpTimestamp rx_time, const ClientAddress& client, RateCheck rate, KeyRing* ring,
                   std::span<std::uint8_t> out);

  const ResponderCounters& counters() const { return counters_; }

 private:
  struct AeadPair {
    Aead c2s;
    Aead s2c;
  };

  Response drop(DropReason reason);
  Response nak(NakReason reason, NtpHeader header, ByteView unique_id, std::span<std::uint8_t> out);
  Response respond_plain(const NtpHeader& request, NtpTimestamp rx_time, const ClientAddress& client,
                         RateDecision rate, std::span<std::uint8_t> out);
  Response respond_nts(ByteView packet, const NtpPacketView& parsed, NtpTimestamp rx_time, const ClientAddress& client,
                       RateCheck rate, KeyRing* ring, std::span<std::uint8_t> out);
  // The saved transmit timestamp an interleaved request asks for (spent on return), if any.
  std::optional<NtpTimestamp> interleaved_transmit(const ClientAddress& client, const NtpHeader& request, bool nts);
  // The transmit timestamp as written: even while the interleaved mode is on (InterleavedTable).
  NtpTimestamp as_transmitted(NtpTimestamp tx) const;
  // The header of every answer; the caller sets the transmit timestamp, as late as it can.
  NtpHeader answer_header(const NtpHeader& request, NtpTimestamp rx_time) const;
  // This algorithm's two AEADs, keyed for one request: re-keyed in place, not created, since
  // creating costs ~2 µs each (see Aead::rekey).
  AeadPair* aeads_for(std::uint16_t aead_id, ByteView c2s, ByteView s2c);

  // A reading of the system clock as served: smeared while clock_.smear says so.
  NtpTimestamp served(NtpTimestamp reading) const;
  NtpTimestamp served_now() const { return served(now_()); }

  std::function<NtpTimestamp()> now_;
  std::function<bool()> inserted_second_;
  RandomFill random_;
  ServerClockState clock_;
  ResponderCounters counters_;
  std::optional<InterleavedTable> table_;
  // Indexed by AEAD id - 15 (AES-SIV-CMAC-256, -384, -512); built on first use.
  std::array<std::optional<AeadPair>, 3> aeads_;
};

// A nonce source for a server worker: AES-128-CTR keystream under a key drawn once from `seed`
// (normally system_random()), handed out in whole 16-byte blocks.
//
// Why this is safe for NTS nonces: a nonce must never repeat under one key (RFC 8915 §5.6 for
// the authenticator, §6 for cookies sealed under the master key). Every call consumes fresh
// counter blocks, and AES under one key is a permutation, so two blocks of one generator are
// never equal; two generators (other workers, other hosts sharing the master key, restarts) have
// independent random keys and counters, so their blocks collide with probability about
// n^2 / 2^129 — the same as for nonces drawn from RAND_bytes. The keystream is also unpredictable
// without the key, so nonces on the wire reveal nothing (not even a request count).
//
// Why not RAND_bytes per nonce: it costs ~3 µs per call in OpenSSL 3, a third of the budget of a
// whole NTS answer; one CTR call yields 64 nonces for less than one RAND_bytes call.
// Copies of the returned function share one stream: give each worker thread its own.
Result<RandomFill> counter_mode_random(const RandomFill& seed);

}  // namespace kairos
