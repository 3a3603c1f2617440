// Issue 22 item 1: the association's decisions, without sockets, timers or clocks. Each test drives
// daemon/source_core.hpp as the shell would (answering its actions) with a clock it steps itself.
#include "daemon/source_core.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kairos {
namespace {

using namespace std::chrono_literals;
using Time = SourceCore::Time;

SocketAddress at(const char* ip, std::uint16_t port) { return resolve(ip, port, SOCK_DGRAM).value().front(); }

double seconds_between(Time a, Time b) { return std::chrono::duration<double>(b - a).count(); }

// The spread of polls and retries is a draw of two bytes: each is `byte`, so that uniform() is
// exactly `byte * 257 / 65536`. Longer draws (a request's random fields) count up, so that an
// interleaved request's two random timestamps differ as the exchange requires.
RandomFill steered_random(std::shared_ptr<std::uint8_t> byte) {
  auto next = std::make_shared<std::uint8_t>(1);
  return [byte, next](std::span<std::uint8_t> out) {
    for (auto& b : out) b = out.size() == 2 ? *byte : (*next)++;
  };
}

KeClientResult ke_result(std::size_t cookies, const std::string& ntp_server = "192.0.2.50") {
  std::vector<std::uint8_t> c2s(32), s2c(32);
  for (std::size_t i = 0; i < 32; ++i) {
    c2s[i] = static_cast<std::uint8_t>(i);
    s2c[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  KeClientResult ke{NtsKeys::create(15, c2s, s2c).value(), {}, ntp_server, kNtpDefaultPort, false, false, ""};
  for (std::size_t i = 0; i < cookies; ++i) ke.cookies.push_back(std::vector<std::uint8_t>(64, static_cast<std::uint8_t>(i)));
  return ke;
}

NtpExchangeOutcome answer(double offset = 1e-3, std::size_t rejected = 0) {
  NtpExchangeResult r;
  r.sample.offset = Duration::from_seconds(offset);
  r.sample.delay = Duration::from_seconds(2e-3);
  r.sample.header.stratum = 2;
  r.sample.next.server_receive = NtpTimestamp::from_timespec(timespec{1'800'000'000, 0});
  r.sample.next.t1 = timespec{1'800'000'000, 100};
  r.sample.next.t4 = timespec{1'800'000'000, 900};
  r.rejected = rejected;
  return r;
}

NtpExchangeOutcome interleaved_answer(int phc = 0) {
  NtpExchangeOutcome r = answer();
  r->sample.interleaved = true;
  r->sample.next.phc_ifindex = phc;
  return r;
}

NtpExchangeOutcome error(std::optional<ResponseProblem> problem, std::size_t rejected = 0) {
  return std::unexpected(NtpExchangeError{.problem = problem, .message = "test", .rejected = rejected});
}

NtpExchangeOutcome timeout() { return error(std::nullopt); }

template <class A>
const A* find(const SourceActions& actions) {
  for (const SourceAction& a : actions) {
    if (const A* found = std::get_if<A>(&a)) return found;
  }
  return nullptr;
}

template <class A>
int count(const SourceActions& actions) {
  int n = 0;
  for (const SourceAction& a : actions) n += std::holds_alternative<A>(a) ? 1 : 0;
  return n;
}

// The shell, faked: it keeps the armed timer, hands answers in and remembers the last actions.
class Driver {
 public:
  explicit Driver(SourceConfig config, std::shared_ptr<AddressClaims> pool = nullptr)
      : core(std::move(config), steered_random(byte), std::move(pool)) {}

  void take(SourceActions actions) {
    last = std::move(actions);
    for (const SourceAction& a : last) {
      if (const auto* arm = std::get_if<source_action::ArmTimer>(&a)) timer = arm->at;
    }
  }
  void start() { take(core.start(now)); }
  // Runs the clock to the armed timer and fires it. The helpers throw where the test cannot go
  // on (GoogleTest reports the exception as the test's failure), so that a broken rule fails
  // the test instead of crashing or looping.
  void fire() {
    if (!timer) throw std::logic_error("no timer armed");
    now = *timer;
    timer.reset();
    take(core.timer_fired(now));
  }
  void resolve(std::vector<SocketAddress> addresses) { take(core.resolved(now, std::move(addresses))); }
  void resolve_fails() { take(core.resolved(now, fail("no such name"))); }
  // The SendRequest of the last actions carried out: the request built and sent.
  const source_action::SendRequest& send(const TxStamps& late = {}, std::optional<double> correction = {}) {
    const auto* send = find<source_action::SendRequest>(last);
    if (send == nullptr) throw std::logic_error("no request to send");
    sent = *send;
    request.emplace(core.make_request(late, correction).value());
    core.request_sent(now);
    ++requests;
    return *sent;
  }
  // The request sent is answered (or not) 10 ms later; a sample gets `feedback`.
  void finish(NtpExchangeOutcome outcome, ExchangeEnd end = {.have_tx_stamp = true}) {
    now += 10ms;
    if (!outcome && !outcome.error().problem) end.timed_out = true;
    SourceActions actions = core.exchange_finished(now, std::move(outcome), end);
    if (const auto* deliver = find<source_action::Deliver>(actions)) {
      delivered.push_back(deliver->result);
      SourceActions more = core.sample_feedback(now, feedback);
      actions.insert(actions.end(), more.begin(), more.end());
    }
    take(std::move(actions));
  }
  // One poll: send what the last actions asked for and finish it.
  void poll(NtpExchangeOutcome outcome, ExchangeEnd end = {.have_tx_stamp = true}) {
    send();
    finish(std::move(outcome), end);
  }
  // The next poll comes from the timer.
  void poll_next(NtpExchangeOutcome outcome, ExchangeEnd end = {.have_tx_stamp = true}) {
    fire();
    poll(std::move(outcome), end);
  }
  double timer_in() const { return seconds_between(now, timer.value()); }
  bool wants_ke() const {
    const auto* r = find<source_action::Resolve>(last);
    return r && r->tcp;
  }

  std::shared_ptr<std::uint8_t> byte = std::make_shared<std::uint8_t>(0x80);  // uniform() = 0.502
  SourceCore core;
  Time now = Time{} + 1000h;
  std::optional<Time> timer;
  SourceActions last;
  std::optional<source_action::SendRequest> sent;
  std::optional<NtpClientExchange> request;
  std::vector<NtpExchangeResult> delivered;
  std::optional<PollFeedback> feedback;
  int requests = 0;
};

SourceConfig plain(int minpoll = 6, int maxpoll = 10) {
  SourceConfig config;
  config.address = "ntp.example";
  config.nts = false;
  config.minpoll = minpoll;
  config.maxpoll = maxpoll;
  return config;
}

SourceConfig nts(int minpoll = 6) {
  SourceConfig config;
  config.address = "ke.example";
  config.minpoll = minpoll;
  return config;
}

// A plain source started, resolved to `address` and its first request sent.
void begin_plain(Driver& d, const char* address = "192.0.2.1") {
  d.start();
  const auto* lookup = find<source_action::Resolve>(d.last);
  ASSERT_NE(lookup, nullptr);
  EXPECT_EQ(lookup->host, "ntp.example");
  EXPECT_EQ(lookup->port, 123);
  EXPECT_FALSE(lookup->tcp);
  d.resolve({at(address, 123)});
}

// An NTS source started with an NTS-KE that brought `cookies` cookies, its first request ready.
void begin_nts(Driver& d, std::size_t cookies = 8) {
  d.start();
  ASSERT_TRUE(d.wants_ke());
  d.resolve({at("192.0.2.40", 4460)});
  const auto* ke = find<source_action::StartKe>(d.last);
  ASSERT_NE(ke, nullptr);
  EXPECT_EQ(ke->address.to_string(), "192.0.2.40:4460");
  EXPECT_EQ(ke->host, "ke.example");
  EXPECT_EQ(ke->timeout, SourceCore::kKeTimeout);
  d.take(d.core.ke_finished(d.now, ke_result(cookies)));
  const auto* lookup = find<source_action::Resolve>(d.last);
  ASSERT_NE(lookup, nullptr);
  EXPECT_EQ(lookup->host, "192.0.2.50");
  EXPECT_FALSE(lookup->tcp);
  d.resolve({at("192.0.2.50", 123)});
}

// --- The poll schedule ---

TEST(SourceCore, PollsAtTwoToTheMinpollSpreadByTenPercent) {
  for (const std::uint8_t byte : std::vector<std::uint8_t>{0x00, 0x80, 0xff}) {
    Driver d(plain(6));
    *d.byte = byte;
    begin_plain(d);
    const auto& sent = d.send();
    EXPECT_EQ(sent.address.to_string(), "192.0.2.1:123");
    EXPECT_FALSE(sent.keep_socket);
    EXPECT_EQ(sent.timeout, 2000ms);  // half the poll, at most 2 s
    d.finish(answer());
    const double u = static_cast<double>(byte * 257) / 65536.0;
    EXPECT_NEAR(d.timer_in(), 64 * (1 + PollControl::kJitter * (2 * u - 1)), 1e-6) << int(byte);
    EXPECT_GE(d.timer_in(), 64 * 0.9 - 1e-9);
    EXPECT_LE(d.timer_in(), 64 * 1.1);
    // The timer brings the next request, to the same server.
    d.fire();
    EXPECT_EQ(d.send().address.to_string(), "192.0.2.1:123");
  }
}

TEST(SourceCore, TheExchangeTimeoutIsHalfThePollWithinBounds) {
  Driver fast(plain(-4, -4));  // 1/16 s: the floor of 100 ms
  begin_plain(fast);
  EXPECT_EQ(fast.send().timeout, 100ms);
  Driver mid(plain(1, 1));  // 2 s
  begin_plain(mid);
  EXPECT_EQ(mid.send().timeout, 1000ms);
}

TEST(SourceCore, IburstSendsFourRequestsTwoSecondsApartThenPolls) {
  SourceConfig config = plain(6);
  config.iburst = true;
  Driver d(config);
  begin_plain(d);
  for (int i = 0; i < SourceCore::kBurstCount - 1; ++i) {
    d.poll(answer());
    EXPECT_DOUBLE_EQ(d.timer_in(), 2.0) << i;
    d.fire();
  }
  d.poll(answer());
  EXPECT_GT(d.timer_in(), 50.0);
  EXPECT_EQ(d.requests, SourceCore::kBurstCount);
}

TEST(SourceCore, WithoutIburstTheSecondRequestWaitsAPoll) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(answer());
  EXPECT_GT(d.timer_in(), 50.0);
}

TEST(SourceCore, TheBurstSpacingAlsoCutsTheWaitAfterATimeout) {
  SourceConfig config = plain(6);
  config.iburst = true;
  Driver d(config);
  begin_plain(d);
  d.poll(timeout());
  EXPECT_DOUBLE_EQ(d.timer_in(), 2.0);
}

TEST(SourceCore, TheModelsFeedbackSetsThePoll) {
  Driver d(plain(6));
  d.feedback = PollFeedback{.residual = 1e-4, .predicted_sd = 1e-5, .measurement_sd = 1e-4, .excess_delay = 1e-4};
  begin_plain(d);
  d.poll(answer());
  for (int i = 1; i < PollControl::kRunToLengthen; ++i) d.poll_next(answer());
  EXPECT_EQ(d.core.poll_exponent(), 7);
  EXPECT_GT(d.timer_in(), 115.0);
  ASSERT_EQ(d.delivered.size(), static_cast<std::size_t>(PollControl::kRunToLengthen));
}

// --- Failures and backoff ---

TEST(SourceCore, FailedLookupsBackOffDoublingUpToTheCap) {
  Driver d(plain(6, 6));  // cap: max(16 s, 2^maxpoll) = 64 s
  *d.byte = 0;            // spread 0.8
  d.start();
  std::vector<double> waits;
  for (int i = 0; i < 8; ++i) {
    d.resolve_fails();
    waits.push_back(d.timer_in());
    d.fire();
    ASSERT_NE(find<source_action::Resolve>(d.last), nullptr);  // the retry starts over
  }
  const std::vector<double> expected{1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 51.2, 51.2};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(waits[i], expected[i], 1e-6) << i;
}

TEST(SourceCore, TheBackoffIsSpreadByTwentyPercent) {
  for (const std::uint8_t byte : std::vector<std::uint8_t>{0x00, 0xff}) {
    Driver d(plain(6, 6));
    *d.byte = byte;
    d.start();
    d.resolve_fails();
    const double u = static_cast<double>(byte * 257) / 65536.0;
    EXPECT_NEAR(d.timer_in(), 2.0 * (0.8 + 0.4 * u), 1e-6);
  }
}

TEST(SourceCore, TheBackoffCapIsSixteenSecondsAtLeast) {
  Driver d(plain(2, 2));
  *d.byte = 0;
  d.start();
  for (int i = 0; i < 6; ++i) {
    d.resolve_fails();
    if (i < 5) d.fire();
  }
  EXPECT_NEAR(d.timer_in(), 16 * 0.8, 1e-6);
}

TEST(SourceCore, AnAnswerResetsTheBackoff) {
  Driver d(plain(6));
  *d.byte = 0;
  d.start();
  d.resolve_fails();
  d.fire();
  d.resolve_fails();
  EXPECT_NEAR(d.timer_in(), 3.2, 1e-6);
  d.fire();
  d.resolve({at("192.0.2.1", 123)});
  d.poll(answer());
  d.fire();
  ASSERT_NE(find<source_action::SendRequest>(d.last), nullptr);
  d.take(d.core.request_failed(d.now, "no socket"));
  EXPECT_NEAR(d.timer_in(), 1.6, 1e-6);  // 2 s again, not 8
  d.fire();
  EXPECT_NE(find<source_action::Resolve>(d.last), nullptr);
}

TEST(SourceCore, TimeoutsShiftTheReachRegister) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(answer());
  EXPECT_EQ(d.core.reach(), 0b1);
  d.poll_next(timeout());
  EXPECT_EQ(d.core.reach(), 0b10);
  d.poll_next(answer());
  EXPECT_EQ(d.core.reach(), 0b101);
  for (int i = 0; i < 8; ++i) d.poll_next(timeout());
  EXPECT_EQ(d.core.reach(), 0);
  EXPECT_EQ(d.core.counters().timeouts, 9u);
  EXPECT_EQ(d.core.counters().samples, 2u);
  // A timeout waits the poll like an answer (no backoff: the server may just have lost one).
  EXPECT_GT(d.timer_in(), 50.0);
}

// --- Kisses ---

TEST(SourceCore, ARateKissRaisesThePoll) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(error(ResponseProblem::kRateLimited));
  EXPECT_EQ(d.core.poll_exponent(), 7);
  EXPECT_GT(d.timer_in(), 115.0);
  EXPECT_EQ(d.core.counters().kisses, 1u);
  d.poll_next(error(ResponseProblem::kRateLimited));
  EXPECT_EQ(d.core.poll_exponent(), 8);
  EXPECT_EQ(d.core.counters().kisses, 2u);
  EXPECT_EQ(d.core.reach(), 0);  // a kiss is not an answer
}

TEST(SourceCore, DenyOrRestrictStopsEveryRequest) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(error(ResponseProblem::kDenied));
  EXPECT_TRUE(d.core.denied());
  EXPECT_FALSE(d.timer);  // nothing more is scheduled
  EXPECT_EQ(d.core.counters().kisses, 1u);
  const auto* said = find<source_action::Log>(d.last);
  ASSERT_NE(said, nullptr);
  EXPECT_EQ(said->level, source_action::Log::Level::kError);
  // Even a timer left from before sends nothing.
  EXPECT_EQ(find<source_action::SendRequest>(d.core.timer_fired(d.now)), nullptr);
}

TEST(SourceCore, AnUnsynchronizedAnswerCountsAsRejectedAndPollsOn) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(error(ResponseProblem::kUnsynchronized, 2));
  EXPECT_EQ(d.core.counters().rejected, 3u);  // the two before it and itself
  EXPECT_GT(d.timer_in(), 50.0);
  EXPECT_EQ(d.core.counters().samples, 0u);
}

// --- NTS: cookies, NAKs, re-keying ---

TEST(SourceCore, EachRequestTakesACookie) {
  Driver d(nts());
  begin_nts(d, 8);
  EXPECT_TRUE(d.core.has_keys());
  EXPECT_EQ(d.core.cookies(), 8u);
  EXPECT_EQ(d.core.aead(), 15);
  EXPECT_EQ(d.core.counters().ke_ok, 1u);
  const auto& sent = d.send();
  EXPECT_EQ(sent.address.to_string(), "192.0.2.50:123");
  EXPECT_TRUE(d.request->uses_nts());
  EXPECT_EQ(d.core.cookies(), 7u);
}

TEST(SourceCore, AnEmptyCookieJarStartsAnNtsKe) {
  Driver d(nts());
  begin_nts(d, 3);
  d.poll(timeout());
  d.poll_next(timeout());
  d.poll_next(timeout());
  EXPECT_EQ(d.core.cookies(), 0u);
  d.fire();
  EXPECT_TRUE(d.wants_ke());
  EXPECT_EQ(find<source_action::SendRequest>(d.last), nullptr);
  EXPECT_FALSE(d.core.has_keys());  // no NAK: the old session is not held
}

TEST(SourceCore, OneNakPollsOnWithTheCookiesHeld) {
  Driver d(nts());
  begin_nts(d, 8);
  d.poll(error(ResponseProblem::kNtsNak));
  EXPECT_EQ(d.core.counters().naks, 1u);
  EXPECT_FALSE(d.wants_ke());
  EXPECT_GT(d.timer_in(), 50.0);
  d.fire();
  EXPECT_NE(find<source_action::SendRequest>(d.last), nullptr);
  EXPECT_EQ(d.core.cookies(), 7u);
}

TEST(SourceCore, AValidAnswerBetweenNaksKeepsTheKeys) {
  Driver d(nts());
  begin_nts(d, 8);
  d.poll(error(ResponseProblem::kNtsNak));
  d.poll_next(answer());
  d.poll_next(error(ResponseProblem::kNtsNak));
  EXPECT_FALSE(d.wants_ke());
  EXPECT_EQ(d.core.counters().naks, 2u);
}

TEST(SourceCore, ASecondNakInARowStartsAnNtsKeHoldingTheSession) {
  Driver d(nts());
  begin_nts(d, 8);
  d.poll(error(ResponseProblem::kNtsNak));
  d.poll_next(error(ResponseProblem::kNtsNak));
  EXPECT_TRUE(d.wants_ke());
  EXPECT_TRUE(d.core.has_keys());  // held until the NTS-KE succeeds
  EXPECT_EQ(d.core.cookies(), 6u);
  // It succeeds: the new keys.
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, ke_result(5)));
  d.resolve({at("192.0.2.50", 123)});
  EXPECT_EQ(d.core.cookies(), 5u);
  EXPECT_EQ(d.core.counters().ke_ok, 2u);
  EXPECT_NE(find<source_action::SendRequest>(d.last), nullptr);
}

