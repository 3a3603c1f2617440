// ResponseCheck (daemon/ntp_query.hpp): what one exchange makes of each datagram from its server
// and of its deadline, the part of PendingNtpExchange that kairos-sim shares. Responses are built
// by the real responder.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "daemon/client/ntp_query.hpp"
#include "nts/cookie.hpp"
#include "nts/key_ring.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

constexpr std::uint64_t kNowUnix = 1'800'000'000;

RandomFill counting_random(std::uint8_t start) {
  auto next = std::make_shared<std::uint8_t>(start);
  return [next](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*next)++;
  };
}

timespec at(long ns) { return timespec{static_cast<time_t>(kNowUnix), ns}; }

struct Server {
  NtpResponder responder{[] { return NtpTimestamp::from_timespec(at(6'000'000)); }, counting_random(0x40)};
  Server() {
    ServerClockState state;
    state.leap = NtpLeap::kNone;
    state.stratum = 1;
    responder.set_clock_state(state);
  }
  Buffer answer(const NtpClientExchange& exchange, RateDecision rate = RateDecision::kAllow, KeyRing* ring = nullptr) {
    Buffer out(exchange.request().size());
    const Response r =
        responder.respond(exchange.request(), NtpTimestamp::from_timespec(at(5'000'000)), ClientAddress{}, rate, ring, out);
    out.resize(r.length);
    return out;
  }
};

NtsClientSession nts_session(KeyRing& ring) {
  Buffer c2s(32), s2c(32);
  for (std::size_t i = 0; i < 32; ++i) {
    c2s[i] = static_cast<std::uint8_t>(i);
    s2c[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  const NtsKeys keys = NtsKeys::create(15, c2s, s2c).value();
  std::vector<Buffer> jar;
  for (int i = 0; i < 2; ++i) {
    Buffer cookie(kCookieMaxLength);
    cookie.resize(seal_cookie(keys, ring.current(), cookie).value());
    jar.push_back(cookie);
  }
  return NtsClientSession::create(KeClientResult{keys, jar, "localhost", kNtpDefaultPort, false, false, ""}).value();
}

KeyRing ring(std::uint8_t seed) {
  Buffer bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(seed + 5 * i);
  return KeyRing::from_seed(Seed::create(bytes).value(), KeyRingConfig{}, kNowUnix).value();
}

TEST(ResponseCheck, AValidAnswerIsTheSample) {
  Server server;
  const auto exchange = NtpClientExchange::plain(counting_random(1));
  ResponseCheck check;
  auto outcome = check.on_response(exchange, server.answer(exchange), at(0), at(11'000'000), nullptr);
  ASSERT_TRUE(outcome);
  ASSERT_TRUE(*outcome) << outcome->error().message;
  EXPECT_EQ((*outcome)->header.stratum, 1);
  EXPECT_EQ(check.rejected(), 0u);
}

TEST(ResponseCheck, ForgeriesAreCountedAndTheWaitGoesOn) {
  Server server;
  const auto exchange = NtpClientExchange::plain(counting_random(1));
  const auto other = NtpClientExchange::plain(counting_random(100));
  ResponseCheck check;
  // An answer to another request (its origin timestamp is not ours): stale or forged.
  EXPECT_FALSE(check.on_response(exchange, server.answer(other), at(0), at(11'000'000), nullptr));
  EXPECT_FALSE(check.on_response(exchange, Buffer(10, 0), at(0), at(11'000'000), nullptr));
  EXPECT_EQ(check.rejected(), 2u);
  // The genuine answer after them is still taken.
  auto outcome = check.on_response(exchange, server.answer(exchange), at(0), at(11'000'000), nullptr);
  ASSERT_TRUE(outcome && *outcome);
  const NtpExchangeError timeout = check.timed_out("192.0.2.1:123", 500ms);
  EXPECT_FALSE(timeout.problem);
  EXPECT_EQ(timeout.rejected, 2u);
  EXPECT_NE(timeout.message.find("2 rejected"), std::string::npos) << timeout.message;
}

TEST(ResponseCheck, ARateKissEndsTheExchange) {
  Server server;
  const auto exchange = NtpClientExchange::plain(counting_random(1));
  ResponseCheck check;
  auto outcome = check.on_response(exchange, server.answer(exchange, RateDecision::kKiss), at(0), at(11'000'000), nullptr);
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(*outcome);
  EXPECT_EQ(outcome->error().problem, ResponseProblem::kRateLimited);
}

// RFC 8915 §5.7: a NAK is unauthenticated; it must not end the wait for a valid answer, and the
// deadline reports it so that the association counts it.
TEST(ResponseCheck, ANakIsHeldUntilTheDeadline) {
  Server server;
  KeyRing old_keys = ring(1);
  KeyRing new_keys = ring(2);
  NtsClientSession session = nts_session(old_keys);
  const auto exchange = NtpClientExchange::nts(session, counting_random(1)).value();
  ResponseCheck check;
  EXPECT_FALSE(check.on_response(exchange, server.answer(exchange, RateDecision::kAllow, &new_keys), at(0),
                                 at(11'000'000), &session));
  EXPECT_EQ(check.rejected(), 0u) << "a NAK is not a forgery";
  const NtpExchangeError timeout = check.timed_out("192.0.2.1:123", 500ms);
  ASSERT_TRUE(timeout.problem);
  EXPECT_EQ(*timeout.problem, ResponseProblem::kNtsNak);

  // With the keys the cookie was sealed with, the answer is the sample, NAK or not before it.
  ResponseCheck again;
  auto outcome = again.on_response(exchange, server.answer(exchange, RateDecision::kAllow, &old_keys), at(0),
                                   at(11'000'000), &session);
  ASSERT_TRUE(outcome);
  ASSERT_TRUE(*outcome) << outcome->error().message;
  EXPECT_TRUE((*outcome)->authenticated);
}

}  // namespace
}  // namespace kairos
