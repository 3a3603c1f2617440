#include "nts/ke_server.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <set>
#include <span>
#include <string>
#include <vector>

#include "nts/cookie.hpp"
#include "nts/ke_client.hpp"
#include "nts/ke_record.hpp"
#include "test_certs.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;
using State = KeServerSession::State;

constexpr std::uint64_t kNow = 1'700'000'000;

// GCC 12 warns about designated initializers that leave members out, so options are built here.
KeServerOptions with_aeads(std::vector<std::uint16_t> aeads) {
  KeServerOptions options;
  options.aeads = std::move(aeads);
  return options;
}
KeServerOptions with_limit(std::size_t max_request) {
  KeServerOptions options;
  options.max_request = max_request;
  return options;
}
KeRequest request_for(std::vector<std::uint16_t> aeads) {
  KeRequest request;
  request.aead_algorithms = std::move(aeads);
  return request;
}

bool finished(State state) { return state == State::kDone || state == State::kFailed; }

// A request or response as records, for checks on the exact wire.
struct Record {
  bool critical;
  std::uint16_t type;
  Buffer body;
};
std::vector<Record> records_of(const Buffer& message) {
  std::vector<Record> out;
  KeRecordReader reader(message);
  while (!reader.done()) {
    auto record = reader.next();
    EXPECT_TRUE(record) << record.error().message;
    if (!record) break;
    out.push_back({record->critical, record->type, Buffer(record->body.begin(), record->body.end())});
  }
  return out;
}

// A client TLS endpoint built from raw OpenSSL calls, so tests can be the clients kairos never is:
// no ALPN, another ALPN, TLS 1.2 only.
class RawTlsClient {
 public:
  RawTlsClient(SSL_CTX* ctx, const Buffer& alpn_wire) : ssl_(SSL_new(ctx)) {
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl_, in, out);
    if (!alpn_wire.empty()) SSL_set_alpn_protos(ssl_, alpn_wire.data(), static_cast<unsigned>(alpn_wire.size()));
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set_connect_state(ssl_);
  }
  ~RawTlsClient() { SSL_free(ssl_); }
  RawTlsClient(const RawTlsClient&) = delete;
  RawTlsClient& operator=(const RawTlsClient&) = delete;

  // Returns 1 when done, 0 while waiting, -1 on failure.
  int step() {
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return 1;
    const int err = SSL_get_error(ssl_, rc);
    return (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) ? 0 : -1;
  }
  Buffer drain() {
    Buffer out(BIO_ctrl_pending(SSL_get_wbio(ssl_)));
    if (!out.empty()) BIO_read(SSL_get_wbio(ssl_), out.data(), static_cast<int>(out.size()));
    return out;
  }
  void feed(const Buffer& bytes) {
    if (!bytes.empty()) BIO_write(SSL_get_rbio(ssl_), bytes.data(), static_cast<int>(bytes.size()));
  }

 private:
  SSL* ssl_;
};

class KeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki.issue("server", "DNS:localhost,IP:127.0.0.1");
    server_ctx = make_tls_server_context(pki.path("server.crt"), pki.path("server.key")).value();
    client_ctx = make_tls_client_context({.server_name = "localhost", .ca_file = pki.ca_file(), .system_trust = false})
                     .value();
  }

  KeServerSession server(KeServerOptions options = {}) {
    auto session = KeServerSession::start(server_ctx.get(), std::move(options));
    EXPECT_TRUE(session) << session.error().message;
    return std::move(*session);
  }

  // Moves bytes between a KeClient and the server session until the client is done or fails.
  Result<void> run(KeClient& client, KeServerSession& session, std::size_t server_bytes_at_a_time = SIZE_MAX) {
    for (int round = 0; round < 20 && !client.done(); ++round) {
      Buffer to_server;
      client.drain(to_server);
      for (std::size_t at = 0; at < to_server.size(); at += server_bytes_at_a_time) {
        const std::size_t n = std::min(server_bytes_at_a_time, to_server.size() - at);
        session.receive(ByteView(to_server).subspan(at, n), ring);
      }
      if (to_server.empty()) session.receive({}, ring);
      Buffer to_client;
      session.drain(to_client);
      if (to_client.empty()) return client.peer_closed();
      if (auto ok = client.receive(to_client); !ok) return ok;
    }
    return {};
  }

  // Completes a TLS handshake as a proper ntske/1 client, sends `request` as it is and returns
  // the server's plaintext answer (everything up to its close_notify).
  Buffer send_raw_request(KeServerSession& session, const Buffer& request) {
    TlsSession client = TlsSession::client(client_ctx.get(), "localhost").value();
    for (int round = 0; round < 20 && !client.handshake_done(); ++round) {
      EXPECT_TRUE(client.handshake());
      Buffer wire;
      client.drain(wire);
      session.receive(wire, ring);
      wire.clear();
      session.drain(wire);
      EXPECT_TRUE(client.feed(wire));
    }
    EXPECT_TRUE(client.handshake_done());
    EXPECT_TRUE(client.write(request));
    Buffer wire;
    client.drain(wire);
    session.receive(wire, ring);
    wire.clear();
    session.drain(wire);
    EXPECT_TRUE(client.feed(wire));
    Buffer answer;
    auto read = client.read(answer, 65536);
    EXPECT_TRUE(read) << read.error().message;
    if (read) {
      EXPECT_EQ(*read, TlsSession::Progress::kDone) << "no close_notify after the answer";
    }
    return answer;
  }

  // Drives a raw client against the session until either side gives up.
  void run_raw(RawTlsClient& client, KeServerSession& session) {
    for (int round = 0; round < 20 && !finished(session.state()); ++round) {
      if (client.step() < 0) {
        session.receive(client.drain(), ring);  // the client's alert, if any
        break;
      }
      session.receive(client.drain(), ring);
      Buffer wire;
      session.drain(wire);
      client.feed(wire);
    }
  }

  test::TestPki pki;
  SslCtxPtr server_ctx;
  SslCtxPtr client_ctx;
  KeyRing ring = KeyRing::from_random({}, kNow).value();
};

TEST_F(KeServerTest, CookiesOpenWithTheRingAndCarryTheKeysTheClientExported) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {17, 15}}).value();
  KeServerSession session = server();
  auto ok = run(client, session);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(client.done());
  EXPECT_EQ(session.state(), State::kDone);
  ASSERT_TRUE(session.answer());
  EXPECT_EQ(session.answer()->reply, KeReply::kCookies);

  const KeClientResult& result = client.result();
  EXPECT_EQ(result.keys.aead_id(), 17);
  ASSERT_EQ(result.cookies.size(), kKeServerCookies);
  std::set<Buffer> distinct;
  for (const Buffer& cookie : result.cookies) {
    auto keys = open_cookie(cookie, ring);
    ASSERT_TRUE(keys) << keys.error().message;
    EXPECT_TRUE(*keys == result.keys);  // the very keys the client exported from its TLS session
    distinct.insert(cookie);
  }
  EXPECT_EQ(distinct.size(), kKeServerCookies);  // fresh nonce each: unlinkable
  // No Server or Port Negotiation unless configured: NTP goes to the KE server on port 123.
  EXPECT_FALSE(result.server_negotiated);
  EXPECT_FALSE(result.port_negotiated);
  EXPECT_EQ(result.ntp_server, "localhost");
  EXPECT_EQ(result.ntp_port, 123);
}

TEST_F(KeServerTest, CookieFromAnotherRingDoesNotOpen) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  KeServerSession session = server();
  ASSERT_TRUE(run(client, session));
  ASSERT_TRUE(client.done());
  KeyRing other = KeyRing::from_random({}, kNow).value();
  EXPECT_FALSE(open_cookie(client.result().cookies.front(), other));
}

TEST_F(KeServerTest, AeadNegotiationPicksTheClientsFirstChoiceTheServerSupports) {
  struct Case {
    std::vector<std::uint16_t> client, server;
    std::uint16_t expected;
  };
  for (const Case& c : {Case{{17, 15}, {15, 16, 17}, 17}, Case{{16, 15}, {15, 17}, 15}, Case{{15, 16, 17}, {17, 16}, 16}}) {
    auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = c.client}).value();
    KeServerSession session = server(with_aeads(c.server));
    ASSERT_TRUE(run(client, session));
    ASSERT_TRUE(client.done());
    EXPECT_EQ(client.result().keys.aead_id(), c.expected);
    EXPECT_EQ(session.answer()->negotiation.aead, c.expected);
    EXPECT_EQ(open_cookie(client.result().cookies.front(), ring)->aead_id(), c.expected);
  }
}

