// The load generator counts only real answers: NTS answers checked with the S2C key, duplicates
// and strangers not counted, NAKs apart; and over loopback it sends what it was asked to send.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <atomic>
#include <thread>
#include <vector>

#include "daemon/net.hpp"
#include "ntp_load.hpp"
#include "nts/nts_packet.hpp"
#include "request_set.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

// Tests own 16990–16999 (the benchmark script uses 16100–16899); one port per test, since ctest
// runs them in parallel.
constexpr std::uint16_t kAllAnsweredPort = 16990;
constexpr std::uint16_t kHalfAnsweredPort = 16991;
constexpr std::uint16_t kDuplicatedPort = 16992;
constexpr std::uint16_t kSilentPort = 16993;
constexpr std::uint16_t kNoGsoPort = 16994;

RandomFill counting_random() {
  auto state = std::make_shared<std::uint8_t>(1);
  return [state](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*state)++;
  };
}

Buffer fill(std::size_t n, std::uint8_t value) { return Buffer(n, value); }

// A server header answering `request` (RFC 5905 §8: origin = the request's transmit time).
NtpHeader answer_header(ByteView request) {
  auto req = parse_ntp_header(request);
  EXPECT_TRUE(req);
  NtpHeader h;
  h.mode = NtpMode::kServer;
  h.stratum = 1;
  h.reference_id = make_reference_id('L', 'O', 'C', 'L');
  h.origin_time = req->transmit_time;
  h.receive_time = NtpTimestamp::from_parts(0xe9000000, 1);
  h.transmit_time = NtpTimestamp::from_parts(0xe9000000, 2);
  return h;
}

Buffer plain_answer(ByteView request) {
  Buffer out(kNtpHeaderLength);
  ByteWriter w(out);
  write_ntp_header(w, answer_header(request));
  return out;
}

KeClientResult ke_result(std::uint8_t key_fill, std::size_t cookies) {
  const Buffer key = fill(32, key_fill);
  const Buffer other = fill(32, static_cast<std::uint8_t>(key_fill + 1));
  auto keys = NtsKeys::create(15, key, other);
  EXPECT_TRUE(keys);
  KeClientResult ke{.keys = *keys, .cookies = {}, .ntp_server = "127.0.0.1"};
  for (std::size_t i = 0; i < cookies; ++i) ke.cookies.push_back(fill(64, static_cast<std::uint8_t>(0x40 + i)));
  return ke;
}

// What an NTS server does with one of our requests: authenticate it with C2S, answer with S2C.
Buffer nts_answer(ByteView request, ByteView c2s_key, ByteView s2c_key) {
  auto view = parse_nts_request(request);
  EXPECT_TRUE(view) << view.error().message;
  auto c2s = Aead::create(AeadId::kAesSivCmac256, c2s_key);
  std::array<std::uint8_t, 256> plaintext{};
  auto fields = verify_nts_request(*view, *c2s, plaintext);
  EXPECT_TRUE(fields) << fields.error().message;
  auto s2c = Aead::create(AeadId::kAesSivCmac256, s2c_key);
  const Buffer cookie = fill(64, 0x77);
  const ByteView cookies[] = {cookie};
  const Buffer nonce = fill(16, 0x33);
  NtsResponseParts parts{.header = answer_header(request), .unique_id = view->unique_id, .cookies = cookies,
                         .nonce = nonce};
  Buffer out(request.size());
  auto built = build_nts_response(parts, *s2c, request.size(), out);
  EXPECT_TRUE(built) << built.error().message;
  out.resize(built->length);
  return out;
}

TEST(RequestSet, PlainAnswerToOurRequestIsServed) {
  auto set = RequestSet::plain(8, counting_random());
  const std::size_t i = set.next_to_send();
  EXPECT_EQ(set.classify(plain_answer(set.request(i))), Verdict::kServed);
}

TEST(RequestSet, SecondAnswerToOneSendIsNotCounted) {
  auto set = RequestSet::plain(8, counting_random());
  const std::size_t i = set.next_to_send();
  const Buffer answer = plain_answer(set.request(i));
  EXPECT_EQ(set.classify(answer), Verdict::kServed);
  EXPECT_EQ(set.classify(answer), Verdict::kUnmatched);
  // Sent again (round-robin came back to it): one more answer counts.
  for (std::size_t k = 1; k < set.size(); ++k) set.next_to_send();
  EXPECT_EQ(set.next_to_send(), i);
  EXPECT_EQ(set.classify(answer), Verdict::kServed);
}

TEST(RequestSet, AnswerToRequestNeverSentIsUnmatched) {
  auto set = RequestSet::plain(8, counting_random());
  const Buffer answer = plain_answer(set.request(3));  // request 3 was never handed out
  EXPECT_EQ(set.classify(answer), Verdict::kUnmatched);
}

