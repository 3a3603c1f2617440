// The load generator counts only real answers: NTS answers checked with the S2C key, duplicates
// and strangers not counted, NAKs apart; and over loopback it sends what it was asked to send.
// Its junk is junk to kairos's own responder, answers to junk are never served, every socket and
// exchange comes from the source address it was given, and held connections report how long the
// server let them live.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "daemon/client/net.hpp"
#include "hold_load.hpp"
#include "junk.hpp"
#include "ke_load.hpp"
#include "ntp_load.hpp"
#include "ntpperf_key.hpp"
#include "nts/nts_packet.hpp"
#include "nts/ntp_responder.hpp"
#include "request_set.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

// Tests own 16990–16999 (the benchmark script uses 16100–16899); one port per test, since ctest
// runs them in parallel. Newer tests bind port 0 and ask the kernel which port it gave.
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
  NtpLoadOptions options;
  options.server = addresses->front();
  options.rate = rate;
  options.duration = duration;
  options.sockets = 8;
  options.batch = 16;
  options.drain = std::chrono::milliseconds(200);
  return options;
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

// --- Junk -------------------------------------------------------------------------------------

TEST(Junk, KindsLookAsNamed) {
  const RandomFill random = system_random();
  for (int round = 0; round < 50; ++round) {
    EXPECT_LT(make_junk(JunkKind::kTooShort, random).size(), kNtpHeaderLength);
    const auto version = make_junk(JunkKind::kBadVersion, random);
    ASSERT_EQ(version.size(), kNtpHeaderLength);
    const unsigned v = (version[0] >> 3) & 7;
    EXPECT_TRUE(v == 0 || v > 4) << v;
    EXPECT_EQ(version[0] & 7, 3);
    const auto mode = make_junk(JunkKind::kBadMode, random);
    EXPECT_NE(mode[0] & 7, 3);
    EXPECT_EQ(make_junk(JunkKind::kOversize, random).size(), kJunkMaxLength);
    EXPECT_GT(make_junk(JunkKind::kBogusExtension, random).size(), kNtpHeaderLength);
    EXPECT_GT(make_junk(JunkKind::kOverlongExtension, random).size(), kNtpHeaderLength);
    const auto noise = make_junk(JunkKind::kRandom, random);
    EXPECT_GE(noise.size(), 1u);
    EXPECT_LE(noise.size(), kJunkMaxLength);
    EXPECT_NE(noise[0] & 7, 3);
  }
}

// The junk is junk to kairos's own server: not one datagram of any kind gets an answer.
TEST(Junk, KairosResponderAnswersNoneOfIt) {
  JunkSet junk(kJunkKindCount * 200, system_random());
  NtpResponder responder([] { return NtpTimestamp::from_parts(0xe9000000, 5); }, system_random());
  std::vector<std::uint8_t> out(2048);
  for (std::size_t i = 0; i < junk.size(); ++i) {
    const Response r = responder.respond(junk.datagram(i), NtpTimestamp::from_parts(0xe9000000, 4), ClientAddress{},
                                         RateDecision::kAllow, nullptr, out);
    EXPECT_EQ(r.length, 0u) << to_string(static_cast<JunkKind>(i % kJunkKindCount)) << " #" << i
                            << " answered as kind " << static_cast<int>(r.kind);
  }
  EXPECT_EQ(responder.counters().dropped_total(), junk.size());
  // A real request is answered by the same responder: the junk is what fails, not the setup.
  auto requests = RequestSet::plain(1, counting_random());
  EXPECT_GT(responder.respond(requests.request(0), NtpTimestamp::from_parts(0xe9000000, 4), ClientAddress{}, RateDecision::kAllow,
                              nullptr, out).length, 0u);
}

