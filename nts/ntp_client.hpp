#pragma once
// One client/server exchange (RFC 5905 §8, RFC 8915 §5), sans IO: make_request() gives the
// bytes to send, handle_response() checks what came back and yields a sample. The caller owns
// the socket and supplies t1 (when the request left) and t4 (when the response arrived).
//
// The request's transmit timestamp is random, never our clock (RFC 9109 §3, as modern clients
// do): it only has to come back as the response's origin timestamp.
//
// Interleaved mode (RFC 9769 §2): given what the client kept of its last valid exchange with the
// server, the request's origin timestamp is that response's receive timestamp, and its receive
// timestamp a second random value. A server that still has that exchange answers with the
// transmit timestamp of that earlier response — taken when it actually left — and echoes our
// receive field as its origin; one that does not answers in the basic mode, echoing our transmit
// field. The sample of an interleaved answer describes the *previous* exchange: its t1, the
// server's t2, the new t3 and its t4, all four from the same exchange.
#include <ctime>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock/ntp_time.hpp"
#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/ke_client.hpp"
#include "nts/ntp_packet.hpp"

namespace kairos {

// Fills a buffer with unpredictable bytes; the default draws from OpenSSL's CSPRNG.
using RandomFill = std::function<void(std::span<std::uint8_t>)>;
RandomFill system_random();

inline constexpr std::size_t kNtsCookieTarget = 8;  // cookies an NTS client keeps (RFC 8915 §5.7)
inline constexpr std::size_t kNtsUniqueIdSize = 32;
inline constexpr std::size_t kNtsNonceSize = 16;
// Interleaved requests (RFC 9769) name the client's last valid exchange; after this many requests
// without a valid answer the server has likely forgotten it (and its offset is old news): the
// client starts over in basic mode. kairosd's association and kairos-sim both follow it.
inline constexpr int kMaxInterleavedGap = 4;

// The client's NTS state for one server: keys from NTS-KE and a jar of single-use cookies.
class NtsClientSession {
 public:
  static Result<NtsClientSession> create(const KeClientResult& ke);

  std::uint16_t aead_id() const { return aead_id_; }
  std::size_t cookies() const { return jar_.size(); }
  std::size_t cookie_length() const { return jar_.empty() ? 0 : jar_.front().size(); }
  // No cookie left: a new NTS-KE is needed.
  bool exhausted() const { return jar_.empty(); }
  void drop_cookies() { jar_.clear(); }
  // The unused cookies, oldest first (saved across a restart by the daemon).
  const std::deque<std::vector<std::uint8_t>>& jar() const { return jar_; }

 private:
  friend class NtpClientExchange;
  NtsClientSession(std::uint16_t aead_id, Aead c2s, Aead s2c) : aead_id_(aead_id), c2s_(std::move(c2s)), s2c_(std::move(s2c)) {}

  std::uint16_t aead_id_;
  Aead c2s_;
  Aead s2c_;
  std::deque<std::vector<std::uint8_t>> jar_;
};

// What a client keeps of its last valid exchange with one server for the next interleaved request.
struct InterleavedState {
  NtpTimestamp server_receive;  // t2 the server reported: echoed as our origin timestamp
  timespec t1{};                // when our request left (best: the kernel's TX stamp)
  timespec t4{};                // when the server's response arrived
  // The clock t1 and t4 were read on: 0 for the system clock, else the index of the interface
  // whose PHC stamped both. An interleaved sample is in the timescale of the exchange it completes.
  int phc_ifindex = 0;
};

struct NtpSample {
  Duration offset;  // server clock minus ours
  Duration delay;   // round trip minus the server's processing
  NtpHeader header;
  bool authenticated = false;
  std::size_t cookies_received = 0;
  // An interleaved answer: offset and delay describe the previous exchange, completed with the
  // transmit timestamp the server took after its response had left.
  bool interleaved = false;
  // Seconds from the exchange the sample describes to this response (our clock): 0 in the basic
  // mode, about a poll interval for an interleaved answer. The model dates the sample by it.
  double age = 0;
  // This exchange, for the next interleaved request (t1 may still improve: see InterleavedState).
  InterleavedState next;
};

// Why a response was not a sample. The kinds drive what the association does next.
enum class ResponseProblem {
  kMalformed,       // not a valid NTP server response
  kNotOurs,         // origin or UID does not match the request: stale, replayed or forged
  kAuthFailed,      // NTS authenticator missing or wrong
  kNtsNak,          // the server could not open our cookie (unauthenticated: may be forged)
  kDenied,          // kiss DENY or RSTR: stop asking this server
  kRateLimited,     // kiss RATE: poll less often
  kUnsynchronized,  // server has no time to give (leap 3, stratum 0 or ≥ 16)
};
const char* to_string(ResponseProblem problem);

struct ResponseError {
  ResponseProblem problem;
  std::string message;
};

class NtpClientExchange {
 public:
  // A plain NTPv4 request; interleaved when `previous` is given.
  static NtpClientExchange plain(const RandomFill& random, const InterleavedState* previous = nullptr);
  // An NTS request using one cookie from the session's jar and asking for enough new ones to
  // refill it; interleaved when `previous` is given (the state must come from an NTS exchange
  // with the same server). Fails when the jar is empty.
  static Result<NtpClientExchange> nts(NtsClientSession& session, const RandomFill& random,
                                       const InterleavedState* previous = nullptr);

  std::span<const std::uint8_t> request() const { return request_; }
  bool uses_nts() const { return nts_; }
  bool asks_interleaved() const { return previous_.has_value(); }
  const std::optional<InterleavedState>& previous() const { return previous_; }

  // Checks a response and computes the sample from local t1 and t4 (CLOCK_REALTIME or PHC time).
  std::expected<NtpSample, ResponseError> handle_response(ByteView response, const timespec& t1, const timespec& t4,
                                                          NtsClientSession* session) const;

 private:
  NtpClientExchange() = default;
  void choose_timestamps(const RandomFill& random, const InterleavedState* previous);
  NtpHeader header() const;

  std::vector<std::uint8_t> request_;
  NtpTimestamp transmit_;  // the random value we sent; must come back as origin
  NtpTimestamp receive_;   // interleaved requests: a second random value, echoed as origin instead
  std::optional<InterleavedState> previous_;  // the exchange an interleaved answer completes
  std::array<std::uint8_t, kNtsUniqueIdSize> unique_id_{};
  bool nts_ = false;
};

}  // namespace kairos
