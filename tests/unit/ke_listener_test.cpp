#include "daemon/ke_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "daemon/client/ke_fetch.hpp"
#include "nts/cookie.hpp"
#include "test_certs.hpp"


// gcc says __SANITIZE_ADDRESS__, clang only answers __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define KAIROS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KAIROS_UNDER_ASAN 1
#endif
#endif
#ifndef KAIROS_UNDER_ASAN
#define KAIROS_UNDER_ASAN 0
#endif
namespace kairos {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

constexpr std::uint64_t kNow = 1'700'000'000;

// Ports 15400–15499 are ours; each test takes its own so they can run in parallel.
std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A blocking TCP connection to 127.0.0.1:port (the kernel completes it from the backlog, before
// the listener accepts).
UniqueFd connect_raw(std::uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  return fd;
}

// Whether the server closed the connection within `wait` (reading and dropping what it sent).
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, poll_timeout_ms(deadline)) <= 0) return false;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

bool still_open(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

// NTS-KE as a client over an already connected socket.
Result<KeClientResult> ke_over_socket(int fd, SSL_CTX* ctx) {
  auto client = KeClient::start(ctx, {.server_name = "127.0.0.1"});
  if (!client) return std::unexpected(client.error());
  const Deadline deadline = std::chrono::steady_clock::now() + 3s;
  for (;;) {
    Buffer out;
    client->drain(out);
    if (!out.empty() && send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      return fail("send failed");
    }
    if (client->done()) return client->result();
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, poll_timeout_ms(deadline)) <= 0) return fail("timed out");
    std::uint8_t buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (auto ok = client->peer_closed(); !ok) return std::unexpected(ok.error());
      return fail("closed");
    }
    if (auto ok = client->receive({buf, static_cast<std::size_t>(n)}); !ok) return std::unexpected(ok.error());
  }
}

// A TLS client that sends `request` as it is and collects the plaintext answer until
// close_notify. (A struct, not Result<Buffer>: GCC 12 warns falsely about expected<vector> in a
// future.)
struct RawExchange {
  Buffer answer;
  std::string error;
};
RawExchange raw_request_over_socket(int fd, SSL_CTX* ctx, const Buffer& request) {
  RawExchange out;
  auto tls = TlsSession::client(ctx, "127.0.0.1");
  if (!tls) return {{}, tls.error().message};
  const Deadline deadline = std::chrono::steady_clock::now() + 3s;
  bool sent = false;
  for (;;) {
    auto hs = tls->handshake();
    if (!hs) return {{}, hs.error().message};
    if (*hs == TlsSession::Progress::kDone && !sent) {
      if (auto ok = tls->write(request); !ok) return {{}, ok.error().message};
      sent = true;
    }
    Buffer wire;
    tls->drain(wire);
    if (!wire.empty()) send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    if (sent) {
      auto read = tls->read(out.answer, 4096);
      if (!read) return {{}, read.error().message};
      if (*read == TlsSession::Progress::kDone) return out;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, poll_timeout_ms(deadline)) <= 0) return {{}, "timed out"};
    std::uint8_t buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {{}, "closed without close_notify"};
    if (auto ok = tls->feed({buf, static_cast<std::size_t>(n)}); !ok) return {{}, ok.error().message};
  }
}

class KeListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki.issue("server", "DNS:localhost,IP:127.0.0.1,IP:::1");
    config.certificate = pki.path("server.crt");
    config.private_key = pki.path("server.key");
    config.timeout = 3.0;
    config.rate_limit = std::nullopt;
  }

  std::unique_ptr<KeListener> start(std::uint16_t port, std::optional<std::uint16_t> announced = std::nullopt) {
    config.listen = {loopback(port)};
    auto listener = KeListener::create(config, loop, ring, announced);
    EXPECT_TRUE(listener) << listener.error().message;
    return listener ? std::move(*listener) : nullptr;
  }

  // Runs the loop on this thread until `done` holds or the time is up.
  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    EventLoop::TimerId tick = 0;
    std::function<void()> check = [&] {
      if (done() || std::chrono::steady_clock::now() >= deadline) {
        loop.stop();
        return;
      }
      tick = loop.add_timer(5ms, check);
    };
    tick = loop.add_timer(0ms, check);
    ASSERT_TRUE(loop.run());
    loop.cancel_timer(tick);
  }

  KeFetchOptions fetch_options(std::uint16_t port, const std::string& ca_file, const std::string& host = "127.0.0.1") {
    KeFetchOptions options;
    options.host = host;
    options.port = port;
    options.ca_file = ca_file;
    options.system_trust = false;
    options.timeout = 3000ms;
    return options;
  }

  // fetch_nts_ke on another thread while the loop runs here, until the server side has closed.
  Result<KeClientResult> fetch(KeListener& listener, const KeFetchOptions& options) {
    const std::size_t before = listener.connection_count();
    auto future = std::async(std::launch::async, [options] { return fetch_nts_ke(options); });
    run_until([&] {
      return future.wait_for(0s) == std::future_status::ready && listener.connection_count() <= before;
    });
    return future.get();
  }

  test::TestPki pki;
  KeServerConfig config;
  EventLoop loop = EventLoop::create().value();
  KeyRing ring = KeyRing::from_random({}, kNow).value();
};