TEST(RequestSet, AnswerFromAnotherRunIsUnmatched) {
  auto ours = RequestSet::plain(8, counting_random());
  auto theirs = RequestSet::plain(8, [](std::span<std::uint8_t> out) { std::fill(out.begin(), out.end(), 0x5a); });
  ours.next_to_send();
  theirs.next_to_send();
  EXPECT_EQ(ours.classify(plain_answer(theirs.request(0))), Verdict::kUnmatched);
}

TEST(RequestSet, RateKissIsNotServed) {
  auto set = RequestSet::plain(8, counting_random());
  const std::size_t i = set.next_to_send();
  NtpHeader h = answer_header(set.request(i));
  h.stratum = 0;
  h.reference_id = kKissRate;
  Buffer out(kNtpHeaderLength);
  ByteWriter w(out);
  write_ntp_header(w, h);
  EXPECT_EQ(set.classify(out), Verdict::kKiss);
}

TEST(RequestSet, ClientModeEchoIsMalformed) {
  auto set = RequestSet::plain(8, counting_random());
  const std::size_t i = set.next_to_send();
  const ByteView request = set.request(i);
  EXPECT_EQ(set.classify(request), Verdict::kMalformed);
  EXPECT_EQ(set.classify(request.first(20)), Verdict::kMalformed);
}

TEST(RequestSet, AuthenticatedNtsAnswerIsServed) {
  const KeClientResult ke = ke_result(0x11, 2);
  auto set = RequestSet::nts({&ke, 1}, 3, 1, counting_random());
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->size(), 6u);
  const std::size_t i = set->next_to_send();
  EXPECT_EQ(set->classify(nts_answer(set->request(i), ke.keys.c2s(), ke.keys.s2c())), Verdict::kServed);
  EXPECT_EQ(set->verified(), 1u);
}

TEST(RequestSet, NtsAnswerSealedWithWrongKeyFailsAuthentication) {
  const KeClientResult ke = ke_result(0x11, 1);
  auto set = RequestSet::nts({&ke, 1}, 1, 1, counting_random());
  ASSERT_TRUE(set);
  const std::size_t i = set->next_to_send();
  const Buffer forged_key = fill(32, 0xee);
  EXPECT_EQ(set->classify(nts_answer(set->request(i), ke.keys.c2s(), forged_key)), Verdict::kAuthFailed);
  // Not counted against the request: the real answer still counts.
  EXPECT_EQ(set->classify(nts_answer(set->request(i), ke.keys.c2s(), ke.keys.s2c())), Verdict::kServed);
}

TEST(RequestSet, PlainAnswerToNtsRequestIsNotServed) {
  const KeClientResult ke = ke_result(0x11, 1);
  auto set = RequestSet::nts({&ke, 1}, 1, 64, counting_random());
  ASSERT_TRUE(set);
  const std::size_t i = set->next_to_send();
  EXPECT_EQ(set->classify(plain_answer(set->request(i))), Verdict::kAuthFailed);
}

TEST(RequestSet, NtsNakIsCountedApart) {
  const KeClientResult ke = ke_result(0x11, 1);
  auto set = RequestSet::nts({&ke, 1}, 1, 1, counting_random());
  ASSERT_TRUE(set);
  const std::size_t i = set->next_to_send();
  auto view = parse_nts_request(set->request(i));
  ASSERT_TRUE(view);
  Buffer out(set->request(i).size());
  auto n = build_nts_nak(answer_header(set->request(i)), view->unique_id, out);
  ASSERT_TRUE(n);
  out.resize(*n);
  EXPECT_EQ(set->classify(out), Verdict::kNak);
}

TEST(RequestSet, EachSessionsRequestsUseTheirOwnKeys) {
  const std::vector<KeClientResult> sessions{ke_result(0x11, 1), ke_result(0x21, 1)};
  auto set = RequestSet::nts(sessions, 1, 1, counting_random());
  ASSERT_TRUE(set);
  const std::size_t first = set->next_to_send();
  const std::size_t second = set->next_to_send();
  EXPECT_EQ(set->classify(nts_answer(set->request(second), sessions[1].keys.c2s(), sessions[1].keys.s2c())),
            Verdict::kServed);
  EXPECT_EQ(set->classify(nts_answer(set->request(first), sessions[0].keys.c2s(), sessions[0].keys.s2c())),
            Verdict::kServed);
}