TEST(SourceCore, AFailedNtsKeAfterNaksFallsBackToTheHeldCookies) {
  Driver d(nts());
  begin_nts(d, 8);
  d.poll(error(ResponseProblem::kNtsNak));
  d.poll_next(error(ResponseProblem::kNtsNak));
  ASSERT_TRUE(d.wants_ke());
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, fail("handshake failed")));
  EXPECT_EQ(d.core.counters().ke_failed, 1u);
  EXPECT_GT(d.timer_in(), 50.0);  // the next poll, not a backoff
  d.fire();
  ASSERT_NE(find<source_action::SendRequest>(d.last), nullptr);
  d.send();
  EXPECT_EQ(d.core.cookies(), 5u);
}

TEST(SourceCore, NaksStartAnNtsKeAtMostOnceAMinute) {
  Driver d(nts(4));  // 16 s polls
  begin_nts(d, 8);
  d.poll(error(ResponseProblem::kNtsNak));
  d.poll_next(error(ResponseProblem::kNtsNak));
  ASSERT_TRUE(d.wants_ke());
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, ke_result(8)));
  d.resolve({at("192.0.2.50", 123)});
  const Time rekeyed = d.now;
  d.poll(error(ResponseProblem::kNtsNak));
  d.poll_next(error(ResponseProblem::kNtsNak));
  ASSERT_LT(d.now - rekeyed, SourceCore::kNakKeInterval);
  EXPECT_FALSE(d.wants_ke());
  while (d.now - rekeyed < SourceCore::kNakKeInterval) d.poll_next(error(ResponseProblem::kNtsNak));
  EXPECT_TRUE(d.wants_ke());
}