TEST_F(KeListenerTest, FetchGetsCookiesThatOpenWithTheRing) {
  config.ntp_server = "ntp.example.net";
  auto listener = start(15400, 11123);
  ASSERT_TRUE(listener);
  auto result = fetch(*listener, fetch_options(15400, pki.ca_file()));
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->cookies.size(), kKeServerCookies);
  for (const Buffer& cookie : result->cookies) {
    auto keys = open_cookie(cookie, ring);
    ASSERT_TRUE(keys) << keys.error().message;
    EXPECT_TRUE(*keys == result->keys);
  }
  EXPECT_EQ(result->keys.aead_id(), 17);  // fetch prefers 17, the server offers 15, 16, 17
  EXPECT_EQ(result->ntp_server, "ntp.example.net");
  EXPECT_EQ(result->ntp_port, 11123);

  const KeListenerCounters& c = listener->counters();
  EXPECT_EQ(c.accepted, 1u);
  EXPECT_EQ(c.handshakes_ok, 1u);
  EXPECT_EQ(c.responses, 1u);
  EXPECT_EQ(c.handshakes_failed + c.error_records + c.aborted + c.timed_out, 0u);
}

// The hook NTS-KE workers publish their counters from: it runs once the connection is closed and
// counted, so a status query right after an exchange already sees it (kairosctl server, and the
// hardening tests that count NTS-KEs).
TEST_F(KeListenerTest, ClosedConnectionsAreCountedBeforeTheHookRuns) {
  auto listener = start(15415, 11123);
  ASSERT_TRUE(listener);
  std::vector<std::uint64_t> responses_seen;
  KeListener* raw = listener.get();
  raw->on_closed([&] { responses_seen.push_back(raw->counters().responses); });
  auto result = fetch(*listener, fetch_options(15415, pki.ca_file()));
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(responses_seen.size(), 1u);
  EXPECT_EQ(responses_seen[0], 1u);
}

TEST_F(KeListenerTest, ListensOnIpv4AndIpv6Loopback) {
  config.listen = {loopback(15401), "[::1]:15401"};
  auto listener = KeListener::create(config, loop, ring, std::nullopt);
  if (!listener && listener.error().message.find("::1") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 loopback: " << listener.error().message;
  }
  ASSERT_TRUE(listener) << listener.error().message;
  EXPECT_EQ((*listener)->local_addresses().size(), 2u);
  EXPECT_TRUE(fetch(**listener, fetch_options(15401, pki.ca_file(), "127.0.0.1")));
  auto v6 = fetch(**listener, fetch_options(15401, pki.ca_file(), "::1"));
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_TRUE(open_cookie(v6->cookies.front(), ring));
  EXPECT_EQ((*listener)->counters().responses, 2u);
}

// Connections younger than the eviction age (0.75 s here) keep their slots: a newcomer is closed.
TEST_F(KeListenerTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  config.max_connections = 2;
  auto listener = start(15402);
  ASSERT_TRUE(listener);
  UniqueFd first = connect_raw(15402);
  run_until([&] { return listener->counters().accepted == 1; });
  UniqueFd second = connect_raw(15402);
  run_until([&] { return listener->counters().accepted == 2; });
  UniqueFd third = connect_raw(15402);
  run_until([&] { return listener->counters().accepted == 3; });
  EXPECT_EQ(listener->counters().over_limit, 1u);
  EXPECT_EQ(listener->counters().evicted, 0u);
  EXPECT_EQ(listener->connection_count(), 2u);
  EXPECT_TRUE(closed_by_server(third.get(), 1000ms));
  EXPECT_TRUE(still_open(first.get()));
  EXPECT_TRUE(still_open(second.get()));

  // A slot freed is a slot for the next client.
  first = UniqueFd();
  run_until([&] { return listener->connection_count() == 1; });
  auto result = fetch(*listener, fetch_options(15402, pki.ca_file()));
  EXPECT_TRUE(result) << result.error().message;
}