TEST_F(KeServerTest, NoCommonAeadGetsAnEmptyAeadRecordAndNoCookies) {
  KeServerSession session = server(with_aeads({15}));
  const Buffer answer = send_raw_request(session, encode_request(request_for({16})).value());
  EXPECT_EQ(session.state(), State::kDone);
  ASSERT_TRUE(session.answer());
  EXPECT_EQ(session.answer()->reply, KeReply::kNoAgreement);

  // RFC 8915 §4.1.5: an AEAD record with no algorithm, not an Error record.
  const auto records = records_of(answer);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].type, kKeNextProtocol);
  EXPECT_EQ(records[0].body, (Buffer{0, 0}));
  EXPECT_EQ(records[1].type, kKeAeadAlgorithm);
  EXPECT_TRUE(records[1].critical);
  EXPECT_TRUE(records[1].body.empty());
  EXPECT_EQ(records[2].type, kKeEndOfMessage);

  // And our own client refuses to go on with it.
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {16}}).value();
  KeServerSession again = server(with_aeads({15}));
  EXPECT_FALSE(run(client, again));
  EXPECT_FALSE(client.done());
}

TEST_F(KeServerTest, NoNtpv4GetsAnEmptyNextProtocolRecord) {
  KeServerSession session = server();
  const Buffer answer = send_raw_request(session, test::hex("80010002 8001  80000000"));
  EXPECT_EQ(session.answer()->reply, KeReply::kNoAgreement);
  const auto records = records_of(answer);
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[0].type, kKeNextProtocol);
  EXPECT_TRUE(records[0].body.empty());
  for (const Record& r : records) EXPECT_NE(r.type, kKeNewCookie);
}

TEST_F(KeServerTest, ServerAndPortNegotiationRecordsAppearWhenConfigured) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  KeServerSession session = server({.ntp_server = "ntp.example.net", .ntp_port = 11123});
  ASSERT_TRUE(run(client, session));
  ASSERT_TRUE(client.done());
  EXPECT_TRUE(client.result().server_negotiated);
  EXPECT_TRUE(client.result().port_negotiated);
  EXPECT_EQ(client.result().ntp_server, "ntp.example.net");
  EXPECT_EQ(client.result().ntp_port, 11123);

  KeServerOptions port_option;
  port_option.ntp_port = 4123;
  KeServerSession port_only = server(port_option);
  const Buffer answer = send_raw_request(port_only, encode_request(request_for({15})).value());
  bool port_seen = false;
  for (const Record& r : records_of(answer)) {
    EXPECT_NE(r.type, kKeServer);
    if (r.type == kKePort) {
      port_seen = true;
      EXPECT_EQ(r.body, (Buffer{0x10, 0x1b}));
    }
  }
  EXPECT_TRUE(port_seen);
}

TEST_F(KeServerTest, UnrecognizedCriticalRecordGetsErrorCodeZero) {
  KeServerSession session = server();
  const Buffer answer = send_raw_request(session, test::hex("80010002 0000  80040002 000f  80630000  80000000"));
  EXPECT_EQ(session.state(), State::kDone);
  EXPECT_EQ(session.answer()->reply, KeReply::kError);
  EXPECT_EQ(session.answer()->error_code, kKeErrorUnrecognizedCritical);
  const auto records = records_of(answer);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].type, kKeError);
  EXPECT_TRUE(records[0].critical);
  EXPECT_EQ(records[0].body, (Buffer{0, 0}));
  EXPECT_EQ(records[1].type, kKeEndOfMessage);
}

TEST_F(KeServerTest, MalformedRequestsGetBadRequestErrors) {
  for (const char* request : {
           "80040002 000f  80000000",                         // no Next Protocol
           "80010002 0000  80000000",                         // NTPv4 without AEAD
           "80010002 0000  80040001 0f  80000000",            // odd AEAD list
           "80010002 0000  80040002 000f  80000001 00",       // End of Message with a body
           "80010002 0000  80050004 01020304  80040002 000f  80000000",  // New Cookie from a client
       }) {
    KeServerSession session = server();
    const Buffer answer = send_raw_request(session, test::hex(request));
    ASSERT_TRUE(session.answer()) << request;
    EXPECT_EQ(session.answer()->error_code, kKeErrorBadRequest) << request;
    EXPECT_FALSE(session.failure().empty());
    const auto records = records_of(answer);
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records[0].type, kKeError);
    EXPECT_EQ(records[0].body, (Buffer{0, 1})) << request;
  }
}

