#include "nts/tls_session.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "test_certs.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

// Moves bytes between two sessions until both handshakes finish or one fails.
Result<void> connect(TlsSession& client, TlsSession& server) {
  for (int round = 0; round < 20; ++round) {
    auto c = client.handshake();
    if (!c) return std::unexpected(c.error());
    Buffer wire;
    client.drain(wire);
    if (auto ok = server.feed(wire); !ok) return ok;
    auto s = server.handshake();
    if (!s) return std::unexpected(s.error());
    wire.clear();
    server.drain(wire);
    if (auto ok = client.feed(wire); !ok) return ok;
    if (*c == TlsSession::Progress::kDone && *s == TlsSession::Progress::kDone) return {};
  }
  return fail("handshake did not finish");
}

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override { pki.issue("server", "DNS:localhost,IP:127.0.0.1"); }

  SslCtxPtr server_ctx() { return make_tls_server_context(pki.path("server.crt"), pki.path("server.key")).value(); }
  SslCtxPtr client_ctx(const std::string& name) {
    return make_tls_client_context({.server_name = name, .ca_file = pki.ca_file(), .system_trust = false}).value();
  }

  test::TestPki pki;
};

TEST_F(TlsSessionTest, HandshakeExchangesDataAndExportsMatchingKeys) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_TRUE(ok) << ok.error().message;

  const Buffer request = {1, 2, 3, 4, 5};
  ASSERT_TRUE(client.write(request));
  Buffer wire;
  client.drain(wire);
  ASSERT_TRUE(server.feed(wire));
  Buffer got;
  auto r = server.read(got, 1024);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(got, request);

  std::uint8_t client_key[32], server_key[32];
  const std::uint8_t context[] = {0, 0, 0, 15, 0};
  ASSERT_TRUE(client.export_key("EXPORTER-network-time-security", context, client_key));
  ASSERT_TRUE(server.export_key("EXPORTER-network-time-security", context, server_key));
  EXPECT_EQ(Buffer(client_key, client_key + 32), Buffer(server_key, server_key + 32));
  const std::uint8_t other_context[] = {0, 0, 0, 15, 1};
  ASSERT_TRUE(client.export_key("EXPORTER-network-time-security", other_context, server_key));
  EXPECT_NE(Buffer(client_key, client_key + 32), Buffer(server_key, server_key + 32));
}

// Issue 25: the evidence log names an NTS-KE server by its certificate's SHA-256, the fingerprint
// `openssl x509 -fingerprint -sha256` prints (compared with the tool, not with our own code).
std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// kairos-sim's NTS-KE server has its certificate in memory only (tools/sim/sim_nts.cpp).
TEST_F(TlsSessionTest, ServerContextFromPemTextHandshakesLikeOneFromFiles) {
  auto sctx = make_tls_server_context_from_pem(file_text(pki.path("server.crt")), file_text(pki.path("server.key")));
  ASSERT_TRUE(sctx) << sctx.error().message;
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx->get()).value();
  auto ok = connect(client, server);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(client.peer_certificate_sha256().empty());
}

TEST_F(TlsSessionTest, ServerContextFromPemTextRefusesAKeyThatIsNotThere) {
  EXPECT_FALSE(make_tls_server_context_from_pem(file_text(pki.path("server.crt")), "not a key"));
  EXPECT_FALSE(make_tls_server_context_from_pem("not a certificate", file_text(pki.path("server.key"))));
  pki.issue("other", "DNS:localhost");
  EXPECT_FALSE(make_tls_server_context_from_pem(file_text(pki.path("server.crt")), file_text(pki.path("other.key"))))
      << "a key that does not match the certificate";
}

