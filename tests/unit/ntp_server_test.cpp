#include "daemon/ntp_server.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <thread>

#include "daemon/client/ntp_query.hpp"
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
  config.max_wait = 0;  // answers however late: a loaded test machine must not turn into drops
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

// One exchange on a kept socket, as an association in the interleaved mode runs it.
struct KeptSocketExchange {
  NtpExchangeOutcome outcome;
  std::optional<NtpClientSocket> socket;
};
KeptSocketExchange exchange_on(NtpClientSocket socket, NtpClientExchange exchange, NtsClientSession* session) {
  auto pending = PendingNtpExchange::start(std::move(socket), std::move(exchange));
  if (!pending) return {std::unexpected(pending.error()), std::nullopt};
  const Deadline deadline = std::chrono::steady_clock::now() + 1000ms;
  for (;;) {
    auto revents = wait_for(pending->fd(), pending->events(), deadline);
    if (!revents || *revents == 0) return {std::unexpected(pending->timed_out(1000ms)), std::nullopt};
    if (auto outcome = pending->on_ready(*revents, session)) {
      return {std::move(*outcome), std::move(*pending).release_socket()};
    }
  }
}

// Several exchanges from one kept socket against kairosd's server with `workers` workers: the
// first answer is basic, every later one interleaved, with the kernel's TX stamp of the answer
// before (later than the daemon's own reading, before the next request arrived).
// With `hardware`, the sockets ask for NIC stamps too; loopback has none, so the kernel's serve.
void expect_interleaved_answers(std::uint16_t port, KeyRing* ring, bool hardware = false) {
  auto server = NtpServer::start(server_config(port), local_clock_state(1, realtime_ntp_now(), -20), ring, nullptr,
                                 hardware);
  ASSERT_TRUE(server) << server.error().message;
  std::optional<NtsClientSession> session;
  if (ring) session.emplace(session_for(*ring, port));
  auto socket = NtpClientSocket::open(loopback(port));
  ASSERT_TRUE(socket) << socket.error().message;
  std::optional<NtpClientSocket> kept(std::move(*socket));
  std::optional<InterleavedState> previous;
  std::optional<NtpHeader> previous_header;
  for (int i = 0; i < 5; ++i) {
    auto exchange = ring ? NtpClientExchange::nts(*session, system_random(), previous ? &*previous : nullptr)
                         : Result<NtpClientExchange>(
                               NtpClientExchange::plain(system_random(), previous ? &*previous : nullptr));
    ASSERT_TRUE(exchange);
    auto done = exchange_on(std::move(*kept), std::move(*exchange), session ? &*session : nullptr);
    ASSERT_TRUE(done.outcome) << i << ": " << done.outcome.error().message;
    const NtpSample& sample = done.outcome->sample;
    EXPECT_EQ(sample.interleaved, i > 0) << i;
    EXPECT_EQ(sample.authenticated, ring != nullptr);
    EXPECT_EQ(done.outcome->t1_source, StampSource::kKernel);
    if (i > 0) {
      // The wire stamp of the previous answer, after the reading that answer carried.
      EXPECT_GT(static_cast<std::int64_t>((sample.header.transmit_time - previous_header->transmit_time).raw()), 0);
      EXPECT_LT(std::abs(sample.offset.seconds()), 0.001);
      EXPECT_GT(sample.delay.seconds(), 0.0);
    }
    previous = sample.next;
    previous_header = sample.header;
    kept = std::move(done.socket);
    ASSERT_TRUE(kept);
  }
  std::this_thread::sleep_for(300ms);  // counters are published every 250 ms
  const NtpServerCounters c = (*server)->counters();
  EXPECT_EQ(c.responses.interleaved, 4u);
  EXPECT_GE(c.tx_stamps_used, 4u);
  EXPECT_EQ(c.tx_hardware_used, 0u);
  EXPECT_EQ(c.hardware_stamps, 0u);
  EXPECT_GE(c.kernel_stamps, 4u);
}

TEST(NtpServer, AnswersInterleavedRequestsWithKernelTransmitStamps) { expect_interleaved_answers(13705, nullptr); }

// A server asking for hardware stamps (an [[interface]] on the direct path) on an interface without
// them, and before any PHC line is published: software stamps, interleaved answers as before.
TEST(NtpServer, AsksForNicStampsAndServesWithTheKernelsWhereThereAreNone) {
  expect_interleaved_answers(13713, nullptr, true);
}

TEST(NtpServer, AnswersInterleavedNtsRequestsAuthenticated) {
  auto ring = KeyRing::from_random({.rotation_interval = 3600, .old_keys = 0}, kNow);
  ASSERT_TRUE(ring);
  expect_interleaved_answers(13706, &*ring);
}