TEST_F(KeServerTest, OversizeRecordIsRefusedFromItsHeader) {
  KeServerSession session = server(with_limit(64));
  // An unknown non-critical record declaring 1000 bytes: refused before its body arrives.
  const Buffer answer = send_raw_request(session, test::hex("80010002 0000  006303e8"));
  ASSERT_TRUE(session.answer());
  EXPECT_EQ(session.answer()->error_code, kKeErrorBadRequest);
  EXPECT_EQ(records_of(answer).front().body, (Buffer{0, 1}));
}

TEST_F(KeServerTest, MoreBytesThanTheLimitAreRefused) {
  KeServerSession session = server(with_limit(64));
  Buffer request = test::hex("80010002 0000  80040002 000f");
  // 400 bytes of empty unknown records in one write: refused as they are read, before any scan.
  for (int i = 0; i < 100; ++i) {
    request.insert(request.end(), {0x00, 0x63, 0x00, 0x00});
  }
  const Buffer answer = send_raw_request(session, request);
  ASSERT_TRUE(session.answer());
  EXPECT_EQ(session.answer()->error_code, kKeErrorBadRequest);
}

TEST_F(KeServerTest, RequestFedOneByteAtATimeStillWorks) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  KeServerSession session = server();
  auto ok = run(client, session, 1);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(client.done());
  EXPECT_TRUE(open_cookie(client.result().cookies.back(), ring));
}

TEST_F(KeServerTest, CookiesAreSealedWithTheCurrentKeyWhenAnswering) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  KeServerSession session = server();
  const std::uint32_t before = ring.current().id();
  // The ring rotates while the connection is open; the answer must use the key current then.
  Buffer hello;
  client.drain(hello);
  session.receive(hello, ring);
  ASSERT_TRUE(ring.rotate(kNow + ring.config().rotation_interval));
  ASSERT_NE(ring.current().id(), before);
  Buffer flight;
  session.drain(flight);
  ASSERT_TRUE(client.receive(flight));
  ASSERT_TRUE(run(client, session));
  ASSERT_TRUE(client.done());
  for (const Buffer& cookie : client.result().cookies) {
    const std::uint32_t key_id = (std::uint32_t{cookie[0]} << 24) | (std::uint32_t{cookie[1]} << 16) |
                                 (std::uint32_t{cookie[2]} << 8) | cookie[3];
    EXPECT_EQ(key_id, ring.current().id());
  }
}

TEST_F(KeServerTest, ClientWithoutAlpnFailsTheHandshake) {
  RawTlsClient client(client_ctx.get(), {});
  KeServerSession session = server();
  run_raw(client, session);
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_FALSE(session.answer());
  EXPECT_NE(session.failure().find("ALPN"), std::string::npos) << session.failure();
}

TEST_F(KeServerTest, ClientWithAnotherAlpnFailsTheHandshake) {
  RawTlsClient client(client_ctx.get(), {8, 'h', 't', 't', 'p', '/', '1', '.', '1'});
  KeServerSession session = server();
  run_raw(client, session);
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_FALSE(session.handshake_done());
  EXPECT_FALSE(session.answer());
}