// A loopback UDP server on an ephemeral port that answers every datagram, junk too, with a
// server header echoing octets 40–47 (a request's transmit timestamp) as the origin, and
// remembers which addresses datagrams came from.
class AnswerEverything {
 public:
  AnswerEverything() {
    auto fd = open_socket(AF_INET, SOCK_DGRAM);
    EXPECT_TRUE(fd);
    fd_ = std::move(*fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int buffer = 4 << 20;
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    socklen_t length = sizeof addr;
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~AnswerEverything() {
    stop_ = true;
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::uint64_t received() const { return received_; }
  std::set<std::uint32_t> sources() const {
    std::lock_guard lock(mutex_);
    return sources_;
  }

 private:
  void serve() {
    std::uint8_t buf[2048];
    while (!stop_) {
      pollfd p{.fd = fd_.get(), .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 20) <= 0) continue;
      for (;;) {
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        ++received_;
        {
          std::lock_guard lock(mutex_);
          sources_.insert(ntohl(from.sin_addr.s_addr));
        }
        NtpHeader h;
        h.mode = NtpMode::kServer;
        h.stratum = 1;
        if (n >= static_cast<ssize_t>(kNtpHeaderLength)) {
          ByteReader in(ByteView(buf + 40, 8));
          h.origin_time = NtpTimestamp::from_raw(*in.u64());
        }
        Buffer answer(kNtpHeaderLength);
        ByteWriter w(answer);
        write_ntp_header(w, h);
        sendto(fd_.get(), answer.data(), answer.size(), 0, reinterpret_cast<const sockaddr*>(&from), from_len);
      }
    }
  }

  UniqueFd fd_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
  mutable std::mutex mutex_;
  std::set<std::uint32_t> sources_;
  std::thread thread_;
};

SocketAddress address_of(const char* ip, std::uint16_t port, int socktype) {
  auto resolved = resolve(ip, port, socktype);
  EXPECT_TRUE(resolved) << ip;
  return resolved->front();
}

TEST(NtpLoad, AnswersToJunkAreCountedApartAndNeverServed) {
  AnswerEverything server;
  auto set = RequestSet::plain(256, counting_random());
  JunkSet junk(kJunkKindCount * 8, counting_random());
  NtpLoadOptions options = loopback_options(server.port(), 2000, 0.5);
  options.junk = 0.25;
  auto report = run_ntp_load(options, set, &junk);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->junk_sent, 250u);
  EXPECT_EQ(report->sent, 750u);
  EXPECT_EQ(server.received(), 1000u);
  // Every junk datagram was answered, and each such answer is counted as that, nothing else.
  EXPECT_EQ(report->answered_junk, 250u);
  EXPECT_EQ(report->received, 750u);
  EXPECT_EQ(report->served(), 750u);
  EXPECT_EQ(report->count(Verdict::kUnmatched), 0u);
}

TEST(NtpLoad, JunkFractionNeedsJunk) {
  auto set = RequestSet::plain(4, counting_random());
  NtpLoadOptions options = loopback_options(kSilentPort, 100, 0.1);
  options.junk = 0.5;
  EXPECT_FALSE(run_ntp_load(options, set));
  options.junk = 1.5;
  JunkSet junk(kJunkKindCount, counting_random());
  EXPECT_FALSE(run_ntp_load(options, set, &junk));
}

TEST(NtpLoad, SocketsComeFromTheBoundAddresses) {
  AnswerEverything server;
  auto set = RequestSet::plain(64, counting_random());
  JunkSet junk(kJunkKindCount, counting_random());
  NtpLoadOptions options = loopback_options(server.port(), 1000, 0.2);
  options.bind = {address_of("127.0.0.2", 0, SOCK_DGRAM), address_of("127.0.0.3", 0, SOCK_DGRAM)};
  options.junk = 0.1;
  auto report = run_ntp_load(options, set, &junk);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->served(), report->sent);
  EXPECT_EQ(server.sources(), (std::set<std::uint32_t>{0x7f000002u, 0x7f000003u}));
}

// --- TCP: NTS-KE exchanges and held connections ------------------------------------------------