// A loopback plain-NTP responder on `port` answering every `every`-th request `copies` times.
class TestResponder {
 public:
  TestResponder(std::uint16_t port, unsigned every, unsigned copies) {
    auto fd = open_socket(AF_INET, SOCK_DGRAM);
    EXPECT_TRUE(fd);
    fd_ = std::move(*fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int buffer = 4 << 20;
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    thread_ = std::thread([this, every, copies] { serve(every, copies); });
  }
  ~TestResponder() {
    stop_ = true;
    thread_.join();
  }
  std::uint64_t received() const { return received_; }
  std::uint64_t not_48_octets() const { return odd_sizes_; }

 private:
  void serve(unsigned every, unsigned copies) {
    std::uint8_t buf[1500];
    while (!stop_) {
      pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 20) <= 0) continue;
      for (;;) {
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        if (n != static_cast<ssize_t>(kNtpHeaderLength)) ++odd_sizes_;
        if (++received_ % every != 0) continue;
        const Buffer answer = plain_answer({buf, static_cast<std::size_t>(n)});
        for (unsigned c = 0; c < copies; ++c) {
          sendto(fd_.get(), answer.data(), answer.size(), 0, reinterpret_cast<const sockaddr*>(&from), from_len);
        }
      }
    }
  }

  UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> odd_sizes_{0};
  std::thread thread_;
};

NtpLoadOptions loopback_options(std::uint16_t port, double rate, double duration) {
  auto addresses = resolve("127.0.0.1", port, SOCK_DGRAM);
  EXPECT_TRUE(addresses);
  return {.server = addresses->front(), .rate = rate, .duration = duration, .sockets = 8, .batch = 16,
          .drain = std::chrono::milliseconds(200)};
}

TEST(NtpLoad, SendsTheRequestedCountAtTheRequestedRateAndCountsEveryAnswer) {
  TestResponder responder(kAllAnsweredPort, 1, 1);
  auto set = RequestSet::plain(256, counting_random());
  NtpLoadOptions options = loopback_options(kAllAnsweredPort, 4000, 0.5);
  options.tick = std::chrono::milliseconds(2);  // batches of about 8: UDP GSO sends
  auto report = run_ntp_load(options, set);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->gso);
  EXPECT_EQ(report->planned, 2000u);
  EXPECT_EQ(report->sent, 2000u);
  // The batches left as UDP GSO sends, yet the server sees single 48-octet datagrams.
  EXPECT_EQ(responder.received(), 2000u);
  EXPECT_EQ(responder.not_48_octets(), 0u);
  EXPECT_EQ(report->served(), 2000u);
  EXPECT_EQ(report->loss_percent(), 0.0);
  // Paced, not blasted: the sends spread over the duration (generous bounds for a busy machine).
  EXPECT_GT(report->send_seconds, 0.45);
  EXPECT_LT(report->send_seconds, 1.5);
}

TEST(NtpLoad, WithoutGsoEveryDatagramArrivesAlike) {
  TestResponder responder(kNoGsoPort, 1, 1);
  auto set = RequestSet::plain(256, counting_random());
  NtpLoadOptions options = loopback_options(kNoGsoPort, 4000, 0.25);
  options.tick = std::chrono::milliseconds(2);
  options.gso = false;
  auto report = run_ntp_load(options, set);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->gso);
  EXPECT_EQ(responder.received(), 1000u);
  EXPECT_EQ(responder.not_48_octets(), 0u);
  EXPECT_EQ(report->served(), 1000u);
}

TEST(NtpLoad, UnansweredRequestsAreLoss) {
  TestResponder responder(kHalfAnsweredPort, 2, 1);
  auto set = RequestSet::plain(256, counting_random());
  auto report = run_ntp_load(loopback_options(kHalfAnsweredPort, 2000, 0.5), set);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->sent, 1000u);
  EXPECT_EQ(report->served(), 500u);
  EXPECT_DOUBLE_EQ(report->loss_percent(), 50.0);
}

TEST(NtpLoad, DuplicatedAnswersAreNotServedTwice) {
  TestResponder responder(kDuplicatedPort, 1, 2);
  auto set = RequestSet::plain(4096, counting_random());
  auto report = run_ntp_load(loopback_options(kDuplicatedPort, 2000, 0.5), set);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->served(), 1000u);
  EXPECT_EQ(report->count(Verdict::kUnmatched), 1000u);
  EXPECT_EQ(report->received, 2000u);
}

TEST(NtpLoad, SilentServerIsTotalLoss) {
  auto set = RequestSet::plain(16, counting_random());
  auto report = run_ntp_load(loopback_options(kSilentPort, 1000, 0.1), set);  // nobody listens on the port
  ASSERT_TRUE(report);
  EXPECT_EQ(report->served(), 0u);
  EXPECT_EQ(report->loss_percent(), 100.0);
}

}  // namespace
}  // namespace kairos
