#include "nts/ke_client.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "test_certs.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;
using Responder = std::function<Buffer(const KeRequest&)>;

// A minimal NTS-KE server for tests: TLS, decode the request, answer what `respond` builds.
class TestKeServer {
 public:
  TestKeServer(SSL_CTX* ctx, Responder respond) : tls_(TlsSession::server(ctx).value()), respond_(std::move(respond)) {}

  // Consumes client bytes, returns server bytes.
  Buffer exchange(const Buffer& from_client) {
    EXPECT_TRUE(tls_.feed(from_client));
    Buffer out;
    auto hs = tls_.handshake();
    if (hs && *hs == TlsSession::Progress::kDone && !answered_) {
      (void)tls_.read(request_bytes_, 65536);
      auto scan = scan_message(request_bytes_);
      if (scan && scan->complete) {
        auto request = decode_request(ByteView(request_bytes_).first(scan->message_length));
        EXPECT_TRUE(request.has_value());
        if (request) {
          last_request = *request;
          const Buffer response = respond_(*request);
          EXPECT_TRUE(tls_.write(response));
          answered_ = true;
          if (close_after_answer) tls_.shutdown();
        }
      }
    }
    tls_.drain(out);
    return out;
  }

  TlsSession& tls() { return tls_; }
  KeRequest last_request;
  bool close_after_answer = true;

 private:
  TlsSession tls_;
  Responder respond_;
  Buffer request_bytes_;
  bool answered_ = false;
};

class KeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki.issue("server", "DNS:localhost,IP:127.0.0.1");
    server_ctx = make_tls_server_context(pki.path("server.crt"), pki.path("server.key")).value();
    client_ctx = make_tls_client_context({.server_name = "localhost", .ca_file = pki.ca_file(), .system_trust = false})
                     .value();
  }

  // Runs client and server against each other until the client is done or fails.
  Result<void> run(KeClient& client, TestKeServer& server) {
    for (int round = 0; round < 20 && !client.done(); ++round) {
      Buffer to_server;
      client.drain(to_server);
      const Buffer to_client = server.exchange(to_server);
      if (to_client.empty()) return client.peer_closed();
      if (auto ok = client.receive(to_client); !ok) return ok;
    }
    return {};
  }

  static Responder cookies_response(std::size_t count, std::optional<std::string> server = std::nullopt,
                                    std::optional<std::uint16_t> port = std::nullopt) {
    return [=](const KeRequest& request) {
      const std::uint16_t supported[] = {15, 17};
      KeResponse r = make_response(negotiate(request, supported), std::vector<Buffer>(count, Buffer(100, 0xc0)));
      r.server = server;
      r.port = port;
      return encode_response(r).value();
    };
  }

  test::TestPki pki;
  SslCtxPtr server_ctx;
  SslCtxPtr client_ctx;
};

TEST_F(KeClientTest, NegotiatesAeadAndBothSidesExportTheSameKeys) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {16, 17, 15}}).value();
  TestKeServer server(server_ctx.get(), cookies_response(8));
  auto ok = run(client, server);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(client.done());
  const KeClientResult& r = client.result();
  EXPECT_EQ(r.keys.aead_id(), 17);  // our first choice the server supports
  EXPECT_EQ(r.keys.c2s().size(), 64u);
  EXPECT_EQ(r.cookies.size(), 8u);
  EXPECT_EQ(r.ntp_server, "localhost");
  EXPECT_EQ(r.ntp_port, 123);
  EXPECT_EQ(server.last_request.aead_algorithms, (std::vector<std::uint16_t>{16, 17, 15}));

  auto server_keys = export_nts_keys(server.tls(), 0, 17);
  ASSERT_TRUE(server_keys);
  EXPECT_TRUE(r.keys == *server_keys);  // same AEAD, same C2S and S2C keys
  EXPECT_NE(Buffer(r.keys.c2s().begin(), r.keys.c2s().end()),
            Buffer(r.keys.s2c().begin(), r.keys.s2c().end()));
}

TEST_F(KeClientTest, ServerAndPortNegotiationAreHonoured) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  TestKeServer server(server_ctx.get(), cookies_response(2, "ntp.example.net", 11123));
  ASSERT_TRUE(run(client, server));
  ASSERT_TRUE(client.done());
  EXPECT_EQ(client.result().ntp_server, "ntp.example.net");
  EXPECT_EQ(client.result().ntp_port, 11123);
  EXPECT_TRUE(client.result().server_negotiated);
}

TEST_F(KeClientTest, ErrorRecordIsReportedWithItsCode) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  TestKeServer server(server_ctx.get(), [](const KeRequest&) { return encode_response(make_error_response(2)).value(); });
  auto ok = run(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("2"), std::string::npos) << ok.error().message;
  EXPECT_FALSE(client.done());
}

TEST_F(KeClientTest, ResponseWithoutCookiesIsAnError) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  TestKeServer server(server_ctx.get(), cookies_response(0));
  auto ok = run(client, server);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("Cookie"), std::string::npos) << ok.error().message;
}

TEST_F(KeClientTest, NoCommonAeadIsAnError) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {16}}).value();
  TestKeServer server(server_ctx.get(), cookies_response(8));
  EXPECT_FALSE(run(client, server));
  EXPECT_FALSE(client.done());
}

TEST_F(KeClientTest, ConnectionClosedBeforeTheResponseIsAnError) {
  auto client = KeClient::start(client_ctx.get(), {.server_name = "localhost"}).value();
  Buffer hello;
  client.drain(hello);
  EXPECT_FALSE(hello.empty());
  auto closed = client.peer_closed();
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().message.find("handshake"), std::string::npos);
}

TEST_F(KeClientTest, UnsupportedAeadIsRefusedUpFront) {
  EXPECT_FALSE(KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {30}}));
  EXPECT_FALSE(KeClient::start(client_ctx.get(), {.server_name = "localhost", .aeads = {}}));
}

}  // namespace
}  // namespace kairos