TEST(SourceCore, AFailedNtsKeWithoutHeldKeysBacksOff) {
  Driver d(nts());
  *d.byte = 0;
  d.start();
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, fail("refused")));
  EXPECT_NEAR(d.timer_in(), 1.6, 1e-6);
  d.fire();
  EXPECT_TRUE(d.wants_ke());
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, fail("refused")));
  EXPECT_NEAR(d.timer_in(), 3.2, 1e-6);
  EXPECT_EQ(d.core.counters().ke_failed, 2u);
}

TEST(SourceCore, KeysWhoseNtpServerDoesNotResolveAreDropped) {
  Driver d(nts());
  d.start();
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, ke_result(8, "ntp.example")));
  d.resolve_fails();
  EXPECT_FALSE(d.core.has_keys());
  EXPECT_EQ(d.core.counters().ke_failed, 1u);
  EXPECT_EQ(d.core.counters().ke_ok, 0u);
  EXPECT_TRUE(d.timer);
}

TEST(SourceCore, SavedNtsStateIsUsedInsteadOfAnNtsKe) {
  Driver d(nts());
  d.core.restore_nts(ke_result(4));
  d.start();
  ASSERT_FALSE(d.wants_ke());
  d.resolve({at("192.0.2.50", 123)});
  d.poll(answer());
  EXPECT_EQ(d.core.counters().ke_ok, 0u);
  // Confirmed: a later timeout is only a timeout.
  d.poll_next(timeout());
  EXPECT_GT(d.timer_in(), 50.0);
  EXPECT_EQ(d.core.cookies(), 2u);
  const std::optional<KeClientResult> saved = d.core.nts_state();
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->cookies.size(), 2u);
  EXPECT_EQ(saved->ntp_server, "192.0.2.50");
}