TEST(NtpServer, InterleavedOffAnswersEveryRequestBasic) {
  NtpServerConfig config = server_config(13707);
  config.interleaved = false;
  auto server = NtpServer::start(config, local_clock_state(1, realtime_ntp_now(), -20), nullptr);
  ASSERT_TRUE(server) << server.error().message;
  auto socket = NtpClientSocket::open(loopback(13707));
  ASSERT_TRUE(socket);
  auto first = exchange_on(std::move(*socket), NtpClientExchange::plain(system_random()), nullptr);
  ASSERT_TRUE(first.outcome) << first.outcome.error().message;
  auto second = exchange_on(std::move(*first.socket),
                            NtpClientExchange::plain(system_random(), &first.outcome->sample.next), nullptr);
  ASSERT_TRUE(second.outcome) << second.outcome.error().message;
  EXPECT_FALSE(second.outcome->sample.interleaved);
}

// The server's rate limiter is asked only for requests that parse: junk from a client over the
// limit (client mode and version 4 in the first octet, broken past it) is dropped without taking
// the RATE kiss that client's real request gets.
TEST(NtpServer, JunkDoesNotTakeTheKissOfAClientOverTheLimit) {
  NtpServerConfig config = server_config(13708);
  config.workers = 1;
  config.rate_limit = RateLimitConfig{60.0, 1, 16};
  auto server = NtpServer::start(config, local_clock_state(1, realtime_ntp_now(), -20), nullptr);
  ASSERT_TRUE(server) << server.error().message;

  auto send_junk = [] {
    auto socket = open_socket(AF_INET, SOCK_DGRAM);
    ASSERT_TRUE(socket);
    const SocketAddress to = loopback(13708);
    std::vector<std::uint8_t> junk(1400, 0);
    junk[0] = 0x23;  // leap 0, version 4, client mode
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(sendto(socket->get(), junk.data(), junk.size(), 0, to.get(), to.length), 1400);
    }
  };
  send_junk();
  auto first = run_ntp_exchange(loopback(13708), NtpClientExchange::plain(system_random()), nullptr, 1000ms);
  ASSERT_TRUE(first) << first.error().message;  // the burst of 1 was still there
  send_junk();
  auto second = run_ntp_exchange(loopback(13708), NtpClientExchange::plain(system_random()), nullptr, 1000ms);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().problem, ResponseProblem::kRateLimited) << second.error().message;

  std::this_thread::sleep_for(300ms);
  const NtpServerCounters counters = (*server)->counters();
  EXPECT_EQ(counters.received, 12u);
  EXPECT_EQ(counters.responses.dropped_for(DropReason::kMalformed), 10u);
  EXPECT_EQ(counters.responses.rate_kisses_plain, 1u);
  EXPECT_EQ(counters.responses.dropped_for(DropReason::kRateLimited), 0u);
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