// A slowloris: every slot held by a connection trickling (here: one byte of) a ClientHello.
// Once they are older than the eviction age a client still gets in, in the oldest one's slot.
TEST_F(KeListenerTest, SlowlorisAtTheLimitCannotLockOutAClient) {
  config.max_connections = 4;
  config.timeout = 2.0;
  EXPECT_EQ(eviction_age(2.0), 500ms);
  EXPECT_EQ(eviction_age(60.0), 1s);
  auto listener = start(15414);
  ASSERT_TRUE(listener);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(connect_raw(15414));
    const std::uint8_t first_byte = 0x16;  // a TLS handshake record, and nothing more
    ASSERT_EQ(send(held.back().get(), &first_byte, 1, MSG_NOSIGNAL), 1);
    run_until([&] { return listener->counters().accepted == static_cast<std::uint64_t>(i + 1); });
  }
  const auto young = std::chrono::steady_clock::now();
  run_until([&] { return std::chrono::steady_clock::now() - young > 600ms; }, 1000ms);
  EXPECT_EQ(listener->connection_count(), 4u);

  auto result = fetch(*listener, fetch_options(15414, pki.ca_file()));
  ASSERT_TRUE(result) << result.error().message;
  // fetch() cannot tell from the connection count that the listener is done: the client took the
  // evicted one's slot, so the count never fell. The listener counts an answer when it closes the
  // connection, after the client has closed its end.
  run_until([&] { return listener->counters().responses == 1; }, 1000ms);
  EXPECT_EQ(listener->counters().responses, 1u);
  EXPECT_EQ(listener->counters().evicted, 1u);
  EXPECT_EQ(listener->counters().over_limit, 0u);
  EXPECT_TRUE(closed_by_server(held[0].get(), 1000ms)) << "the oldest is the one evicted";
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(still_open(held[i].get())) << i;
  EXPECT_EQ(listener->counters().handshakes_failed + listener->counters().timed_out, 0u)
      << "an eviction is counted as such, not as a failure too";
}

TEST_F(KeListenerTest, FloodStaysWithinTheConnectionLimit) {
  config.max_connections = 4;
  auto listener = start(15403);
  ASSERT_TRUE(listener);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(connect_raw(15403));
  std::size_t most = 0;
  run_until([&] {
    most = std::max(most, listener->connection_count());
    return listener->counters().accepted == 40;
  });
  EXPECT_EQ(listener->counters().accepted, 40u);
  EXPECT_LE(most, 4u);
  EXPECT_EQ(listener->counters().over_limit, 36u);
  EXPECT_EQ(listener->connection_count(), 4u);
}

TEST_F(KeListenerTest, IdleConnectionIsClosedAtTheDeadline) {
  config.timeout = 0.3;
  auto listener = start(15404);
  ASSERT_TRUE(listener);
  const auto start_time = std::chrono::steady_clock::now();
  UniqueFd idle = connect_raw(15404);
  run_until([&] { return listener->counters().timed_out == 1; });
  const auto took = std::chrono::steady_clock::now() - start_time;
  EXPECT_EQ(listener->counters().timed_out, 1u);
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2000ms);
  EXPECT_EQ(listener->connection_count(), 0u);
  EXPECT_TRUE(closed_by_server(idle.get(), 500ms));
}

TEST_F(KeListenerTest, PerAddressRateLimitClosesTheExcess) {
  config.rate_limit = RateLimitConfig{.interval = 60, .burst = 2, .entries = 64};
  auto listener = start(15405);
  ASSERT_TRUE(listener);
  EXPECT_TRUE(fetch(*listener, fetch_options(15405, pki.ca_file())));
  EXPECT_TRUE(fetch(*listener, fetch_options(15405, pki.ca_file())));
  UniqueFd third = connect_raw(15405);
  run_until([&] { return listener->counters().accepted == 3; });
  EXPECT_EQ(listener->counters().rate_limited, 1u);
  EXPECT_EQ(listener->counters().responses, 2u);
  EXPECT_TRUE(closed_by_server(third.get(), 1000ms));
  EXPECT_FALSE(fetch(*listener, fetch_options(15405, pki.ca_file())));
  EXPECT_EQ(listener->counters().rate_limited, 2u);
}