TEST(SourceCore, SavedNtsStateWithoutAnAnswerGivesWayToAnNtsKe) {
  Driver d(nts());
  d.core.restore_nts(ke_result(4));
  d.start();
  d.resolve({at("192.0.2.50", 123)});
  d.poll(timeout());
  EXPECT_EQ(d.core.cookies(), 0u);  // the rest of the stale jar is not spent
  EXPECT_DOUBLE_EQ(d.timer_in(), 0.0);
  d.fire();
  EXPECT_TRUE(d.wants_ke());
}

TEST(SourceCore, SavedNtsStateIsUsedOnlyOnce) {
  Driver d(nts());
  d.core.restore_nts(ke_result(4));
  d.start();
  d.resolve({at("192.0.2.50", 123)});
  d.poll(timeout());
  d.fire();
  ASSERT_TRUE(d.wants_ke());
  d.resolve({at("192.0.2.40", 4460)});
  d.take(d.core.ke_finished(d.now, fail("refused")));
  d.fire();  // the retry starts over: an NTS-KE again, not the saved state
  EXPECT_TRUE(d.wants_ke());
}

TEST(SourceCore, SavedNtsStateWhoseServerDoesNotResolveGivesWayToAnNtsKe) {
  Driver d(nts());
  d.core.restore_nts(ke_result(4, "ntp.example"));
  d.start();
  d.resolve_fails();
  EXPECT_TRUE(d.wants_ke());
  EXPECT_FALSE(d.core.has_keys());
}