namespace kairos {
namespace {

// workers = 0: no thread, the loop answers (small hosts; simulators serve one thread).
TEST(NtpServer, WithNoWorkersTheLoopAnswers) {
  EventLoop loop = EventLoop::create().value();
  NtpServerConfig config = server_config(13709);
  config.workers = 0;
  auto server = NtpServer::start(config, local_clock_state(1, realtime_ntp_now(), -20), nullptr, &loop);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ((*server)->worker_count(), 0u);

  auto pending = PendingNtpExchange::start(loopback(13709), NtpClientExchange::plain(system_random()));
  ASSERT_TRUE(pending);
  std::optional<NtpExchangeOutcome> outcome;
  loop.watch(pending->fd(), pending->events(), [&](short revents) {
    outcome = pending->on_ready(revents, nullptr);
    if (outcome) loop.stop();
  });
  const auto guard = loop.add_timer(2s, [&] { loop.stop(); });
  ASSERT_TRUE(loop.run());
  loop.cancel_timer(guard);
  ASSERT_TRUE(outcome) << "no answer from the loop's server";
  ASSERT_TRUE(*outcome) << outcome->error().message;
  EXPECT_EQ((*outcome)->sample.header.stratum, 1);
  EXPECT_EQ((*server)->counters().sent, 1u);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// One exchange with the loop's server, the loop run until the answer.
NtpExchangeOutcome exchange_on(EventLoop& loop, std::uint16_t port) {
  auto pending = PendingNtpExchange::start(loopback(port), NtpClientExchange::plain(system_random()));
  if (!pending) return std::unexpected(pending.error());
  std::optional<NtpExchangeOutcome> outcome;
  loop.watch(pending->fd(), pending->events(), [&](short revents) {
    outcome = pending->on_ready(revents, nullptr);
    if (outcome) loop.stop();
  });
  const auto guard = loop.add_timer(2s, [&] { loop.stop(); });
  (void)loop.run();
  loop.cancel_timer(guard);
  loop.unwatch(pending->fd());
  if (!outcome) return std::unexpected(NtpExchangeError{std::nullopt, "no answer", 0});
  return *outcome;
}

// What the server announces once refreshed every 16 s only: a chronyd client kept polling the
// unsynchronized server at its slow rate and took kairosd 60 s after kairosd was synchronized.
TEST(TimeService, TheAnnouncedStateFollowsTheClockModelAtOnce) {
  EventLoop loop = EventLoop::create().value();
  DaemonConfig config;
  config.server = NtpServerConfig{};
  config.server->listen = {"127.0.0.1:13711"};
  config.server->workers = 0;
  config.server->rate_limit.reset();
  auto service = TimeService::start(config, loop);
  ASSERT_TRUE(service) << service.error().message;
  std::optional<ServerClockState> model;  // unsynchronized until set
  (*service)->set_clock_source([&] { return model; });
  auto first = exchange_on(loop, 13711);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().problem, ResponseProblem::kUnsynchronized) << first.error().message;

  ServerClockState synchronized;
  synchronized.leap = NtpLeap::kNone;
  synchronized.stratum = 2;
  synchronized.reference_id = 0xc0a87b01;
  model = synchronized;
  (*service)->clock_updated();
  auto second = exchange_on(loop, 13711);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->sample.header.stratum, 2);
  EXPECT_EQ(second->sample.header.reference_id, 0xc0a87b01u);
}

// [server] max-wait: a request that waited longer than the bound after its kernel RX stamp is
// dropped and counted, not answered late. The loop serves (workers = 0), which holds the server
// deterministically: the request sits in the socket until the loop runs.
TEST(NtpServer, RequestOlderThanMaxWaitIsDroppedAndCounted) {
  EventLoop loop = EventLoop::create().value();
  NtpServerConfig config = server_config(13716);
  config.workers = 0;
  config.max_wait = 0.1;
  auto server = NtpServer::start(config, local_clock_state(1, realtime_ntp_now(), -20), nullptr, &loop);
  ASSERT_TRUE(server) << server.error().message;

  UniqueFd client = open_socket(AF_INET, SOCK_DGRAM).value();
  const SocketAddress to = loopback(13716);
  auto held = NtpClientExchange::plain(system_random());
  ASSERT_EQ(sendto(client.get(), held.request().data(), held.request().size(), 0, to.get(), to.length),
            static_cast<ssize_t>(held.request().size()));
  std::this_thread::sleep_for(500ms);  // five times the bound, before the server's turn
  const auto turn = loop.add_timer(100ms, [&] { loop.stop(); });
  (void)loop.run();
  loop.cancel_timer(turn);
  std::array<std::uint8_t, 128> answer{};
  EXPECT_LT(recv(client.get(), answer.data(), answer.size(), MSG_DONTWAIT), 0) << "a late request was answered";
  NtpServerCounters c = (*server)->counters();
  EXPECT_EQ(c.received, 1u);
  EXPECT_EQ(c.late, 1u);
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.latency.count(), 0u);

  // A request served at once is answered, and how long it took is recorded.
  auto prompt = exchange_on(loop, 13716);
  ASSERT_TRUE(prompt) << prompt.error().message;
  c = (*server)->counters();
  EXPECT_EQ(c.late, 1u);
  EXPECT_EQ(c.sent, 1u);
  EXPECT_EQ(c.latency.count(), 1u);
  EXPECT_GT(c.latency.max_seconds(), 0.0);
  EXPECT_LT(c.latency.max_seconds(), config.max_wait);
}

TEST(NtpServer, MaxWaitZeroAnswersHoweverLate) {
  EventLoop loop = EventLoop::create().value();
  NtpServerConfig config = server_config(13717);
  config.workers = 0;
  config.max_wait = 0;
  auto server = NtpServer::start(config, local_clock_state(1, realtime_ntp_now(), -20), nullptr, &loop);
  ASSERT_TRUE(server) << server.error().message;
  // The wait is measured from the kernel's RX stamp, and the kernel turns RX stamping on a moment
  // after the first socket asks (net_enable_timestamp defers it to a work queue): on a host with
  // no other stamping socket, a request sent at once can arrive unstamped.
  std::this_thread::sleep_for(50ms);
  UniqueFd client = open_socket(AF_INET, SOCK_DGRAM).value();
  const SocketAddress to = loopback(13717);
  auto held = NtpClientExchange::plain(system_random());
  ASSERT_EQ(sendto(client.get(), held.request().data(), held.request().size(), 0, to.get(), to.length),
            static_cast<ssize_t>(held.request().size()));
  std::this_thread::sleep_for(200ms);
  const auto turn = loop.add_timer(100ms, [&] { loop.stop(); });
  (void)loop.run();
  loop.cancel_timer(turn);
  const NtpServerCounters c = (*server)->counters();
  EXPECT_EQ(c.late, 0u);
  EXPECT_EQ(c.sent, 1u);
  EXPECT_GE(c.latency.max_seconds(), 0.2);  // it waited, and the metric says so
}