TEST_F(TlsSessionTest, PeerCertificateFingerprintIsOpensslsSha256) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  EXPECT_EQ(client.peer_certificate_sha256(), "");  // nothing before the handshake
  ASSERT_TRUE(connect(client, server));
  const std::string command = "openssl x509 -noout -fingerprint -sha256 -in " + pki.path("server.crt");
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof line, pipe), nullptr);
  ::pclose(pipe);
  std::string expected;
  for (const char* c = std::strchr(line, '='); c && *++c && *c != '\n';) {
    if (*c != ':') expected += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  ASSERT_EQ(expected.size(), 64u) << line;
  EXPECT_EQ(client.peer_certificate_sha256(), expected);
}

// The server offers X25519 and P-256 only (the cheapest groups, and the ones every TLS 1.3 client
// has, RFC 8446 §9.1): a client leading with a P-384 key share is asked for X25519 instead, and a
// client with P-384 alone finds no group in common.
TEST_F(TlsSessionTest, ServerAgreesOnX25519OrP256Only) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("localhost");
  ASSERT_EQ(SSL_CTX_set1_groups_list(cctx.get(), "P-384:X25519:P-256"), 1);
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(server.key_exchange_group(), "X25519");
  EXPECT_EQ(client.key_exchange_group(), "X25519");

  auto p256 = client_ctx("localhost");
  ASSERT_EQ(SSL_CTX_set1_groups_list(p256.get(), "P-384:P-256"), 1);
  auto p256_client = TlsSession::client(p256.get(), "localhost").value();
  auto p256_server = TlsSession::server(sctx.get()).value();
  ok = connect(p256_client, p256_server);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(p256_server.key_exchange_group(), "prime256v1");

  auto p384 = client_ctx("localhost");
  ASSERT_EQ(SSL_CTX_set1_groups_list(p384.get(), "P-384"), 1);
  auto p384_client = TlsSession::client(p384.get(), "localhost").value();
  auto p384_server = TlsSession::server(sctx.get()).value();
  EXPECT_FALSE(connect(p384_client, p384_server));
}

// The server picks ChaCha20-Poly1305 (SHA-256: cheaper to hash than SHA-384) over a client's
// AES-256-GCM-first order, and still accepts the other suites from clients without it.
TEST_F(TlsSessionTest, ServerPrefersChaCha20AndAcceptsTheOtherSuites) {
  auto sctx = server_ctx();
  const std::pair<const char*, const char*> cases[] = {
      {nullptr, "TLS_CHACHA20_POLY1305_SHA256"},  // OpenSSL's default order: AES-256-GCM first
      {"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
      {"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"},
      {"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"},
  };
  for (const auto& [offered, expected] : cases) {
    auto cctx = client_ctx("localhost");
    if (offered) ASSERT_EQ(SSL_CTX_set_ciphersuites(cctx.get(), offered), 1);
    auto client = TlsSession::client(cctx.get(), "localhost").value();
    auto server = TlsSession::server(sctx.get()).value();
    EXPECT_EQ(server.cipher_suite(), "");  // nothing before the handshake
    auto ok = connect(client, server);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(server.cipher_suite(), expected) << (offered ? offered : "default");
    EXPECT_EQ(client.cipher_suite(), expected) << (offered ? offered : "default");
  }
}

// NTS-KE clients never resume (RFC 8915: one request, one answer, then close), so the server
// sends no NewSessionTicket: TLS 1.3 would send two by default, each an encryption and a record.
TEST_F(TlsSessionTest, ServerSendsNoSessionTickets) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("localhost");
  static int tickets = 0;
  tickets = 0;
  SSL_CTX_set_session_cache_mode(cctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(cctx.get(), [](SSL*, SSL_SESSION*) {
    ++tickets;
    return 0;  // not kept
  });
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  ASSERT_TRUE(connect(client, server));
  // Tickets follow the server's Finished: the client meets them when it reads what came next.
  const Buffer answer = {7, 8, 9};
  ASSERT_TRUE(server.write(answer));
  server.shutdown();
  Buffer wire;
  server.drain(wire);
  ASSERT_TRUE(client.feed(wire));
  Buffer got;
  auto r = client.read(got, 1024);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, TlsSession::Progress::kDone);
  EXPECT_EQ(got, answer);
  EXPECT_EQ(tickets, 0);
}

