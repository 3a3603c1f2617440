#include "nts/ke_server.hpp"

#include <openssl/rand.h>

#include <array>
#include <span>
#include <string>
#include <utility>

#include "nts/aead.hpp"
#include "nts/cookie.hpp"

namespace kairos {
namespace {

// The smallest request that can succeed: Next Protocol (one id), AEAD Algorithm (one id) and
// End of Message, each with its 4-byte header.
constexpr std::size_t kMinRequestLimit = 3 * kKeRecordHeaderLength + 2 + 2;
// A request is tens of bytes; the limit bounds each connection's buffer.
constexpr std::size_t kMaxRequestLimit = 64 * 1024;

Result<std::vector<std::vector<std::uint8_t>>> seal_cookies(const NtsKeys& keys, KeyRing& ring,
                                                            const RandomFill& fill_nonces) {
  // A fresh random nonce per cookie (RFC 8915 §6): cookies must not be linkable to each other.
  // All of them from one call: OpenSSL's every RAND_bytes call checks getpid() for a fork (a
  // system call) and locks its generator, which eight calls per handshake paid eight times.
  std::array<std::uint8_t, kKeServerCookies * kCookieNonceLength> nonces{};
  if (fill_nonces) {
    fill_nonces(nonces);
  } else if (RAND_bytes(nonces.data(), static_cast<int>(nonces.size())) != 1) {
    return fail("RAND_bytes failed for cookie nonces");
  }
  std::vector<std::vector<std::uint8_t>> cookies;
  cookies.reserve(kKeServerCookies);
  MasterKey& master = ring.current();
  for (std::size_t i = 0; i < kKeServerCookies; ++i) {
    std::vector<std::uint8_t> cookie(kCookieMaxLength);
    const std::span<const std::uint8_t, kCookieNonceLength> nonce(nonces.data() + i * kCookieNonceLength,
                                                                   kCookieNonceLength);
    auto length = seal_cookie(keys, master, nonce, cookie);
    if (!length) return std::unexpected(length.error());
    cookie.resize(*length);
    cookies.push_back(std::move(cookie));
  }
  return cookies;
}

}  // namespace

Result<void> check_ke_server_options(const KeServerOptions& options) {
  if (options.aeads.empty()) return fail("no AEAD algorithm to offer");
  for (std::uint16_t id : options.aeads) {
    if (!aead_key_length(id)) return fail("AEAD algorithm " + std::to_string(id) + " is not supported");
  }
  if (options.ntp_server && !is_valid_server_name(*options.ntp_server)) {
    return fail("NTP server name \"" + *options.ntp_server + "\" is not a printable ASCII host name");
  }
  if (options.max_request < kMinRequestLimit || options.max_request > kMaxRequestLimit) {
    return fail("request limit of " + std::to_string(options.max_request) + " bytes; expected " +
                std::to_string(kMinRequestLimit) + " to " + std::to_string(kMaxRequestLimit));
  }
  return {};
}

KeAnswer error_answer(std::uint16_t code, std::string problem) {
  KeAnswer answer;
  // An Error record and End of Message always encode.
  answer.message = encode_response(make_error_response(code)).value();
  answer.reply = KeReply::kError;
  answer.error_code = code;
  answer.problem = std::move(problem);
  return answer;
}

std::optional<KeAnswer> answer_ke_request(ByteView received, const KeServerOptions& options,
                                          const KeKeyExporter& export_keys, KeyRing& ring) {
  // The scan refuses a record from its header alone once it would pass the limit, so an oversize
  // request is answered without waiting for (or buffering) the rest of it.
  auto scan = scan_message(received, options.max_request);
  if (!scan) return error_answer(kKeErrorBadRequest, "bad request: " + scan.error().message);
  if (!scan->complete) return std::nullopt;
  auto request = decode_request(received.first(scan->message_length), options.max_request);
  // §4.1.3: code 0 for an unrecognized critical record, 1 for any other malformed request.
  if (!request) return error_answer(request.error().code, std::move(request.error().message));

  KeAnswer answer;
  answer.negotiation = negotiate(*request, options.aeads);
  std::vector<std::vector<std::uint8_t>> cookies;
  if (answer.negotiation.agreed()) {
    auto keys = export_keys(*answer.negotiation.next_protocol, *answer.negotiation.aead);
    if (!keys) return error_answer(kKeErrorInternal, "cannot export NTS keys: " + keys.error().message);
    auto sealed = seal_cookies(*keys, ring, options.cookie_nonces);
    if (!sealed) return error_answer(kKeErrorInternal, "cannot seal cookies: " + sealed.error().message);
    cookies = std::move(*sealed);
  }
  KeResponse response = make_response(answer.negotiation, std::move(cookies));
  // §4.1.7, §4.1.8: where to send NTP only matters to a client that got cookies to use there.
  if (answer.negotiation.agreed()) {
    response.server = options.ntp_server;
    response.port = options.ntp_port;
  }
  auto wire = encode_response(response);
  if (!wire) return error_answer(kKeErrorInternal, "cannot encode the response: " + wire.error().message);
  answer.message = std::move(*wire);
  answer.reply = answer.negotiation.agreed() ? KeReply::kCookies : KeReply::kNoAgreement;
  return answer;
}

Result<KeServerSession> KeServerSession::start(SSL_CTX* ctx, KeServerOptions options) {
  auto tls = TlsSession::server(ctx);
  if (!tls) return std::unexpected(tls.error());
  return KeServerSession(std::move(*tls), std::move(options));
}

KeServerSession::State KeServerSession::receive(ByteView bytes, KeyRing& ring) {
  if (state_ == State::kDone || state_ == State::kFailed) return state_;
  if (auto ok = tls_.feed(bytes); !ok) return fail_with(ok.error().message);
  if (state_ == State::kHandshaking) {
    // A missing or wrong ALPN fails here: TLS 1.3 with ntske/1 or nothing (RFC 8915 §4).
    auto progress = tls_.handshake();
    if (!progress) return fail_with(progress.error().message);
    if (*progress != TlsSession::Progress::kDone) return state_;
    state_ = State::kReadingRequest;
  }
  // The client's Finished and its request often arrive together: read at once.
  return read_request(ring);
}

KeServerSession::State KeServerSession::read_request(KeyRing& ring) {
  auto read = tls_.read(request_, options_.max_request);
  if (!read) {
    // Either more than max_request bytes arrived or TLS itself broke. Tell the client its request
    // was refused; if TLS is broken the write fails and the session fails with the read's reason.
    KeAnswer refusal = error_answer(kKeErrorBadRequest, read.error().message);
    if (!tls_.write(refusal.message)) return fail_with(read.error().message);
    return respond(std::move(refusal));
  }
  const KeKeyExporter exporter = [this](std::uint16_t protocol, std::uint16_t aead) {
    return export_nts_keys(tls_, protocol, aead);
  };
  if (auto answer = answer_ke_request(request_, options_, exporter, ring)) {
    if (auto ok = tls_.write(answer->message); !ok) return fail_with(ok.error().message);
    return respond(std::move(*answer));
  }
  if (*read == TlsSession::Progress::kDone) return fail_with("client closed TLS before a complete request");
  return state_;
}

KeServerSession::State KeServerSession::respond(KeAnswer answer) {
  // RFC 8915 §4: the server closes the connection after its response.
  tls_.shutdown();
  if (answer.reply == KeReply::kError) failure_ = answer.problem;
  answer.message = {};  // sent; keep only what the caller may count or log
  answer_ = std::move(answer);
  request_ = {};
  state_ = State::kDone;
  return state_;
}

KeServerSession::State KeServerSession::peer_closed() {
  if (state_ == State::kHandshaking) return fail_with("client closed the connection during the TLS handshake");
  if (state_ == State::kReadingRequest) return fail_with("client closed the connection before a complete request");
  return state_;
}

KeServerSession::State KeServerSession::fail_with(std::string reason) {
  failure_ = std::move(reason);
  request_ = {};
  state_ = State::kFailed;
  return state_;
}

}  // namespace kairos