// The receive buffer holds about what one core answers within max-wait (see ntp_server.cpp).
TEST(NtpServer, ReceiveBufferIsSizedForMaxWait) {
  const int kernel_default = 212992;
  const int at_default = receive_buffer_for(0.005, kernel_default);
  EXPECT_GT(at_default, kernel_default / 2);
  EXPECT_LT(at_default, 2 << 20);  // far below the old 4 MB (8 MB used)
  EXPECT_NEAR(receive_buffer_for(0.010, kernel_default), 2 * at_default, 1);  // proportional to the bound
  EXPECT_EQ(receive_buffer_for(0.0001, kernel_default), kernel_default / 2);  // the kernel's default, at least
  EXPECT_EQ(receive_buffer_for(0.005, 8 << 20), 4 << 20);                   // a host's larger default stays
  EXPECT_EQ(receive_buffer_for(0, kernel_default), 4 << 20);                // no bound: room for bursts
  EXPECT_EQ(receive_buffer_for(1.0, kernel_default), 4 << 20);              // and never more
}

// IPv4 answers leave with DF and no path MTU discovery; IPv6 has no such option to set.
TEST(NtpServer, DontFragmentIsSetOnIpv4SocketsOnly) {
  const int v4 = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(v4, 0);
  int mode = -1;
  socklen_t length = sizeof mode;
  ASSERT_EQ(getsockopt(v4, IPPROTO_IP, IP_MTU_DISCOVER, &mode, &length), 0);
  EXPECT_NE(mode, IP_PMTUDISC_PROBE);  // not the kernel's default: the call below makes it so
  ASSERT_TRUE(set_dont_fragment(v4, AF_INET));
  ASSERT_EQ(getsockopt(v4, IPPROTO_IP, IP_MTU_DISCOVER, &mode, &length), 0);
  EXPECT_EQ(mode, IP_PMTUDISC_PROBE);
  ::close(v4);
  const int v6 = ::socket(AF_INET6, SOCK_DGRAM, 0);
  if (v6 >= 0) {
    EXPECT_TRUE(set_dont_fragment(v6, AF_INET6));
    ::close(v6);
  }
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// RFC 8915 §5.7: a NAK is not authenticated. An on-path attacker who copies the request's unique
// identifier can send one ahead of the server's answer; it once ended the exchange (and emptied
// the cookie jar), so one forged packet per poll denied every authenticated sample.
TEST(NtsNak, AForgedNakAheadOfTheGenuineAnswerDoesNotEndTheExchange) {
  auto ring = KeyRing::from_random({.rotation_interval = 3600, .old_keys = 0}, kNow);
  ASSERT_TRUE(ring);
  const std::uint16_t port = 13712;
  UniqueFd fd = open_socket(AF_INET, SOCK_DGRAM).value();
  const SocketAddress here = loopback(port);
  ASSERT_EQ(bind(fd.get(), here.get(), here.length), 0);
  // Sealed before the peer starts: from then on only the peer touches the ring (its AEAD keeps
  // scratch state; the socket orders the two threads, but ThreadSanitizer cannot see that).
  NtsClientSession session = session_for(*ring, port);
  std::thread peer([&] {
    NtpResponder genuine(realtime_ntp_now, system_random());
    NtpResponder forger(realtime_ntp_now, system_random());  // no key ring: NAKs every NTS request
    genuine.set_clock_state(local_clock_state(1, realtime_ntp_now(), -20));
    forger.set_clock_state(local_clock_state(1, realtime_ntp_now(), -20));
    std::array<std::uint8_t, 2048> in{};
    std::array<std::uint8_t, 2048> out{};
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return;
    const ssize_t n = recvfrom(fd.get(), in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n <= 0) return;
    const ByteView request(in.data(), static_cast<std::size_t>(n));
    const NtpTimestamp t2 = realtime_ntp_now();
    for (NtpResponder* responder : {&forger, &genuine}) {
      const Response r = responder->respond(request, t2, ClientAddress{}, RateCheck(RateDecision::kAllow),
                                            responder == &genuine ? &*ring : nullptr, out);
      sendto(fd.get(), out.data(), r.length, 0, reinterpret_cast<sockaddr*>(&from), from_length);
    }
  });
  const std::size_t cookies = session.cookies();
  auto exchange = NtpClientExchange::nts(session, system_random());
  ASSERT_TRUE(exchange);
  auto result = run_ntp_exchange(here, *exchange, &session, 1000ms);
  peer.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->sample.authenticated);
  EXPECT_EQ(session.cookies(), cookies);  // one spent on the request, one back in the answer
}

}  // namespace
}  // namespace kairos
