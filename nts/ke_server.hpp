#pragma once
// The server side of NTS-KE (RFC 8915 §4), sans IO: one KeServerSession per accepted connection.
// Bytes from the client go in with receive(), bytes to send come out of drain(). After the TLS
// 1.3 handshake (ALPN ntske/1) the session reads one request, answers it — eight cookies sealed
// with the key ring's current master key, or the records that say no protocol or AEAD was agreed,
// or an Error record for a request it refuses — and closes TLS with close_notify.
//
// answer_ke_request() is the part after TLS on its own (request bytes in, response bytes out), so
// the fuzzer can drive it without a handshake per input.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/bytes.hpp"
#include "nts/ke_message.hpp"
#include "nts/ntp_client.hpp"
#include "nts/key_ring.hpp"
#include "nts/nts_keys.hpp"
#include "nts/tls_session.hpp"

namespace kairos {

// RFC 8915 §4.1.6: servers SHOULD send 8 cookies, enough for 8 exchanges without a new NTS-KE.
inline constexpr std::size_t kKeServerCookies = 8;

struct KeServerOptions {
  std::vector<std::uint16_t> aeads{15, 16, 17};  // what we support; the client's order decides
  std::optional<std::string> ntp_server;         // NTPv4 Server Negotiation record (§4.1.7)
  std::optional<std::uint16_t> ntp_port;         // NTPv4 Port Negotiation record (§4.1.8)
  std::size_t max_request = 1024;                // bytes of request accepted before refusing it
  // Fills the cookies' nonces (all eight in one call); empty: RAND_bytes. A server gives each
  // thread its own counter_mode_random() (nts/ntp_responder.hpp): a RAND_bytes call per handshake
  // costs a getpid() and the generator's lock.
  RandomFill cookie_nonces;
};

// Fails on options the server could not honour: an AEAD we cannot derive keys for, an invalid
// server name, a request limit too small for any real request.
Result<void> check_ke_server_options(const KeServerOptions& options);

// What the server answered.
enum class KeReply : std::uint8_t {
  kCookies,      // agreed protocol and AEAD, cookies sent
  kNoAgreement,  // empty Next Protocol or AEAD record, no cookies (§4.1.2, §4.1.5)
  kError,        // an Error record (§4.1.3)
};

struct KeAnswer {
  std::vector<std::uint8_t> message;  // the encoded response
  KeReply reply = KeReply::kError;
  KeNegotiation negotiation;
  std::optional<std::uint16_t> error_code;  // set with kError
  std::string problem;                      // why an Error record was sent, for the log
};

// The NTS keys for a negotiated protocol and AEAD: the TLS exporter in a session, a fixed
// function in the fuzzer.
using KeKeyExporter = std::function<Result<NtsKeys>(std::uint16_t protocol, std::uint16_t aead)>;

// Looks at the request bytes received so far. nullopt: they are the start of a request, wait for
// more. Otherwise the answer to send: to the whole request once End of Message arrived, or an
// Error record (bad request) as soon as the bytes cannot become an acceptable request (a record
// that would pass max_request, End of Message with a body). Bytes after End of Message are
// ignored. Cookies are sealed with ring.current().
std::optional<KeAnswer> answer_ke_request(ByteView received, const KeServerOptions& options,
                                          const KeKeyExporter& export_keys, KeyRing& ring);

// The Error record response for `code`, with the reason for the log.
KeAnswer error_answer(std::uint16_t code, std::string problem);

class KeServerSession {
 public:
  enum class State : std::uint8_t {
    kHandshaking,
    kReadingRequest,
    kDone,    // answered and close_notify queued: drain, then close the connection
    kFailed,  // nothing more to say (failure() says why): drain what is left, then close
  };

  static Result<KeServerSession> start(SSL_CTX* ctx, KeServerOptions options);

  // Bytes that arrived from the client. If they complete the request, the answer's cookies are
  // sealed with `ring` as it is now. Input after kDone or kFailed is ignored.
  State receive(ByteView bytes, KeyRing& ring);
  // The client closed its side of the connection.
  State peer_closed();
  // Bytes to send; returns how many were appended to out.
  std::size_t drain(std::vector<std::uint8_t>& out) { return tls_.drain(out); }
  bool wants_to_send() const { return tls_.wants_to_send(); }

  State state() const { return state_; }
  bool handshake_done() const { return tls_.handshake_done(); }
  // Set once an answer was written (kDone); its message bytes are dropped once written.
  const std::optional<KeAnswer>& answer() const { return answer_; }
  // Why the session failed, or why it answered with an Error record.
  const std::string& failure() const { return failure_; }

 private:
  KeServerSession(TlsSession tls, KeServerOptions options) : tls_(std::move(tls)), options_(std::move(options)) {}
  State read_request(KeyRing& ring);
  State respond(KeAnswer answer);
  State fail_with(std::string reason);

  TlsSession tls_;
  KeServerOptions options_;
  State state_ = State::kHandshaking;
  std::vector<std::uint8_t> request_;
  std::optional<KeAnswer> answer_;
  std::string failure_;
};

}  // namespace kairos