// A loopback TCP server on an ephemeral port: accepts everything, reads and counts what arrives,
// remembers where connections came from, and closes each one `close_after` after accepting it
// (never without). A client closing first is closed at once.
class TcpTestServer {
 public:
  explicit TcpTestServer(std::optional<std::chrono::milliseconds> close_after) : close_after_(close_after) {
    auto fd = open_socket(AF_INET, SOCK_STREAM);
    EXPECT_TRUE(fd);
    listener_ = std::move(*fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    socklen_t length = sizeof addr;
    getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(listener_.get(), 256), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TcpTestServer() {
    stop_ = true;
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t bytes() const { return bytes_; }
  std::vector<std::uint8_t> first_bytes() const {
    std::lock_guard lock(mutex_);
    return first_bytes_;
  }
  std::set<std::uint32_t> peers() const {
    std::lock_guard lock(mutex_);
    return peers_;
  }

 private:
  struct Connection {
    UniqueFd fd;
    std::chrono::steady_clock::time_point accepted;
    bool first = false;  // the first connection: its bytes are kept
  };

  void serve() {
    std::vector<Connection> connections;
    while (!stop_) {
      std::vector<pollfd> fds{{.fd = listener_.get(), .events = POLLIN, .revents = 0}};
      for (const auto& c : connections) fds.push_back({.fd = c.fd.get(), .events = POLLIN, .revents = 0});
      poll(fds.data(), fds.size(), 5);
      for (;;) {
        sockaddr_in from{};
        socklen_t length = sizeof from;
        const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&from), &length, SOCK_NONBLOCK);
        if (fd < 0) break;
        std::lock_guard lock(mutex_);
        peers_.insert(ntohl(from.sin_addr.s_addr));
        connections.push_back({UniqueFd(fd), std::chrono::steady_clock::now(), accepted_++ == 0});
      }
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(connections, [&](Connection& c) { return !read_from(c) || (close_after_ && now - c.accepted >= *close_after_); });
    }
  }

  // Reads what is there; false once the client has closed.
  bool read_from(Connection& c) {
    std::uint8_t buf[4096];
    for (;;) {
      const ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        bytes_ += static_cast<std::uint64_t>(n);
        if (c.first) {
          std::lock_guard lock(mutex_);
          first_bytes_.insert(first_bytes_.end(), buf, buf + n);
        }
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  std::optional<std::chrono::milliseconds> close_after_;
  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> bytes_{0};
  mutable std::mutex mutex_;
  std::set<std::uint32_t> peers_;
  std::vector<std::uint8_t> first_bytes_;
  std::thread thread_;
};

TEST(KeLoad, ExchangesComeFromTheBoundAddressesInTurn) {
  TcpTestServer server(std::chrono::milliseconds(0));  // closes at once: every exchange fails fast
  KeLoadOptions options{.fetch = {.host = "127.0.0.1", .port = server.port(), .ca_file = std::nullopt,
                                  .system_trust = false, .aeads = {15}, .timeout = std::chrono::milliseconds(1000)},
                        .concurrency = 2, .duration = 0.3,
                        .bind = {address_of("127.0.0.4", 0, SOCK_STREAM), address_of("127.0.0.5", 0, SOCK_STREAM)}};
  auto report = run_ke_load(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->completed, 0u);
  EXPECT_GT(report->failed, 1u);
  EXPECT_EQ(server.peers(), (std::set<std::uint32_t>{0x7f000004u, 0x7f000005u}));
}

HoldOptions hold_options(std::uint16_t port, std::size_t connections, double rate, double duration) {
  return {.server = address_of("127.0.0.1", port, SOCK_STREAM), .bind = {}, .connections = connections,
          .rate = rate, .duration = duration, .trickle = 0, .garbage = 0};
}

TEST(Hold, ServerClosingAfterAFifthOfASecondIsSeenClosingThen) {
  TcpTestServer server(std::chrono::milliseconds(200));
  HoldOptions options = hold_options(server.port(), 20, 200, 5);
  options.bind = {address_of("127.0.0.2", 0, SOCK_STREAM), address_of("127.0.0.3", 0, SOCK_STREAM)};
  auto report = run_hold(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->attempted, 20u);
  EXPECT_EQ(report->opened, 20u);
  EXPECT_EQ(report->connect_failed, 0u);
  EXPECT_EQ(report->closed_by_server, 20u);
  EXPECT_EQ(report->still_open, 0u);
  EXPECT_GT(report->median_lifetime, 0.18);
  EXPECT_LT(report->median_lifetime, 0.4);
  EXPECT_GE(report->longest_lifetime, report->median_lifetime);
  EXPECT_LT(report->longest_lifetime, 0.6);
  // Opened over 0.1 s, closed 0.2 s later: the run ends then, not at its 5 s bound.
  EXPECT_LT(report->wall_seconds, 2.0);
  EXPECT_EQ(server.peers(), (std::set<std::uint32_t>{0x7f000002u, 0x7f000003u}));
}

TEST(Hold, TrickledConnectionsToASilentServerStayOpenToTheEnd) {
  TcpTestServer server(std::nullopt);
  HoldOptions options = hold_options(server.port(), 10, 1000, 0.55);
  options.trickle = 0.1;
  auto report = run_hold(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->opened, 10u);
  EXPECT_EQ(report->closed_by_server, 0u);
  EXPECT_EQ(report->still_open, 10u);
  EXPECT_EQ(report->peak_open, 10u);
  EXPECT_GE(report->wall_seconds, 0.55);
  // One byte at once and then every 0.1 s: about six each, never a burst.
  EXPECT_GE(report->bytes_sent, 10u * 5);
  EXPECT_LE(report->bytes_sent, 10u * 7);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(server.bytes(), report->bytes_sent);
  // The trickle is the start of a TLS handshake record, so a TLS server waits for the rest.
  const auto first = server.first_bytes();
  ASSERT_GE(first.size(), 3u);
  EXPECT_EQ(first[0], 0x16);
  EXPECT_EQ(first[1], 0x03);
}

TEST(Hold, GarbageIsSentOnceOnEveryConnection) {
  TcpTestServer server(std::chrono::milliseconds(200));
  HoldOptions options = hold_options(server.port(), 5, 100, 3);
  options.garbage = 300;
  auto report = run_hold(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->bytes_sent, 5u * 300);
  EXPECT_EQ(server.bytes(), 5u * 300);
  EXPECT_EQ(report->closed_by_server, 5u);
}

TEST(Hold, RefusedConnectionsAreConnectFailures) {
  HoldOptions options = hold_options(9, 5, 100, 2);
  {
    // Nothing listens on a port of a socket bound and closed again.
    auto fd = open_socket(AF_INET, SOCK_STREAM);
    ASSERT_TRUE(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    socklen_t length = sizeof addr;
    getsockname(fd->get(), reinterpret_cast<sockaddr*>(&addr), &length);
    options.server = address_of("127.0.0.1", ntohs(addr.sin_port), SOCK_STREAM);
  }
  auto report = run_hold(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->attempted, 5u);
  EXPECT_EQ(report->opened, 0u);
  EXPECT_EQ(report->connect_failed, 5u);
  EXPECT_EQ(report->closed_by_server, 0u);
}

TEST(Hold, TrickleAndGarbageExcludeEachOther) {
  HoldOptions options = hold_options(9, 1, 1, 1);
  options.trickle = 1;
  options.garbage = 1;
  EXPECT_FALSE(run_hold(options));
}

// ntpperf seals with what -S gives it: the C2S key (not S2C) and the first cookie, in hex.
TEST(NtpperfKey, IsC2sKeyAndFirstCookieInHex) {
  const KeClientResult ke = ke_result(0x1a, 2);  // C2S 0x1a…, S2C 0x1b…, cookies 0x40…, 0x41…
  std::string expected;
  for (int i = 0; i < 32; ++i) expected += "1A";
  expected += ",";
  for (int i = 0; i < 64; ++i) expected += "40";
  EXPECT_EQ(ntpperf_nts_argument(ke), expected);
}

TEST(NtpperfKey, EmptyWithoutCookie) { EXPECT_EQ(ntpperf_nts_argument(ke_result(0x11, 0)), ""); }

}  // namespace
}  // namespace kairos