// --- Addresses ---

TEST(SourceCore, AnAddressIsGivenUpAfterFourUnansweredPollsWhenThereIsAnother) {
  Driver d(plain(6));
  d.start();
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  d.resolve(two);
  for (int i = 0; i < AddressChoice::kGiveUpAfter - 1; ++i) {
    EXPECT_EQ(d.send().address.to_string(), "192.0.2.1:123");
    d.finish(timeout());
    EXPECT_GT(d.timer_in(), 50.0);
    d.fire();
  }
  d.poll(timeout());
  EXPECT_DOUBLE_EQ(d.timer_in(), 0.0);  // at once
  d.fire();
  ASSERT_NE(find<source_action::Resolve>(d.last), nullptr);
  d.resolve(two);
  EXPECT_EQ(d.send().address.to_string(), "192.0.2.2:123");
}

TEST(SourceCore, ALoneAddressIsKeptHoweverManyPollsGoUnanswered) {
  Driver d(plain(6));
  begin_plain(d);
  for (int i = 0; i < 3 * AddressChoice::kGiveUpAfter; ++i) {
    d.poll(timeout());
    EXPECT_GT(d.timer_in(), 50.0);
    d.fire();
    EXPECT_EQ(find<source_action::Resolve>(d.last), nullptr);
  }
  EXPECT_EQ(d.send().address.to_string(), "192.0.2.1:123");
}