TEST_F(KeListenerTest, GarbageClientIsCountedAndClosed) {
  auto listener = start(15406);
  ASSERT_TRUE(listener);
  UniqueFd client = connect_raw(15406);
  const std::string junk = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(send(client.get(), junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
  run_until([&] { return listener->counters().handshakes_failed == 1; });
  EXPECT_EQ(listener->counters().handshakes_failed, 1u);
  EXPECT_EQ(listener->connection_count(), 0u);
  EXPECT_TRUE(closed_by_server(client.get(), 1000ms));
  // And the next client is served as usual.
  EXPECT_TRUE(fetch(*listener, fetch_options(15406, pki.ca_file())));
}

TEST_F(KeListenerTest, ClientGoingAwayMidHandshakeIsCounted) {
  auto listener = start(15407);
  ASSERT_TRUE(listener);
  {
    UniqueFd client = connect_raw(15407);
    run_until([&] { return listener->counters().accepted == 1; });
  }
  run_until([&] { return listener->connection_count() == 0; });
  EXPECT_EQ(listener->counters().handshakes_failed, 1u);
  EXPECT_EQ(listener->counters().timed_out, 0u);
}

TEST_F(KeListenerTest, ReloadSwitchesToTheNewCertificateAndKeepsTheOldOneOnFailure) {
  auto listener = start(15408);
  ASSERT_TRUE(listener);
  ASSERT_TRUE(fetch(*listener, fetch_options(15408, pki.ca_file())));

  test::TestPki second_ca;
  second_ca.issue("server", "IP:127.0.0.1");
  namespace fs = std::filesystem;
  fs::copy_file(second_ca.path("server.crt"), config.certificate, fs::copy_options::overwrite_existing);
  fs::copy_file(second_ca.path("server.key"), config.private_key, fs::copy_options::overwrite_existing);
  auto reloaded = listener->reload_credentials();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  auto with_new_ca = fetch(*listener, fetch_options(15408, second_ca.ca_file()));
  EXPECT_TRUE(with_new_ca) << with_new_ca.error().message;
  auto with_old_ca = fetch(*listener, fetch_options(15408, pki.ca_file()));
  ASSERT_FALSE(with_old_ca);
  EXPECT_NE(with_old_ca.error().message.find("certificate"), std::string::npos) << with_old_ca.error().message;

  std::ofstream(config.certificate, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot a certificate\n";
  auto broken = listener->reload_credentials();
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find(config.certificate), std::string::npos) << broken.error().message;
  auto still = fetch(*listener, fetch_options(15408, second_ca.ca_file()));
  EXPECT_TRUE(still) << still.error().message;
}

TEST_F(KeListenerTest, ConnectionInFlightFinishesWithTheOldCertificate) {
  auto listener = start(15409);
  ASSERT_TRUE(listener);
  UniqueFd in_flight = connect_raw(15409);
  run_until([&] { return listener->counters().accepted == 1; });

  test::TestPki second_ca;
  second_ca.issue("server", "IP:127.0.0.1");
  namespace fs = std::filesystem;
  fs::copy_file(second_ca.path("server.crt"), config.certificate, fs::copy_options::overwrite_existing);
  fs::copy_file(second_ca.path("server.key"), config.private_key, fs::copy_options::overwrite_existing);
  ASSERT_TRUE(listener->reload_credentials());

  // The session was made before the reload: it still presents the first CA's certificate.
  SslCtxPtr old_trust =
      make_tls_client_context({.server_name = "127.0.0.1", .ca_file = pki.ca_file(), .system_trust = false}).value();
  auto future = std::async(std::launch::async, [&] { return ke_over_socket(in_flight.get(), old_trust.get()); });
  run_until([&] { return future.wait_for(0s) == std::future_status::ready; });
  auto result = future.get();
  EXPECT_TRUE(result) << result.error().message;
  in_flight = UniqueFd();
  run_until([&] { return listener->connection_count() == 0; });
  EXPECT_EQ(listener->counters().responses, 1u);
  EXPECT_TRUE(fetch(*listener, fetch_options(15409, second_ca.ca_file())));
}

TEST_F(KeListenerTest, BadRequestGetsAnErrorRecordAndIsCounted) {
  auto listener = start(15410);
  ASSERT_TRUE(listener);
  // fetch_nts_ke always sends a good request; offering only an AEAD the server lacks is the
  // closest a real client gets to being refused: an empty AEAD record, no cookies.
  config.aeads = {15};
  auto narrow = KeListener::create(
      [&] {
        KeServerConfig c = config;
        c.listen = {loopback(15411)};
        return c;
      }(),
      loop, ring, std::nullopt);
  ASSERT_TRUE(narrow);
  KeFetchOptions options = fetch_options(15411, pki.ca_file());
  options.aeads = {16};
  EXPECT_FALSE(fetch(**narrow, options));
  EXPECT_EQ((*narrow)->counters().no_agreement, 1u);

  // A hand-made request with an unknown critical record gets Error code 0.
  UniqueFd fd = connect_raw(15410);
  SslCtxPtr trust =
      make_tls_client_context({.server_name = "127.0.0.1", .ca_file = pki.ca_file(), .system_trust = false}).value();
  const Buffer request = {0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0xc0, 0x01, 0, 0, 0x80, 0, 0, 0};
  auto future =
      std::async(std::launch::async, [&] { return raw_request_over_socket(fd.get(), trust.get(), request); });
  run_until([&] { return future.wait_for(0s) == std::future_status::ready; });
  const RawExchange exchange = future.get();
  ASSERT_TRUE(exchange.error.empty()) << exchange.error;
  EXPECT_EQ(exchange.answer, (Buffer{0x80, 2, 0, 2, 0, 0, 0x80, 0, 0, 0}));  // Error 0, End of Message
  fd = UniqueFd();
  run_until([&] { return listener->connection_count() == 0; });
  EXPECT_EQ(listener->counters().error_records, 1u);
  EXPECT_EQ(listener->counters().handshakes_ok, 1u);
}

TEST_F(KeListenerTest, RunningOutOfDescriptorsPausesAcceptingInsteadOfSpinning) {
#if KAIROS_UNDER_ASAN
  // The sanitizers probe memory through a pipe(2); with no descriptor left they misreport every
  // virtual call (spdlog's logger) as an invalid vptr. The release build runs this test.
  GTEST_SKIP() << "needs descriptors the sanitizer runtime takes for itself";
#endif
  auto listener = start(15412);
  ASSERT_TRUE(listener);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_raw(15412));

  // Lower the descriptor limit to the lowest free descriptor: every accept now fails with EMFILE.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  // Quiet the pause warning meanwhile: UBSan's vptr check in fmt needs a descriptor of its own.
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  run_until([] { return false; }, 350ms);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  spdlog::set_level(level);

  const std::uint64_t errors = listener->counters().accept_errors;
  EXPECT_GE(errors, 1u);
  EXPECT_LE(errors, 6u);  // one try per pause of kAcceptPause, not a busy loop
  EXPECT_EQ(listener->counters().accepted, 0u);

  // With descriptors back, the waiting connections are accepted.
  run_until([&] { return listener->counters().accepted == 3; });
  EXPECT_EQ(listener->counters().accepted, 3u);
}

TEST_F(KeListenerTest, BadConfigurationIsRefused) {
  config.listen = {loopback(15413)};
  KeServerConfig bad = config;
  bad.aeads = {99};
  EXPECT_FALSE(KeListener::create(bad, loop, ring, std::nullopt));
  bad = config;
  bad.certificate = pki.path("missing.crt");
  auto missing = KeListener::create(bad, loop, ring, std::nullopt);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing.crt"), std::string::npos);
  bad = config;
  bad.listen = {"not an address:15413"};
  EXPECT_FALSE(KeListener::create(bad, loop, ring, std::nullopt));
  bad = config;
  bad.max_connections = 0;
  EXPECT_FALSE(KeListener::create(bad, loop, ring, std::nullopt));
  // Two listeners cannot share one address.
  auto first = KeListener::create(config, loop, ring, std::nullopt);
  ASSERT_TRUE(first);
  EXPECT_FALSE(KeListener::create(config, loop, ring, std::nullopt));
}

}  // namespace
}  // namespace kairos
