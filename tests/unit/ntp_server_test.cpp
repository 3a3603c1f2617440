#include "daemon/ntp_server.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "daemon/ntp_query.hpp"
#include "daemon/time_service.hpp"
#include "nts/cookie.hpp"
#include "nts/ntp_client.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kNow = 20000 * 86400 + 100;

NtpServerConfig server_config(std::uint16_t port) {
  NtpServerConfig config;
  config.listen = {"127.0.0.1:" + std::to_string(port)};
  config.workers = 2;
  config.rate_limit.reset();
  return config;
}

SocketAddress loopback(std::uint16_t port) { return resolve("127.0.0.1", port, SOCK_DGRAM).value().front(); }

// A client session holding cookies the ring can open, as an NTS-KE server would have handed out.
NtsClientSession session_for(KeyRing& ring, std::uint16_t port) {
  const std::vector<std::uint8_t> c2s(32, 0x5a), s2c(32, 0xa5);
  KeClientResult ke{*NtsKeys::create(15, c2s, s2c), {}, "127.0.0.1", port};
  for (int i = 0; i < 8; ++i) {
    std::vector<std::uint8_t> cookie(kCookieMaxLength);
    cookie.resize(*seal_cookie(ke.keys, ring.current(), cookie));
    ke.cookies.push_back(cookie);
  }
  return *NtsClientSession::create(ke);
}

TEST(NtpServer, AnswersPlainRequestsWithTheClockStateAndKernelStamps) {
  const NtpTimestamp now = realtime_ntp_now();
  auto server = NtpServer::start(server_config(13701), local_clock_state(1, now, -20), nullptr);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ((*server)->worker_count(), 2u);
  EXPECT_EQ((*server)->addresses().front().to_string(), "127.0.0.1:13701");

  auto result = run_ntp_exchange(loopback(13701), NtpClientExchange::plain(system_random()), nullptr, 1000ms);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->sample.header.stratum, 1);
  EXPECT_EQ(result->sample.header.reference_id, make_reference_id('L', 'O', 'C', 'L'));
  EXPECT_LT(std::abs(result->sample.offset.seconds()), 0.01);

  // A new clock state reaches the workers.
  (*server)->publish_clock_state(local_clock_state(std::nullopt, now, -20));
  std::this_thread::sleep_for(300ms);  // a worker looks at most one poll timeout later
  result = run_ntp_exchange(loopback(13701), NtpClientExchange::plain(system_random()), nullptr, 1000ms);
  ASSERT_FALSE(result);  // the answer says leap 3 / stratum 16, which a client must not use
  EXPECT_EQ(result.error().problem, ResponseProblem::kUnsynchronized) << result.error().message;

  std::this_thread::sleep_for(300ms);
  const NtpServerCounters counters = (*server)->counters();
  EXPECT_EQ(counters.received, 2u);
  EXPECT_EQ(counters.sent, 2u);
  EXPECT_EQ(counters.responses.plain, 2u);
  // The kernel turns RX stamping on through deferred work when the first socket asks (see
  // hold_rx_timestamping), so the very first packet may miss its stamp; the later one has it.
  EXPECT_GE(counters.kernel_stamps, 1u);
  EXPECT_LE(counters.kernel_stamps, 2u);
}

TEST(NtpServer, ServesNtsWithThePublishedKeysAndNaksAfterTheyChange) {
  auto ring = KeyRing::from_random({.rotation_interval = 3600, .old_keys = 0}, kNow);
  ASSERT_TRUE(ring);
  auto server = NtpServer::start(server_config(13702), local_clock_state(2, realtime_ntp_now(), -20),
                                 &*ring);
  ASSERT_TRUE(server) << server.error().message;
  NtsClientSession session = session_for(*ring, 13702);
  const RandomFill random = system_random();

  for (int i = 0; i < 4; ++i) {
    auto exchange = NtpClientExchange::nts(session, random);
    ASSERT_TRUE(exchange);
    auto result = run_ntp_exchange(loopback(13702), *exchange, &session, 1000ms);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_TRUE(result->sample.authenticated);
    EXPECT_EQ(result->sample.header.stratum, 2);
  }
  EXPECT_EQ(session.cookies(), 8u);  // every response refilled the jar

  // Two rotations with no old keys kept: the client's cookies no longer open.
  ASSERT_TRUE(*ring->rotate(kNow + 3600));
  ASSERT_TRUE(*ring->rotate(kNow + 7200));
  (*server)->publish_key_ring(*ring);
  std::this_thread::sleep_for(300ms);
  auto exchange = NtpClientExchange::nts(session, random);
  ASSERT_TRUE(exchange);
  auto result = run_ntp_exchange(loopback(13702), *exchange, &session, 1000ms);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kNtsNak) << result.error().message;

  // Cookies from the new keys work.
  NtsClientSession fresh = session_for(*ring, 13702);
  exchange = NtpClientExchange::nts(fresh, random);
  result = run_ntp_exchange(loopback(13702), *exchange, &fresh, 1000ms);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->sample.authenticated);
}

TEST(NtpServer, BusyPortIsAClearError) {
  auto first = NtpServer::start(server_config(13703), ServerClockState{}, nullptr);
  ASSERT_TRUE(first);
  // A plain socket on the same port without SO_REUSEPORT makes the second bind fail.
  auto blocker = open_socket(AF_INET, SOCK_DGRAM);
  const SocketAddress taken = loopback(13704);
  ASSERT_EQ(bind(blocker->get(), taken.get(), taken.length), 0);
  auto second = NtpServer::start(server_config(13704), ServerClockState{}, nullptr);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("cannot bind 127.0.0.1:13704"), std::string::npos) << second.error().message;
}

TEST(NtpServer, ClockPrecisionIsMeasuredAndPlausible) {
  const std::int8_t precision = measure_clock_precision();
  EXPECT_LE(precision, -10);  // better than a millisecond on any machine this runs on
  EXPECT_GE(precision, -30);
}

TEST(TimeService, AnnouncesTheLocalPortOnlyWhenItIsNot123) {
  DaemonConfig config;
  config.server = NtpServerConfig{};
  config.server->listen = {"0.0.0.0:123"};
  config.ke_server = KeServerConfig{};
  EXPECT_EQ(announced_ntp_port(config), std::nullopt);
  config.server->listen = {"127.0.0.1:11123"};
  EXPECT_EQ(announced_ntp_port(config), 11123);
  config.ke_server->ntp_port = 4123;  // configured wins
  EXPECT_EQ(announced_ntp_port(config), 4123);
}

}  // namespace
}  // namespace kairos