TEST(SourceCore, APoolMemberLeftOutBySelectionTakesAnotherAddress) {
  SourceConfig config = plain(6);
  config.pool_member = 1;
  Driver d(config, std::make_shared<AddressClaims>());
  d.feedback = PollFeedback{.selected = false};
  d.start();
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  d.resolve(two);
  for (int i = 0; i < AddressChoice::kFalsetickerAfter - 1; ++i) {
    d.poll(answer());
    d.fire();
  }
  d.poll(answer());
  EXPECT_DOUBLE_EQ(d.timer_in(), 0.0);
  d.fire();
  d.resolve(two);
  EXPECT_EQ(d.send().address.to_string(), "192.0.2.2:123");
}

TEST(SourceCore, TheNtsKeServersAddressIsGivenUpAfterFourFailedNtsKes) {
  Driver d(nts());
  const std::vector<SocketAddress> two{at("192.0.2.40", 4460), at("192.0.2.41", 4460)};
  d.start();
  for (int i = 0; i < AddressChoice::kGiveUpAfter; ++i) {
    d.resolve(two);
    EXPECT_EQ(find<source_action::StartKe>(d.last)->address.to_string(), "192.0.2.40:4460");
    d.take(d.core.ke_finished(d.now, fail("refused")));
    d.fire();
  }
  d.resolve(two);
  EXPECT_EQ(find<source_action::StartKe>(d.last)->address.to_string(), "192.0.2.41:4460");
}