TEST_F(TlsSessionTest, IpAddressIsCheckedAgainstTheCertificate) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("127.0.0.1");
  auto client = TlsSession::client(cctx.get(), "127.0.0.1").value();
  auto server = TlsSession::server(sctx.get()).value();
  EXPECT_TRUE(connect(client, server));
}

TEST_F(TlsSessionTest, WrongHostNameIsRejected) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("time.example.net");
  auto client = TlsSession::client(cctx.get(), "time.example.net").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("hostname mismatch"), std::string::npos) << ok.error().message;
}

TEST_F(TlsSessionTest, UntrustedCertificateIsRejected) {
  test::TestPki other;  // a different CA
  auto sctx = server_ctx();
  auto cctx = make_tls_client_context({.server_name = "localhost", .ca_file = other.ca_file(), .system_trust = false});
  ASSERT_TRUE(cctx);
  auto client = TlsSession::client(cctx->get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("certificate verification failed"), std::string::npos) << ok.error().message;
}

TEST_F(TlsSessionTest, ExpiredCertificateIsRejected) {
  pki.issue("expired", "DNS:localhost", -7200, -3600);
  auto sctx = make_tls_server_context(pki.path("expired.crt"), pki.path("expired.key")).value();
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("expired"), std::string::npos) << ok.error().message;
}

TEST_F(TlsSessionTest, ReadBeyondTheLimitIsAnError) {
  auto sctx = server_ctx();
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  ASSERT_TRUE(connect(client, server));
  ASSERT_TRUE(server.write(Buffer(3000, 7)));
  Buffer wire;
  server.drain(wire);
  ASSERT_TRUE(client.feed(wire));
  Buffer got;
  EXPECT_FALSE(client.read(got, 2999));
  Buffer exact;
  ASSERT_TRUE(server.write(Buffer(100, 7)));
  wire.clear();
  server.drain(wire);
  ASSERT_TRUE(client.feed(wire));
  EXPECT_TRUE(client.read(exact, 100));
}

// A raw server context: lets tests build servers kairos itself never would.
SslCtxPtr raw_server_ctx(const test::TestPki& pki, int max_version, bool alpn) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_use_certificate_chain_file(ctx.get(), pki.path("server.crt").c_str());
  SSL_CTX_use_PrivateKey_file(ctx.get(), pki.path("server.key").c_str(), SSL_FILETYPE_PEM);
  if (max_version) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (alpn) {
    SSL_CTX_set_alpn_select_cb(
        ctx.get(),
        [](SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in, unsigned int,
           void*) {
          *out = in + 1;  // whatever the client offered first
          *out_length = in[0];
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
  }
  return ctx;
}

TEST_F(TlsSessionTest, ServerWithoutAlpnIsRejected) {
  auto sctx = raw_server_ctx(pki, 0, false);
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("ALPN"), std::string::npos) << ok.error().message;
}

TEST_F(TlsSessionTest, Tls12ServerIsRejected) {
  auto sctx = raw_server_ctx(pki, TLS1_2_VERSION, true);
  auto cctx = client_ctx("localhost");
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  auto ok = connect(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("TLS handshake failed"), std::string::npos) << ok.error().message;
}

TEST_F(TlsSessionTest, Tls12ClientIsRefusedByOurServer) {
  auto sctx = server_ctx();
  SslCtxPtr cctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(cctx.get(), TLS1_2_VERSION);
  SSL_CTX_load_verify_locations(cctx.get(), pki.ca_file().c_str(), nullptr);
  auto client = TlsSession::client(cctx.get(), "localhost").value();
  auto server = TlsSession::server(sctx.get()).value();
  EXPECT_FALSE(connect(client, server));
}

TEST_F(TlsSessionTest, MissingKeyFileIsAClearError) {
  auto ctx = make_tls_server_context(pki.path("server.crt"), pki.path("nonexistent.key"));
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("nonexistent.key"), std::string::npos);
}

}  // namespace
}  // namespace kairos