TEST_F(KeServerTest, Tls12ClientFails) {
  SslCtxPtr tls12(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(tls12.get(), TLS1_2_VERSION);
  SSL_CTX_load_verify_locations(tls12.get(), pki.ca_file().c_str(), nullptr);
  RawTlsClient client(tls12.get(), {7, 'n', 't', 's', 'k', 'e', '/', '1'});
  KeServerSession session = server();
  run_raw(client, session);
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_FALSE(session.handshake_done());
  EXPECT_FALSE(session.answer());
}

TEST_F(KeServerTest, GarbageBeforeTheHandshakeFailsWithoutCrashing) {
  const std::string http = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  KeServerSession session = server();
  EXPECT_EQ(session.receive({reinterpret_cast<const std::uint8_t*>(http.data()), http.size()}, ring), State::kFailed);
  Buffer out;
  session.drain(out);  // an alert at most
  EXPECT_LT(out.size(), 64u);
  // More input after the failure is ignored.
  EXPECT_EQ(session.receive(Buffer(100000, 0x16), ring), State::kFailed);

  // Bytes that look like a TLS handshake record with a huge length: no unbounded buffering.
  KeServerSession other = server();
  Buffer fake = {0x16, 0x03, 0x01, 0xff, 0xff};
  fake.resize(fake.size() + 30000, 0x01);
  EXPECT_EQ(other.receive(fake, ring), State::kFailed);
}

TEST_F(KeServerTest, ClientClosingMidHandshakeFails) {
  KeServerSession session = server();
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  Buffer hello;
  client.drain(hello);
  EXPECT_EQ(session.receive(hello, ring), State::kHandshaking);
  EXPECT_EQ(session.peer_closed(), State::kFailed);
  EXPECT_NE(session.failure().find("handshake"), std::string::npos);
}

TEST(KeServerAnswer, ExporterFailureGetsInternalError) {
  KeyRing ring = KeyRing::from_random({}, kNow).value();
  const Buffer request = encode_request(request_for({15})).value();
  const KeKeyExporter broken = [](std::uint16_t, std::uint16_t) -> Result<NtsKeys> { return fail("no TLS"); };
  auto answer = answer_ke_request(request, {}, broken, ring);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->error_code, kKeErrorInternal);
  EXPECT_EQ(answer->message, encode_response(make_error_response(kKeErrorInternal)).value());
}

TEST(KeServerAnswer, PartialRequestWaitsForMore) {
  KeyRing ring = KeyRing::from_random({}, kNow).value();
  const Buffer request = encode_request(request_for({15})).value();
  const KeKeyExporter exporter = [](std::uint16_t, std::uint16_t aead) {
    return NtsKeys::create(aead, Buffer(32, 1), Buffer(32, 2));
  };
  for (std::size_t n = 0; n < request.size(); ++n) {
    EXPECT_FALSE(answer_ke_request(ByteView(request).first(n), {}, exporter, ring)) << n;
  }
  auto answer = answer_ke_request(request, {}, exporter, ring);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->reply, KeReply::kCookies);
}

// The listener hands each session its thread's counter-mode stream for the cookie nonces (no
// RAND_bytes per handshake): all eight come from one call, each cookie carries its own.
TEST(KeServerAnswer, CookieNoncesComeFromTheGivenSourceInOneCall) {
  KeyRing ring = KeyRing::from_random({}, kNow).value();
  const Buffer request = encode_request(request_for({15})).value();
  const KeKeyExporter exporter = [](std::uint16_t, std::uint16_t aead) {
    return NtsKeys::create(aead, Buffer(32, 1), Buffer(32, 2));
  };
  std::vector<std::size_t> calls;
  KeServerOptions options;
  options.cookie_nonces = [&calls](std::span<std::uint8_t> out) {
    calls.push_back(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
  };
  auto answer = answer_ke_request(request, options, exporter, ring);
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->reply, KeReply::kCookies);
  EXPECT_EQ(calls, (std::vector<std::size_t>{kKeServerCookies * kCookieNonceLength}));
  std::size_t n = 0;
  for (const Record& r : records_of(answer->message)) {
    if (r.type != kKeNewCookie) continue;
    ASSERT_GE(r.body.size(), kCookieKeyIdLength + kCookieNonceLength);
    for (std::size_t i = 0; i < kCookieNonceLength; ++i) {
      EXPECT_EQ(r.body[kCookieKeyIdLength + i], static_cast<std::uint8_t>(n * kCookieNonceLength + i)) << n;
    }
    auto opened = open_cookie(r.body, ring);
    EXPECT_TRUE(opened) << n;
    ++n;
  }
  EXPECT_EQ(n, kKeServerCookies);
}

TEST(KeServerOptionsCheck, RefusesWhatTheServerCannotHonour) {
  EXPECT_TRUE(check_ke_server_options({}));
  EXPECT_FALSE(check_ke_server_options(with_aeads({})));
  EXPECT_FALSE(check_ke_server_options(with_aeads({15, 30})));
  KeServerOptions bad_name;
  bad_name.ntp_server = "has space";
  EXPECT_FALSE(check_ke_server_options(bad_name));
  EXPECT_FALSE(check_ke_server_options(with_limit(8)));
  EXPECT_FALSE(check_ke_server_options(with_limit(1 << 20)));
}

}  // namespace
}  // namespace kairos