// --- Interleaved mode ---

SourceConfig xleave() {
  SourceConfig config = plain(6);
  config.xleave = true;
  return config;
}

TEST(SourceCore, InterleavedRequestsNameTheLastValidExchange) {
  Driver d(xleave());
  begin_plain(d);
  EXPECT_TRUE(d.send().keep_socket);
  EXPECT_FALSE(d.request->asks_interleaved());  // nothing to name yet
  d.finish(answer());
  d.fire();
  d.send();
  ASSERT_TRUE(d.request->asks_interleaved());
  EXPECT_EQ(d.request->previous()->t1.tv_nsec, 100);
  EXPECT_FALSE(d.sent->late_tx);  // its transmit stamp came in time
  d.finish(interleaved_answer());
  EXPECT_EQ(d.core.counters().interleaved, 1u);
  EXPECT_EQ(d.core.counters().samples, 2u);
}

// The interleaved sample is the previous exchange's, dated by the time since it on the
// monotonic axis: a step of the clock in between (here 100 s in the stamps' difference) must not
// date it 100 s off.
TEST(SourceCore, AnInterleavedSampleIsDatedOnTheMonotonicAxis) {
  Driver d(xleave());
  begin_plain(d);
  d.send();
  d.finish(answer());
  const Time previous = d.now;  // when the first exchange finished
  d.fire();
  d.send();
  NtpExchangeOutcome stepped = interleaved_answer();
  stepped->sample.age = 164.0;  // what the stamps say across a 100 s step
  d.finish(std::move(stepped));
  ASSERT_EQ(d.delivered.size(), 2u);
  EXPECT_NEAR(d.delivered[1].sample.age, std::chrono::duration<double>(d.now - previous).count(), 1e-9);
  EXPECT_NEAR(d.delivered[1].sample.age, 64.0, 7.0);  // one poll (64 s, randomised)
}

// Somebody set the clock: a source waiting for its next poll polls at once, in a burst.
TEST(SourceCore, AForeignStepMakesAWaitingSourcePollAtOnce) {
  SourceConfig config = plain(10, 10);
  config.iburst = true;
  Driver d(config);
  begin_plain(d);
  d.poll(answer());
  for (int i = 0; i < 3; ++i) d.poll_next(answer());  // the start's burst, then the 1024 s poll
  ASSERT_GT(d.timer_in(), 900.0);
  d.take(d.core.clock_stepped(d.now));
  EXPECT_EQ(d.timer_in(), 0.0);
  d.poll_next(answer());
  EXPECT_LE(d.timer_in(), 2.5);  // the burst's spacing, not the poll
  // In the middle of an exchange nothing changes: it ends as it would.
  d.fire();
  d.send();
  EXPECT_EQ(count<source_action::ArmTimer>(d.core.clock_stepped(d.now)), 0);
}

TEST(SourceCore, ALateTransmitStampImprovesTheNamedExchange) {
  Driver d(xleave());
  begin_plain(d);
  d.send();
  d.finish(answer(), ExchangeEnd{.request_id = 7, .have_tx_stamp = false});
  d.fire();
  const auto* send = find<source_action::SendRequest>(d.last);
  ASSERT_TRUE(send && send->late_tx);
  EXPECT_EQ(send->late_tx->request_id, 7u);
  EXPECT_EQ(send->late_tx->phc_ifindex, 0);
  TxStamps late;
  late.software = timespec{1'800'000'000, 50};
  late.hardware = timespec{1'800'000'000, 60};  // another clock's: not this exchange's
  d.send(late);
  ASSERT_TRUE(d.request->asks_interleaved());
  EXPECT_EQ(d.request->previous()->t1.tv_nsec, 50);
  d.finish(interleaved_answer());
  // Used once: the next request names the new exchange, with its own stamp.
  d.fire();
  EXPECT_FALSE(find<source_action::SendRequest>(d.last)->late_tx);
}

TEST(SourceCore, AHardwareExchangeTakesOnlyTheCorrectedHardwareStamp) {
  Driver d(xleave());
  begin_plain(d);
  d.send();
  d.finish(interleaved_answer(3), ExchangeEnd{.request_id = 9, .have_tx_stamp = false});
  d.fire();
  EXPECT_EQ(find<source_action::SendRequest>(d.last)->late_tx->phc_ifindex, 3);
  TxStamps late;
  late.software = timespec{1'800'000'000, 50};
  late.hardware = timespec{1'800'000'000, 60};
  d.send(late, 1e-6);
  EXPECT_EQ(d.request->previous()->t1.tv_nsec, 1060);
  // Without the NIC's correction the daemon stamp stays.
  Driver e(xleave());
  begin_plain(e);
  e.send();
  e.finish(interleaved_answer(3), ExchangeEnd{.request_id = 9, .have_tx_stamp = false});
  e.fire();
  e.send(late);
  EXPECT_EQ(e.request->previous()->t1.tv_nsec, 100);
}

TEST(SourceCore, AfterFourUnansweredRequestsTheClientStartsOverInBasicMode) {
  Driver d(xleave());
  begin_plain(d);
  d.poll(answer());
  for (int i = 0; i < kMaxInterleavedGap; ++i) {
    d.fire();
    d.send();
    EXPECT_TRUE(d.request->asks_interleaved()) << i;
    d.finish(timeout());
  }
  d.fire();
  d.send();
  EXPECT_FALSE(d.request->asks_interleaved());
}

TEST(SourceCore, TheKeptSocketIsClosedAfterAnErrorButNotAfterATimeout) {
  Driver d(xleave());
  begin_plain(d);
  d.poll(answer());
  EXPECT_EQ(count<source_action::CloseSocket>(d.last), 0);
  d.poll_next(timeout());
  EXPECT_EQ(count<source_action::CloseSocket>(d.last), 0);
  d.poll_next(error(ResponseProblem::kUnsynchronized));
  EXPECT_EQ(count<source_action::CloseSocket>(d.last), 1);
}

TEST(SourceCore, ANakForgetsTheInterleavedState) {
  SourceConfig config = nts();
  config.xleave = true;
  Driver d(config);
  begin_nts(d, 8);
  d.poll(answer());
  // A NAK does not end the exchange: the timeout reports it when nothing valid followed.
  d.poll_next(error(ResponseProblem::kNtsNak), ExchangeEnd{.timed_out = true});
  EXPECT_EQ(count<source_action::CloseSocket>(d.last), 1);
  d.fire();
  d.send();
  EXPECT_FALSE(d.request->asks_interleaved());
}

TEST(SourceCore, ANewServerForgetsTheInterleavedState) {
  SourceConfig config = xleave();
  Driver d(config);
  d.start();
  const std::vector<SocketAddress> two{at("192.0.2.1", 123), at("192.0.2.2", 123)};
  d.resolve(two);
  d.poll(answer());
  for (int i = 0; i < AddressChoice::kGiveUpAfter; ++i) d.poll_next(timeout());
  EXPECT_EQ(count<source_action::CloseSocket>(d.last), 1);
  d.fire();
  d.resolve(two);
  d.send();
  EXPECT_FALSE(d.request->asks_interleaved());
}

// --- What the shell is told and shown ---

TEST(SourceCore, ASampleIsDeliveredWithItsLastSampleAndCounters) {
  Driver d(plain(6));
  begin_plain(d);
  d.poll(answer(0.25, 3));
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_DOUBLE_EQ(d.delivered[0].sample.offset.seconds(), 0.25);
  ASSERT_TRUE(d.core.last_sample());
  EXPECT_NEAR(d.core.last_sample()->offset, 0.25, 1e-9);
  EXPECT_EQ(d.core.last_sample()->stratum, 2);
  EXPECT_EQ(d.core.last_sample()->when, d.now);
  EXPECT_EQ(d.core.counters().samples, 1u);
  EXPECT_EQ(d.core.counters().rejected, 3u);
  EXPECT_EQ(d.core.counters().interleaved, 0u);
}

TEST(SourceCore, ARequestThatCannotBeSentIsRetriedWithBackoff) {
  Driver d(plain(6));
  *d.byte = 0;
  begin_plain(d);
  ASSERT_NE(find<source_action::SendRequest>(d.last), nullptr);
  d.take(d.core.request_failed(d.now, "no socket"));
  EXPECT_NEAR(d.timer_in(), 1.6, 1e-6);
  EXPECT_EQ(d.core.reach(), 0);
  d.fire();
  EXPECT_NE(find<source_action::Resolve>(d.last), nullptr);
}

TEST(SourceCore, ABadAddressIsReportedAndNothingIsDone) {
  SourceConfig config = plain();
  config.address = "[::1";
  Driver d(config);
  d.start();
  EXPECT_EQ(count<source_action::Log>(d.last), 1);
  EXPECT_EQ(d.last.size(), 1u);
}

}  // namespace
}  // namespace kairos
