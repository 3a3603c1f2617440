#include "nts/ntp_responder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "nts/cookie.hpp"
#include "nts/nts_packet.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

ClientAddress ipv4_client(std::uint8_t last) {
  const std::uint8_t address[4] = {192, 0, 2, last};
  return ClientAddress::ipv4(std::span<const std::uint8_t, 4>(address));
}
const ClientAddress kClientA = ipv4_client(1);
const ClientAddress kClientB = ipv4_client(2);

constexpr std::uint64_t kDay = 86400;
constexpr std::uint64_t kNowUnix = 19000 * kDay + 77;

timespec unix_time(std::int64_t seconds, long nanos) { return timespec{seconds, nanos}; }

// Client clock (t1, t4) and server clock (rx = T2, now = T3) of one exchange: the server is
// `offset_ms` ahead, the path takes 5 ms each way and the server holds the request 1 ms.
struct Times {
  timespec t1;
  timespec t4;
  NtpTimestamp rx;
  NtpTimestamp tx;
};
Times times_with_offset(std::int64_t offset_ms) {
  const std::int64_t base_ns = 500'000'000;
  const std::int64_t rx_ns = base_ns + 5'000'000 + offset_ms * 1'000'000;
  const std::int64_t tx_ns = rx_ns + 1'000'000;
  auto at = [](std::int64_t ns) {
    return unix_time(static_cast<std::int64_t>(kNowUnix) + ns / 1'000'000'000, static_cast<long>(ns % 1'000'000'000));
  };
  return {at(base_ns), at(base_ns + 11'000'000), NtpTimestamp::from_timespec(at(rx_ns)),
          NtpTimestamp::from_timespec(at(tx_ns))};
}

Seed seed_of(std::uint8_t first) {
  Buffer bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + 5 * i);
  return Seed::create(bytes).value();
}

KeyRing seeded_ring(std::uint8_t seed, std::uint64_t now = kNowUnix, std::uint32_t old_keys = 1) {
  return KeyRing::from_seed(seed_of(seed), KeyRingConfig{86400, old_keys}, now).value();
}

NtsKeys keys_for(std::uint16_t aead_id, std::uint8_t salt = 0) {
  const std::size_t n = aead_key_length(aead_id).value();
  Buffer c2s(n), s2c(n);
  for (std::size_t i = 0; i < n; ++i) {
    c2s[i] = static_cast<std::uint8_t>(salt + 3 * i);
    s2c[i] = static_cast<std::uint8_t>(0x80 + salt + 7 * i);
  }
  return NtsKeys::create(aead_id, c2s, s2c).value();
}

// A deterministic stand-in for a random source: distinct bytes on every call.
RandomFill counting_random(std::uint8_t start, std::shared_ptr<int> calls = nullptr) {
  auto next = std::make_shared<std::uint8_t>(start);
  return [next, calls](std::span<std::uint8_t> out) {
    if (calls) ++*calls;
    for (auto& b : out) b = (*next)++;
  };
}

// What an NTS-KE exchange gives the client.
KeClientResult ke_result(const NtsKeys& keys, std::vector<Buffer> cookies) {
  return KeClientResult{keys, std::move(cookies), "localhost", kNtpDefaultPort, false, false};
}

// An NTS client as kairos runs it: keys from NTS-KE and cookies the server sealed for them.
NtsClientSession client_session(const NtsKeys& keys, KeyRing& ring, std::size_t cookies) {
  std::vector<Buffer> jar;
  for (std::size_t i = 0; i < cookies; ++i) {
    Buffer cookie(kCookieMaxLength);
    cookie.resize(seal_cookie(keys, ring.current(), cookie).value());
    jar.push_back(cookie);
  }
  return NtsClientSession::create(ke_result(keys, jar)).value();
}

ServerClockState synced_clock() {
  ServerClockState state;
  state.leap = NtpLeap::kNone;
  state.stratum = 2;
  state.precision = -23;
  state.root_delay = NtpShort::from_raw(0x00000123);
  state.root_dispersion = NtpShort::from_raw(0x00000456);
  state.reference_id = make_reference_id('G', 'P', 'S', 0);
  state.reference_time = NtpTimestamp::from_parts(0xe9000000, 0x1000);
  return state;
}

// A server with a fake clock that returns `tx` and a counting random source.
struct Server {
  NtpTimestamp tx;
  std::shared_ptr<int> random_calls = std::make_shared<int>(0);
  NtpResponder responder{[this] { return tx; }, counting_random(0x40, random_calls)};

  explicit Server(NtpTimestamp transmit = times_with_offset(0).tx) : tx(transmit) {
    responder.set_clock_state(synced_clock());
  }
  Server(const Server&) = delete;
};

struct Answer {
  Response response;
  Buffer bytes;
};

Answer respond(Server& server, ByteView request, KeyRing* ring, RateDecision rate = RateDecision::kAllow,
               NtpTimestamp rx = times_with_offset(0).rx, const ClientAddress& client = kClientA) {
  Buffer out(request.size());
  Answer answer;
  answer.response = server.responder.respond(request, rx, client, rate, ring, out);
  out.resize(answer.response.length);
  answer.bytes = out;
  return answer;
}

Buffer plain_request(std::uint8_t random_start) {
  const auto exchange = NtpClientExchange::plain(counting_random(random_start));
  return Buffer(exchange.request().begin(), exchange.request().end());
}

// A lone placeholder makes a request NTS, and an NTS request without UID or cookie is malformed.
Buffer with_lone_placeholder(Buffer request) {
  Buffer field(128);
  ByteWriter writer(field);
  write_extension_field(writer, kNtsCookiePlaceholder, Buffer(104, 0), kMinLastExtensionFieldLength);
  field.resize(writer.size());
  request.insert(request.end(), field.begin(), field.end());
  return request;
}

NtpHeader header_of(const Buffer& packet) { return parse_ntp_header(packet).value(); }

// The unique identifier the client put in its request.
Buffer unique_id_of(ByteView request) {
  auto view = parse_nts_request(request);
  EXPECT_TRUE(view) << view.error().message;
  return view ? Buffer(view->unique_id.begin(), view->unique_id.end()) : Buffer{};
}

Aead s2c_aead(const NtsKeys& keys) { return Aead::create(keys.aead_id(), keys.s2c()).value(); }

// RFC 5905 §7.3; the IPv6 vectors are the first octets of MD5 over the 16 address bytes
// (python3 hashlib.md5).
TEST(ReferenceId, IsTheIpv4AddressOrTheMd5OfTheIpv6One) {
  const std::uint8_t v4[] = {192, 0, 2, 1};
  EXPECT_EQ(reference_id_of_address(v4), 0xc0000201u);
  std::uint8_t loopback6[16] = {};
  loopback6[15] = 1;
  EXPECT_EQ(reference_id_of_address(loopback6), 0xcf404dc8u);
  const std::uint8_t doc6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(reference_id_of_address(doc6), 0x39ab9b37u);
  const std::uint8_t odd[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(reference_id_of_address(odd), 0u);
}

TEST(NtpResponder, NtsRequestGetsAuthenticatedResponse) {
  auto ring = seeded_ring(1);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 1);
  const RandomFill client_random = counting_random(0x10);
  auto exchange = NtpClientExchange::nts(session, client_random).value();
  ASSERT_EQ(session.cookies(), 0u);

  const Times times = times_with_offset(0);
  Server server(times.tx);
  const Answer answer = respond(server, exchange.request(), &ring, RateDecision::kAllow, times.rx);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNts);
  EXPECT_TRUE(answer.response.authenticated);
  EXPECT_EQ(answer.response.cookies, 8u);  // the one spent and seven placeholders
  EXPECT_LE(answer.bytes.size(), exchange.request().size());

  // The real client accepts it as an authenticated sample and refills its jar.
  auto sample = exchange.handle_response(answer.bytes, times.t1, times.t4, &session);
  ASSERT_TRUE(sample) << sample.error().message;
  EXPECT_TRUE(sample->authenticated);
  EXPECT_EQ(sample->cookies_received, 8u);
  EXPECT_EQ(session.cookies(), 8u);
  EXPECT_EQ(sample->offset, Duration::from_raw(0));
  EXPECT_NEAR(sample->delay.seconds(), 0.010, 1e-6);

  // Every fresh cookie opens with the ring's current key and carries the client's keys.
  auto s2c = s2c_aead(keys);
  auto verified = verify_nts_response(answer.bytes, unique_id_of(exchange.request()), s2c);
  ASSERT_TRUE(verified) << verified.error().message;
  ASSERT_EQ(verified->cookies.size(), 8u);
  for (const Buffer& field_body : verified->cookies) {
    auto cookie = cookie_from_field(field_body);
    ASSERT_TRUE(cookie);
    EXPECT_EQ(ByteReader(*cookie).u32(), ring.current().id());
    auto opened = open_cookie(*cookie, ring);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_TRUE(*opened == keys);
  }
  EXPECT_NE(verified->cookies[0], verified->cookies[1]);  // fresh nonces, unlinkable cookies

  // The refilled jar works for the next exchange.
  auto next = NtpClientExchange::nts(session, client_random).value();
  const Answer second = respond(server, next.request(), &ring, RateDecision::kAllow, times.rx);
  EXPECT_EQ(second.response.kind, ResponseKind::kNts);
  EXPECT_TRUE(next.handle_response(second.bytes, times.t1, times.t4, &session));
  EXPECT_EQ(server.responder.counters().nts, 2u);
  EXPECT_EQ(server.responder.counters().cookies_sent, 9u);
}

TEST(NtpResponder, EveryAeadWorksEndToEnd) {
  auto ring = seeded_ring(2);
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}, std::uint16_t{15}}) {
    const NtsKeys keys = keys_for(id, static_cast<std::uint8_t>(id));
    auto session = client_session(keys, ring, 4);
    auto exchange = NtpClientExchange::nts(session, counting_random(0x20)).value();
    const Times times = times_with_offset(3);
    Server server(times.tx);
    const Answer answer = respond(server, exchange.request(), &ring, RateDecision::kAllow, times.rx);
    ASSERT_EQ(answer.response.kind, ResponseKind::kNts) << id;
    auto sample = exchange.handle_response(answer.bytes, times.t1, times.t4, &session);
    ASSERT_TRUE(sample) << id << ": " << sample.error().message;
    EXPECT_EQ(sample->cookies_received, 5u);
    EXPECT_NEAR(sample->offset.seconds(), 0.003, 1e-6);
  }
}

TEST(NtpResponder, PlainRequestGetsServerResponse) {
  auto exchange = NtpClientExchange::plain(counting_random(0x30));
  const Times times = times_with_offset(-250);
  Server server(times.tx);
  const Answer answer = respond(server, exchange.request(), nullptr, RateDecision::kAllow, times.rx);
  ASSERT_EQ(answer.response.kind, ResponseKind::kPlain);
  EXPECT_FALSE(answer.response.authenticated);
  ASSERT_EQ(answer.bytes.size(), kNtpHeaderLength);

  const NtpHeader request = header_of(Buffer(exchange.request().begin(), exchange.request().end()));
  const NtpHeader h = header_of(answer.bytes);
  EXPECT_EQ(h.mode, NtpMode::kServer);
  EXPECT_EQ(h.version, 4);
  EXPECT_EQ(h.origin_time, request.transmit_time);
  EXPECT_EQ(h.receive_time, times.rx);
  EXPECT_EQ(h.transmit_time, times.tx);
  EXPECT_EQ(h.poll, request.poll);

  auto sample = exchange.handle_response(answer.bytes, times.t1, times.t4, nullptr);
  ASSERT_TRUE(sample) << sample.error().message;
  EXPECT_FALSE(sample->authenticated);
  EXPECT_NEAR(sample->offset.seconds(), -0.250, 1e-6);
  EXPECT_EQ(server.responder.counters().plain, 1u);
}

TEST(NtpResponder, PollIsEchoed) {
  Buffer request = plain_request(1);
  request[2] = 10;
  Server server;
  EXPECT_EQ(header_of(respond(server, request, nullptr).bytes).poll, 10);
  request[2] = static_cast<std::uint8_t>(-3);
  EXPECT_EQ(header_of(respond(server, request, nullptr).bytes).poll, -3);
}

TEST(NtpResponder, UnknownExtensionFieldIsIgnored) {
  Buffer request = plain_request(1);
  Buffer field(32);
  ByteWriter writer(field);
  write_extension_field(writer, 0x2005, Buffer(20, 0xee), kMinLastExtensionFieldLength);
  field.resize(writer.size());
  request.insert(request.end(), field.begin(), field.end());
  Server server;
  const Answer answer = respond(server, request, nullptr);
  EXPECT_EQ(answer.response.kind, ResponseKind::kPlain);
  EXPECT_EQ(answer.bytes.size(), kNtpHeaderLength);
}

// Requests built directly, to cover nonce lengths the kairos client never uses.
Buffer nts_request(const NtsKeys& keys, ByteView cookie, std::size_t placeholders, std::size_t nonce_length,
                   const Buffer& uid = Buffer(32, 0xa5)) {
  auto c2s = Aead::create(keys.aead_id(), keys.c2s()).value();
  NtsRequestParts parts;
  parts.header.mode = NtpMode::kClient;
  parts.header.transmit_time = NtpTimestamp::from_parts(0x12345678, 0x9abcdef0);
  parts.unique_id = uid;
  parts.cookie = cookie;
  parts.placeholders = placeholders;
  const Buffer nonce(nonce_length, 0x33);
  parts.nonce = nonce;
  Buffer out(4096);
  out.resize(build_nts_request(parts, c2s, out).value());
  return out;
}

Buffer sealed_cookie(const NtsKeys& keys, KeyRing& ring) {
  Buffer cookie(kCookieMaxLength);
  cookie.resize(seal_cookie(keys, ring.current(), cookie).value());
  return cookie;
}

TEST(NtpResponder, ResponseNeverLargerThanRequest) {
  auto ring = seeded_ring(3);
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const NtsKeys keys = keys_for(id);
    // The real client: 8 cookies in the jar ask for none back beyond the one spent, 1 asks for 7.
    for (std::size_t jar = 1; jar <= 8; ++jar) {
      auto session = client_session(keys, ring, jar);
      auto exchange = NtpClientExchange::nts(session, counting_random(0x50)).value();
      Server server;
      for (RateDecision rate : {RateDecision::kAllow, RateDecision::kKiss}) {
        const Answer answer = respond(server, exchange.request(), &ring, rate);
        ASSERT_TRUE(answer.response.authenticated) << id << " jar " << jar;
        EXPECT_LE(answer.bytes.size(), exchange.request().size()) << id << " jar " << jar;
        EXPECT_EQ(answer.response.cookies, 9 - jar) << id << " jar " << jar;
      }
    }
    // Hand-built requests: short nonces leave the server its nonce room as additional padding
    // (RFC 8915 §5.6), long ones give it more than it needs.
    const Buffer cookie = sealed_cookie(keys, ring);
    for (std::size_t placeholders = 0; placeholders <= 7; ++placeholders) {
      for (std::size_t nonce_length : {1u, 4u, 12u, 16u, 17u, 32u}) {
        const Buffer request = nts_request(keys, cookie, placeholders, nonce_length);
        Server server;
        const Answer answer = respond(server, request, &ring);
        ASSERT_EQ(answer.response.kind, ResponseKind::kNts) << placeholders << " " << nonce_length;
        EXPECT_LE(answer.bytes.size(), request.size()) << placeholders << " " << nonce_length;
        EXPECT_EQ(answer.response.cookies, placeholders + 1) << placeholders << " " << nonce_length;
      }
    }
  }
}

TEST(NtpResponder, FreshCookiesAreCapped) {
  auto ring = seeded_ring(3);
  const NtsKeys keys = keys_for(15);
  const Buffer request = nts_request(keys, sealed_cookie(keys, ring), 20, 16);
  Server server;
  const Answer answer = respond(server, request, &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNts);
  EXPECT_EQ(answer.response.cookies, kMaxFreshCookies);
  EXPECT_EQ(*server.random_calls, static_cast<int>(kMaxFreshCookies) + 1);
}

// The body of the unique identifier field of a packet.
Buffer unique_id_field(const Buffer& packet) {
  auto parsed = parse_ntp_packet(packet).value();
  for (const ExtensionField& f : parsed.fields) {
    if (f.type == kNtsUniqueIdentifier) return Buffer(f.body.begin(), f.body.end());
  }
  return {};
}

TEST(NtpResponder, UniqueIdentifierIsEchoed) {
  auto ring = seeded_ring(4);
  const NtsKeys keys = keys_for(15);
  Buffer uid(44);
  for (std::size_t i = 0; i < uid.size(); ++i) uid[i] = static_cast<std::uint8_t>(0xc0 ^ i);
  const Buffer cookie = sealed_cookie(keys, ring);
  Server server;
  const Answer answer = respond(server, nts_request(keys, cookie, 1, 16, uid), &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNts);
  EXPECT_EQ(unique_id_field(answer.bytes), uid);
  // A NAK echoes it too: that is what lets the client trust an unauthenticated NAK.
  auto other = seeded_ring(5);
  const Answer nak = respond(server, nts_request(keys, cookie, 1, 16, uid), &other);
  ASSERT_EQ(nak.response.kind, ResponseKind::kNak);
  EXPECT_EQ(unique_id_field(nak.bytes), uid);
}

TEST(NtpResponder, ForgedAuthenticatorGetsNak) {
  auto ring = seeded_ring(6);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 3);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x60)).value();
  Buffer forged(exchange.request().begin(), exchange.request().end());
  forged[forged.size() - 8] ^= 0x01;  // inside the authenticator's tag
  Server server;
  const Answer answer = respond(server, forged, &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNak);
  EXPECT_EQ(answer.response.nak, NakReason::kNotAuthenticated);
  EXPECT_FALSE(answer.response.authenticated);
  const NtpHeader h = header_of(answer.bytes);
  EXPECT_EQ(h.stratum, 0);
  EXPECT_EQ(h.reference_id, kKissNtsn);

  // A request signed with keys other than the cookie's is no better.
  auto mixed_session = NtsClientSession::create(ke_result(keys_for(15, 9), {sealed_cookie(keys, ring)})).value();
  auto mixed_exchange = NtpClientExchange::nts(mixed_session, counting_random(0x61)).value();
  EXPECT_EQ(respond(server, mixed_exchange.request(), &ring).response.nak, NakReason::kNotAuthenticated);

  // The client takes the NAK for its own request, but (RFC 8915 §5.7: a NAK is not
  // authenticated, anyone who saw the request can forge one) keeps the cookies it holds; the
  // association decides when to re-key. A NAK once emptied the jar: one forged packet per poll
  // forced an NTS-KE on every poll.
  const Times times = times_with_offset(0);
  const std::size_t cookies = session.cookies();
  auto result = exchange.handle_response(answer.bytes, times.t1, times.t4, &session);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kNtsNak);
  EXPECT_EQ(session.cookies(), cookies);
  EXPECT_EQ(server.responder.counters().naks_for(NakReason::kNotAuthenticated), 2u);
}

TEST(NtpResponder, EveryBitFlipIsDroppedOrNakedNeverAuthenticated) {
  auto ring = seeded_ring(7);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 7);  // one placeholder
  auto exchange = NtpClientExchange::nts(session, counting_random(0x70)).value();
  const Buffer request(exchange.request().begin(), exchange.request().end());
  Server server;
  ASSERT_EQ(respond(server, request, &ring).response.kind, ResponseKind::kNts);
  std::size_t naks = 0, drops = 0;
  for (std::size_t i = 0; i < request.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Buffer flipped = request;
      flipped[i] = static_cast<std::uint8_t>(flipped[i] ^ (1 << bit));
      for (RateDecision rate : {RateDecision::kAllow, RateDecision::kKiss}) {
        const Answer answer = respond(server, flipped, &ring, rate);
        EXPECT_FALSE(answer.response.authenticated) << "byte " << i << " bit " << bit;
        EXPECT_TRUE(answer.response.kind == ResponseKind::kDropped || answer.response.kind == ResponseKind::kNak)
            << "byte " << i << " bit " << bit;
        EXPECT_LE(answer.bytes.size(), flipped.size());
        (answer.response.kind == ResponseKind::kNak ? naks : drops) += 1;
      }
    }
  }
  // Both outcomes occur: flips in structure drop, flips in authenticated content NAK.
  EXPECT_GT(naks, 0u);
  EXPECT_GT(drops, 0u);
  EXPECT_EQ(server.responder.counters().nts, 1u);
}

TEST(NtpResponder, CookieFromAnotherRingGetsNak) {
  auto ring = seeded_ring(8);
  auto other = seeded_ring(9);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, other, 2);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x80)).value();
  Server server;
  const Answer answer = respond(server, exchange.request(), &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNak);
  EXPECT_EQ(answer.response.nak, NakReason::kCookieRejected);
  EXPECT_LE(answer.bytes.size(), exchange.request().size());
  const Times times = times_with_offset(0);
  auto result = exchange.handle_response(answer.bytes, times.t1, times.t4, &session);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kNtsNak);
}

TEST(NtpResponder, CookieFromOldKeyWithinWindowIsAccepted) {
  auto ring = seeded_ring(10, kNowUnix, 1);
  const NtsKeys keys = keys_for(16);
  auto session = client_session(keys, ring, 2);
  const std::uint32_t old_id = ring.current().id();
  ASSERT_TRUE(ring.rotate(kNowUnix + kDay).value());
  ASSERT_NE(ring.current().id(), old_id);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x90)).value();
  Server server;
  const Answer answer = respond(server, exchange.request(), &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNts);
  // Fresh cookies are sealed under the new current key.
  auto s2c = s2c_aead(keys);
  auto verified = verify_nts_response(answer.bytes, unique_id_of(exchange.request()), s2c).value();
  ASSERT_FALSE(verified.cookies.empty());
  EXPECT_EQ(ByteReader(verified.cookies[0]).u32(), ring.current().id());
}

TEST(NtpResponder, CookieFromRotatedOutKeyGetsNak) {
  auto ring = seeded_ring(11, kNowUnix, 1);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 2);
  ASSERT_TRUE(ring.rotate(kNowUnix + 2 * kDay).value());
  auto exchange = NtpClientExchange::nts(session, counting_random(0xa0)).value();
  Server server;
  const Answer answer = respond(server, exchange.request(), &ring);
  ASSERT_EQ(answer.response.kind, ResponseKind::kNak);
  EXPECT_EQ(answer.response.nak, NakReason::kCookieRejected);
}

TEST(NtpResponder, NoRingGetsNak) {
  auto ring = seeded_ring(12);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 2);
  auto exchange = NtpClientExchange::nts(session, counting_random(0xb0)).value();
  Server server;
  for (RateDecision rate : {RateDecision::kAllow, RateDecision::kKiss}) {
    const Answer answer = respond(server, exchange.request(), nullptr, rate);
    ASSERT_EQ(answer.response.kind, ResponseKind::kNak);
    EXPECT_EQ(answer.response.nak, NakReason::kNoKeyRing);
  }
  EXPECT_EQ(server.responder.counters().naks_for(NakReason::kNoKeyRing), 2u);
}

TEST(NtpResponder, NonClientModesAreDropped) {
  auto ring = seeded_ring(13);
  const NtsKeys keys = keys_for(15);
  const Buffer plain = plain_request(1);
  const Buffer nts = nts_request(keys, sealed_cookie(keys, ring), 1, 16);
  Server server;
  for (const Buffer& base : {plain, nts}) {
    for (std::uint8_t mode = 0; mode < 8; ++mode) {
      Buffer request = base;
      request[0] = static_cast<std::uint8_t>((request[0] & ~7u) | mode);
      // Mode 6 and 7 packets are never answered, however they are dressed up: no amplification.
      for (RateDecision rate : {RateDecision::kAllow, RateDecision::kKiss}) {
        const Answer answer = respond(server, request, &ring, rate);
        if (mode == 3) {
          EXPECT_NE(answer.response.kind, ResponseKind::kDropped);
        } else {
          EXPECT_EQ(answer.response.kind, ResponseKind::kDropped) << int{mode};
          EXPECT_EQ(answer.response.drop, DropReason::kNotClientMode) << int{mode};
          EXPECT_EQ(answer.response.length, 0u);
        }
      }
    }
  }
  EXPECT_EQ(server.responder.counters().dropped_for(DropReason::kNotClientMode), 2u * 7u * 2u);
}

TEST(NtpResponder, Versions) {
  Buffer request = plain_request(1);
  Server server;
  for (std::uint8_t version = 0; version < 8; ++version) {
    request[0] = static_cast<std::uint8_t>((request[0] & 0xc7) | (version << 3));
    const Answer answer = respond(server, request, nullptr);
    if (version >= 1 && version <= 4) {
      ASSERT_EQ(answer.response.kind, ResponseKind::kPlain) << int{version};
      const NtpHeader h = header_of(answer.bytes);
      EXPECT_EQ(h.version, version);
      EXPECT_EQ(h.mode, NtpMode::kServer);
    } else {
      EXPECT_EQ(answer.response.kind, ResponseKind::kDropped) << int{version};
      EXPECT_EQ(answer.response.drop, DropReason::kBadVersion) << int{version};
    }
  }
  // NTS exists only in NTPv4 (RFC 8915 §5.7): NTS fields in an NTPv3 request are malformed.
  auto ring = seeded_ring(14);
  const NtsKeys keys = keys_for(15);
  Buffer nts = nts_request(keys, sealed_cookie(keys, ring), 0, 16);
  nts[0] = static_cast<std::uint8_t>((nts[0] & 0xc7) | (3 << 3));
  EXPECT_EQ(respond(server, nts, &ring).response.drop, DropReason::kMalformedNts);
}

TEST(NtpResponder, LegacyMacIsDropped) {
  const Buffer plain = plain_request(1);
  Server server;
  // Crypto-NAK (key id only), MD5 (key id + 16) and SHA-1 (key id + 20) trailers, RFC 7822 §7.5.
  for (std::size_t trailer : {4u, 20u, 24u}) {
    Buffer request = plain;
    request.resize(plain.size() + trailer, 0x5a);
    const Answer answer = respond(server, request, nullptr);
    EXPECT_EQ(answer.response.kind, ResponseKind::kDropped) << trailer;
    EXPECT_EQ(answer.response.drop, DropReason::kLegacyMac) << trailer;
  }
  // A MAC after an extension field too.
  Buffer request = plain;
  Buffer field(16);
  ByteWriter writer(field);
  write_extension_field(writer, 0x2005, Buffer(8, 1));
  request.insert(request.end(), field.begin(), field.end());
  request.resize(request.size() + 20, 0x5a);
  EXPECT_EQ(respond(server, request, nullptr).response.drop, DropReason::kLegacyMac);
  EXPECT_EQ(server.responder.counters().dropped_for(DropReason::kLegacyMac), 4u);
}

TEST(NtpResponder, RateKissPlain) {
  auto exchange = NtpClientExchange::plain(counting_random(0x31));
  const Times times = times_with_offset(0);
  Server server(times.tx);
  const Answer answer = respond(server, exchange.request(), nullptr, RateDecision::kKiss, times.rx);
  ASSERT_EQ(answer.response.kind, ResponseKind::kRateKiss);
  EXPECT_FALSE(answer.response.authenticated);
  EXPECT_LE(answer.bytes.size(), exchange.request().size());
  const NtpHeader h = header_of(answer.bytes);
  EXPECT_EQ(h.stratum, 0);
  EXPECT_EQ(h.reference_id, kKissRate);
  EXPECT_EQ(h.leap, NtpLeap::kUnsynchronized);
  EXPECT_EQ(h.mode, NtpMode::kServer);
  EXPECT_EQ(h.origin_time, header_of(Buffer(exchange.request().begin(), exchange.request().end())).transmit_time);
  auto result = exchange.handle_response(answer.bytes, times.t1, times.t4, nullptr);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kRateLimited);
  EXPECT_EQ(server.responder.counters().rate_kisses_plain, 1u);
}

TEST(NtpResponder, RateKissNtsIsAuthenticated) {
  auto ring = seeded_ring(15);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 6);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x32)).value();
  ASSERT_EQ(session.cookies(), 5u);
  const Times times = times_with_offset(0);
  Server server(times.tx);
  const Answer answer = respond(server, exchange.request(), &ring, RateDecision::kKiss, times.rx);
  ASSERT_EQ(answer.response.kind, ResponseKind::kRateKiss);
  EXPECT_TRUE(answer.response.authenticated);
  EXPECT_EQ(answer.response.cookies, 3u);
  const NtpHeader h = header_of(answer.bytes);
  EXPECT_EQ(h.stratum, 0);
  EXPECT_EQ(h.reference_id, kKissRate);
  EXPECT_EQ(h.leap, NtpLeap::kUnsynchronized);

  // The client authenticates it, keeps the fresh cookies and reports the kiss.
  auto result = exchange.handle_response(answer.bytes, times.t1, times.t4, &session);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kRateLimited);
  EXPECT_EQ(session.cookies(), 8u);
  EXPECT_EQ(server.responder.counters().rate_kisses_nts, 1u);
  EXPECT_EQ(server.responder.counters().nts, 0u);

  // With a cookie that does not open, the kiss cannot be authenticated: NAK.
  auto other = seeded_ring(16);
  auto next = NtpClientExchange::nts(session, counting_random(0x33)).value();
  EXPECT_EQ(respond(server, next.request(), &other, RateDecision::kKiss).response.kind, ResponseKind::kNak);
}

TEST(NtpResponder, RateDropIsDropped) {
  auto ring = seeded_ring(17);
  const NtsKeys keys = keys_for(15);
  Server server;
  const Buffer plain = plain_request(1);
  const Buffer nts = nts_request(keys, sealed_cookie(keys, ring), 0, 16);
  for (const Buffer& request : {plain, nts}) {
    const Answer answer = respond(server, request, &ring, RateDecision::kDrop);
    EXPECT_EQ(answer.response.kind, ResponseKind::kDropped);
    EXPECT_EQ(answer.response.drop, DropReason::kRateLimited);
  }
  EXPECT_EQ(*server.random_calls, 0);  // no work spent on dropped requests
}

// Junk that passes the first octet's checks (client mode, version 4) must not use up the client's
// rate, nor the one kiss per interval that tells an over-limit client to slow down: under a flood
// of it, the client's own request still gets its RATE kiss.
TEST(NtpResponder, JunkNeverSpendsTheRateOrTheKiss) {
  auto ring = seeded_ring(19);
  const NtsKeys keys = keys_for(15);
  RateLimiter limiter(RateLimitConfig{60.0, 1, 16}, 7);
  const RateKey client = rate_key_ipv4(std::array<std::uint8_t, 4>{192, 0, 2, 1});
  const std::int64_t now_ns = 1'000'000'000;
  const RateCheck rate(limiter, client, now_ns);

  const Buffer plain = plain_request(1);
  Buffer bad_fields = plain;  // an extension field whose length is not a multiple of 4
  bad_fields.insert(bad_fields.end(), {0x12, 0x34, 0x00, 0x13});
  bad_fields.resize(bad_fields.size() + 28, 0);
  Buffer oversize = plain;  // 1400 B of zeros: no valid extension field
  oversize.resize(1400, 0);
  const Buffer bad_nts = with_lone_placeholder(plain);
  Buffer legacy_mac = plain;
  legacy_mac.resize(plain.size() + 20, 0x5a);

  Server server;
  auto ask = [&](const Buffer& request) {
    Buffer out(request.size());
    return server.responder.respond(request, times_with_offset(0).rx, kClientA, rate, &ring, out);
  };
  const std::vector<Buffer> junk = {bad_fields, oversize, bad_nts, legacy_mac};
  for (int round = 0; round < 3; ++round) {
    for (const Buffer& request : junk) {
      const Response response = ask(request);
      EXPECT_EQ(response.kind, ResponseKind::kDropped);
      EXPECT_NE(response.drop, DropReason::kRateLimited);
    }
  }
  EXPECT_EQ(ask(plain).kind, ResponseKind::kPlain);  // the burst of 1, untouched by the junk
  for (const Buffer& request : junk) ask(request);
  EXPECT_EQ(ask(plain).kind, ResponseKind::kRateKiss);  // over the limit: the kiss is still there
  for (const Buffer& request : junk) ask(request);
  const Response nts = ask(nts_request(keys, sealed_cookie(keys, ring), 0, 16));
  EXPECT_EQ(nts.kind, ResponseKind::kDropped);  // kissed once this interval: the rest are dropped
  EXPECT_EQ(nts.drop, DropReason::kRateLimited);
  EXPECT_EQ(server.responder.counters().dropped_for(DropReason::kRateLimited), 1u);
}

TEST(NtpResponder, TransmitTimestampReadAfterCookiesAreSealed) {
  auto ring = seeded_ring(18);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 6);  // asks for three cookies
  auto exchange = NtpClientExchange::nts(session, counting_random(0x34)).value();

  // Both fakes append to one log, so the order of calls is visible.
  auto log = std::make_shared<std::string>();
  auto random_bytes = std::make_shared<std::uint8_t>(0);
  const NtpTimestamp t3 = NtpTimestamp::from_parts(0xe9000001, 0x77777777);
  NtpResponder responder([log, t3] { *log += 'T'; return t3; },
                         [log, random_bytes](std::span<std::uint8_t> out) {
                           *log += 'R';
                           for (auto& b : out) b = (*random_bytes)++;
                         });
  responder.set_clock_state(synced_clock());
  Buffer out(exchange.request().size());
  const Response response = responder.respond(exchange.request(), times_with_offset(0).rx, kClientA, RateDecision::kAllow, &ring, out);
  ASSERT_EQ(response.kind, ResponseKind::kNts);
  ASSERT_EQ(response.cookies, 3u);
  // A nonce per fresh cookie, each sealed right after it is drawn, then the response nonce, then
  // the clock: nothing but the authenticator's seal comes after T3 is read.
  EXPECT_EQ(*log, "RRRRT");
  out.resize(response.length);
  EXPECT_EQ(header_of(out).transmit_time, t3);

  // Plain: the clock is read after the rest of the header is already in the output buffer.
  const Buffer plain = plain_request(2);
  Buffer plain_out(plain.size(), 0);
  bool header_written_first = false;
  NtpResponder plain_responder(
      [&] {
        header_written_first = plain_out[0] == ((0u << 6) | (4u << 3) | 4u) &&
                               std::equal(plain.begin() + 40, plain.end(), plain_out.begin() + 24);
        return t3;
      },
      counting_random(0));
  plain_responder.set_clock_state(synced_clock());
  ASSERT_EQ(plain_responder.respond(plain, times_with_offset(0).rx, kClientA, RateDecision::kAllow, nullptr, plain_out).kind,
            ResponseKind::kPlain);
  EXPECT_TRUE(header_written_first);
  EXPECT_EQ(header_of(plain_out).transmit_time, t3);
}

TEST(NtpResponder, ClockStateIsCopied) {
  auto ring = seeded_ring(19);
  const NtsKeys keys = keys_for(15);
  ServerClockState state;
  state.leap = NtpLeap::kInsertSecond;
  state.stratum = 3;
  state.precision = -29;
  state.root_delay = NtpShort::from_raw(0x00012345);
  state.root_dispersion = NtpShort::from_raw(0x00006789);
  state.reference_id = 0xc0000201;
  state.reference_time = NtpTimestamp::from_parts(0xe8ffffff, 0xabcdef01);
  Server server;
  server.responder.set_clock_state(state);
  EXPECT_EQ(server.responder.clock_state(), state);

  auto session = client_session(keys, ring, 8);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x35)).value();
  const Buffer plain = plain_request(3);
  for (const Answer& answer : {respond(server, plain, &ring), respond(server, exchange.request(), &ring)}) {
    ASSERT_NE(answer.response.kind, ResponseKind::kDropped);
    const NtpHeader h = header_of(answer.bytes);
    EXPECT_EQ(h.leap, state.leap);
    EXPECT_EQ(h.stratum, state.stratum);
    EXPECT_EQ(h.precision, state.precision);
    EXPECT_EQ(h.root_delay, state.root_delay);
    EXPECT_EQ(h.root_dispersion, state.root_dispersion);
    EXPECT_EQ(h.reference_id, state.reference_id);
    EXPECT_EQ(h.reference_time, state.reference_time);
  }
  // The default state says "unsynchronized", and the client refuses the time.
  NtpResponder fresh([] { return times_with_offset(0).tx; }, counting_random(0));
  auto plain_exchange = NtpClientExchange::plain(counting_random(4));
  Buffer out(kNtpHeaderLength);
  ASSERT_EQ(fresh.respond(plain_exchange.request(), times_with_offset(0).rx, kClientA, RateDecision::kAllow, nullptr, out).kind,
            ResponseKind::kPlain);
  EXPECT_EQ(header_of(out).stratum, 16);
  EXPECT_EQ(header_of(out).leap, NtpLeap::kUnsynchronized);
  const Times times = times_with_offset(0);
  auto result = plain_exchange.handle_response(out, times.t1, times.t4, nullptr);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().problem, ResponseProblem::kUnsynchronized);
}

TEST(NtpResponder, TruncationsAreDropped) {
  auto ring = seeded_ring(20);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 7);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x36)).value();
  const ByteView request = exchange.request();
  Server server;
  for (std::size_t n = 0; n < request.size(); ++n) {
    const Answer answer = respond(server, request.first(n), &ring);
    EXPECT_FALSE(answer.response.authenticated) << n;
    if (n == kNtpHeaderLength) {
      // The bare header is a complete plain NTPv4 request, and is answered as one.
      EXPECT_EQ(answer.response.kind, ResponseKind::kPlain);
    } else {
      EXPECT_EQ(answer.response.kind, ResponseKind::kDropped) << n;
      if (n < kNtpHeaderLength) {
        EXPECT_EQ(answer.response.drop, DropReason::kTooShort) << n;
      }
    }
  }
  EXPECT_EQ(server.responder.counters().dropped_for(DropReason::kTooShort), kNtpHeaderLength);
}

TEST(NtpResponder, MalformedNtsIsDropped) {
  auto ring = seeded_ring(21);
  const NtsKeys keys = keys_for(15);
  Buffer request = with_lone_placeholder(plain_request(1));
  Server server;
  const Answer answer = respond(server, request, &ring);
  EXPECT_EQ(answer.response.kind, ResponseKind::kDropped);
  EXPECT_EQ(answer.response.drop, DropReason::kMalformedNts);
  // Broken extension fields: malformed.
  request[kNtpHeaderLength + 3] = 0x13;  // length not a multiple of 4
  EXPECT_EQ(respond(server, request, &ring).response.drop, DropReason::kMalformed);
}

TEST(NtpResponder, SmallOutputBufferDropsInsteadOfOverflowing) {
  auto ring = seeded_ring(22);
  const NtsKeys keys = keys_for(15);
  const Buffer nts = nts_request(keys, sealed_cookie(keys, ring), 3, 16);
  const Buffer plain = plain_request(1);
  Server server;
  Buffer out(40);
  EXPECT_EQ(server.responder.respond(plain, {}, kClientA, RateDecision::kAllow, &ring, out).drop, DropReason::kResponseFailed);
  EXPECT_EQ(server.responder.respond(nts, {}, kClientA, RateDecision::kAllow, &ring, out).drop, DropReason::kResponseFailed);
  // Room for fewer cookies than asked for: the ones that fit are sent.
  Buffer smaller(nts.size() - 200);
  const Response r = server.responder.respond(nts, {}, kClientA, RateDecision::kAllow, &ring, smaller);
  EXPECT_EQ(r.kind, ResponseKind::kNts);
  EXPECT_LE(r.length, smaller.size());
  EXPECT_LT(r.cookies, 4u);
}

TEST(NtpResponder, CountersCountEveryOutcomeAndMerge) {
  auto ring = seeded_ring(23);
  const NtsKeys keys = keys_for(15);
  const Buffer plain = plain_request(1);
  const Buffer nts = nts_request(keys, sealed_cookie(keys, ring), 2, 16);
  Server a;
  Server b;
  respond(a, plain, &ring);
  respond(a, plain, &ring, RateDecision::kKiss);
  respond(a, nts, &ring);
  respond(a, nts, &ring, RateDecision::kKiss);
  respond(a, nts, nullptr);
  respond(a, Buffer(47), &ring);
  respond(b, plain, &ring, RateDecision::kDrop);
  respond(b, nts, &ring);
  ResponderCounters total = a.responder.counters();
  EXPECT_EQ(total.requests(), 6u);
  total.add(b.responder.counters());
  EXPECT_EQ(total.plain, 1u);
  EXPECT_EQ(total.rate_kisses_plain, 1u);
  EXPECT_EQ(total.nts, 2u);
  EXPECT_EQ(total.rate_kisses_nts, 1u);
  EXPECT_EQ(total.cookies_sent, 9u);
  EXPECT_EQ(total.naks_total(), 1u);
  EXPECT_EQ(total.naks_for(NakReason::kNoKeyRing), 1u);
  EXPECT_EQ(total.dropped_total(), 2u);
  EXPECT_EQ(total.dropped_for(DropReason::kTooShort), 1u);
  EXPECT_EQ(total.dropped_for(DropReason::kRateLimited), 1u);
  EXPECT_EQ(total.requests(), 8u);
  EXPECT_STREQ(to_string(DropReason::kNotClientMode), "not-client-mode");
  EXPECT_STREQ(to_string(NakReason::kCookieRejected), "cookie-rejected");
}

TEST(NtpResponder, ReKeyingServesClientsWithDifferentKeysInTurn) {
  // One responder keeps one AEAD pair per algorithm and re-keys it per request; interleaved
  // clients must each get answers under their own keys.
  auto ring = seeded_ring(24);
  Server server;
  std::vector<NtsKeys> keys;
  std::vector<NtsClientSession> sessions;
  for (std::uint8_t i = 0; i < 4; ++i) {
    keys.push_back(keys_for(i % 2 == 0 ? 15 : 17, static_cast<std::uint8_t>(i * 11)));
    sessions.push_back(client_session(keys.back(), ring, 4));
  }
  const Times times = times_with_offset(0);
  server.tx = times.tx;
  for (std::size_t round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < sessions.size(); ++i) {
      auto exchange = NtpClientExchange::nts(sessions[i], counting_random(static_cast<std::uint8_t>(round * 16 + i))).value();
      const Answer answer = respond(server, exchange.request(), &ring, RateDecision::kAllow, times.rx);
      ASSERT_EQ(answer.response.kind, ResponseKind::kNts);
      auto sample = exchange.handle_response(answer.bytes, times.t1, times.t4, &sessions[i]);
      EXPECT_TRUE(sample) << round << " " << i << ": " << sample.error().message;
    }
  }
}

TEST(CounterModeRandom, BlocksNeverRepeatAndSeedDeterminesTheStream) {
  auto a = counter_mode_random(counting_random(7)).value();
  auto b = counter_mode_random(counting_random(7)).value();
  auto c = counter_mode_random(counting_random(8)).value();
  std::vector<Buffer> seen;
  // Past several refills of the internal buffer (64 blocks each).
  for (int i = 0; i < 300; ++i) {
    Buffer x(16), y(16), z(16);
    a(x);
    b(y);
    c(z);
    EXPECT_EQ(x, y);
    EXPECT_NE(x, z);
    seen.push_back(x);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
  // Short requests still consume a whole block; long ones several.
  Buffer small(5), big(40);
  a(small);
  a(big);
  EXPECT_NE(Buffer(big.begin(), big.begin() + 16), Buffer(big.begin() + 16, big.begin() + 32));
  // A responder runs on it.
  auto ring = seeded_ring(25);
  const NtsKeys keys = keys_for(15);
  NtpResponder responder([] { return times_with_offset(0).tx; }, a);
  responder.set_clock_state(synced_clock());
  const Buffer request = nts_request(keys, sealed_cookie(keys, ring), 1, 16);
  Buffer out(request.size());
  EXPECT_EQ(responder.respond(request, {}, kClientA, RateDecision::kAllow, &ring, out).kind, ResponseKind::kNts);
}

// ---- Interleaved mode (RFC 9769 §2) ---------------------------------------------------------

// Times in microseconds after kNowUnix, on a client and a server whose clocks agree.
timespec at_us(std::int64_t us) {
  return unix_time(static_cast<std::int64_t>(kNowUnix) + us / 1'000'000, static_cast<long>(us % 1'000'000) * 1000);
}
NtpTimestamp ntp_us(std::int64_t us) { return NtpTimestamp::from_timespec(at_us(us)); }

// The server reads its clock 1000 µs after receiving, but the packet leaves 1500 µs after: the
// 500 µs a basic response cannot know about and an interleaved one reports. 5000 µs each way.
struct XleaveExchange {
  std::int64_t start;  // t1
  timespec t1() const { return at_us(start); }
  NtpTimestamp rx() const { return ntp_us(start + 5000); }
  NtpTimestamp daemon_tx() const { return ntp_us(start + 6000); }
  NtpTimestamp wire_tx() const { return ntp_us(start + 6500); }
  timespec t4() const { return at_us(start + 11500); }
};

// What the interleaved mode makes of a reading: receive timestamps are saved odd and transmit
// timestamps written even (InterleavedTable), one tick of 2^-32 s apart.
NtpTimestamp as_saved(NtpTimestamp rx) { return NtpTimestamp::from_raw(rx.raw() | 1); }
NtpTimestamp as_sent(NtpTimestamp tx) { return InterleavedTable::transmit_timestamp(tx); }

struct XleaveServer : Server {
  XleaveServer() { responder.enable_interleaved(16); }
  // Serves one request at `x` and reports the departure stamp, as the daemon does.
  Answer serve(ByteView request, const XleaveExchange& x, KeyRing* ring = nullptr,
               const ClientAddress& client = kClientA) {
    tx = x.daemon_tx();
    Answer answer = respond(*this, request, ring, RateDecision::kAllow, x.rx(), client);
    if (answer.response.transmit_handle) responder.note_transmit(answer.response.transmit_handle, x.wire_tx());
    return answer;
  }
};

TEST(NtpResponderInterleaved, InterleavedRequestGetsTheWireTransmitStampOfThePreviousResponse) {
  XleaveServer server;
  const RandomFill random = counting_random(0x50);
  const XleaveExchange first{0}, second{1'000'000};

  auto basic = NtpClientExchange::plain(random);
  const Answer a1 = server.serve(basic.request(), first);
  ASSERT_EQ(a1.response.kind, ResponseKind::kPlain);
  EXPECT_FALSE(a1.response.interleaved);
  EXPECT_TRUE(a1.response.transmit_handle);
  auto s1 = basic.handle_response(a1.bytes, first.t1(), first.t4(), nullptr);
  ASSERT_TRUE(s1) << s1.error().message;
  EXPECT_FALSE(s1->interleaved);
  EXPECT_NEAR(s1->offset.seconds(), -250e-6, 1e-9);  // the daemon's early T3 biases the basic sample

  auto xleave = NtpClientExchange::plain(random, &s1->next);
  ASSERT_TRUE(xleave.asks_interleaved());
  const NtpHeader request = header_of(Buffer(xleave.request().begin(), xleave.request().end()));
  EXPECT_EQ(request.origin_time, as_saved(first.rx()));
  EXPECT_NE(request.receive_time, request.transmit_time);

  const Answer a2 = server.serve(xleave.request(), second);
  ASSERT_EQ(a2.response.kind, ResponseKind::kPlain);
  EXPECT_TRUE(a2.response.interleaved);
  const NtpHeader h2 = header_of(a2.bytes);
  EXPECT_EQ(h2.origin_time, request.receive_time);
  EXPECT_EQ(h2.receive_time, as_saved(second.rx()));
  EXPECT_EQ(h2.transmit_time, as_sent(first.wire_tx()));
  auto s2 = xleave.handle_response(a2.bytes, second.t1(), second.t4(), nullptr);
  ASSERT_TRUE(s2) << s2.error().message;
  EXPECT_TRUE(s2->interleaved);
  // The first exchange completed with the true departure: no bias, the true 10 ms of path.
  EXPECT_NEAR(s2->offset.seconds(), 0.0, 1e-9);
  EXPECT_NEAR(s2->delay.seconds(), 0.010, 1e-9);
  EXPECT_EQ(s2->next.server_receive, as_saved(second.rx()));
  EXPECT_EQ(server.responder.counters().interleaved, 1u);
}

TEST(NtpResponderInterleaved, MissingEntryGetsABasicAnswerTheClientAccepts) {
  const RandomFill random = counting_random(0x51);
  const XleaveExchange first{0}, second{1'000'000};
  XleaveServer server;
  auto basic = NtpClientExchange::plain(random);
  auto s1 = basic.handle_response(server.serve(basic.request(), first).bytes, first.t1(), first.t4(), nullptr);
  ASSERT_TRUE(s1);

  // Another worker (or a restarted server) never saw the first exchange.
  XleaveServer other;
  auto xleave = NtpClientExchange::plain(random, &s1->next);
  const Answer a2 = other.serve(xleave.request(), second);
  ASSERT_EQ(a2.response.kind, ResponseKind::kPlain);
  EXPECT_FALSE(a2.response.interleaved);
  const NtpHeader h2 = header_of(a2.bytes);
  EXPECT_EQ(h2.origin_time, header_of(Buffer(xleave.request().begin(), xleave.request().end())).transmit_time);
  auto s2 = xleave.handle_response(a2.bytes, second.t1(), second.t4(), nullptr);
  ASSERT_TRUE(s2) << s2.error().message;
  EXPECT_FALSE(s2->interleaved);
  EXPECT_NEAR(s2->offset.seconds(), -250e-6, 1e-9);  // this exchange, in the basic mode

  // A server with the mode off answers the same request in the basic mode too.
  Server plain_server;
  const Answer a3 = respond(plain_server, xleave.request(), nullptr, RateDecision::kAllow, second.rx());
  EXPECT_FALSE(a3.response.interleaved);
  EXPECT_FALSE(a3.response.transmit_handle);
  auto s3 = xleave.handle_response(a3.bytes, second.t1(), second.t4(), nullptr);
  ASSERT_TRUE(s3);
  EXPECT_FALSE(s3->interleaved);
}

TEST(NtpResponderInterleaved, ReplayedInterleavedRequestGetsABasicAnswer) {
  XleaveServer server;
  const RandomFill random = counting_random(0x52);
  const XleaveExchange first{0}, second{1'000'000}, replay{1'500'000};
  auto basic = NtpClientExchange::plain(random);
  auto s1 = basic.handle_response(server.serve(basic.request(), first).bytes, first.t1(), first.t4(), nullptr);
  ASSERT_TRUE(s1);
  auto xleave = NtpClientExchange::plain(random, &s1->next);
  EXPECT_TRUE(server.serve(xleave.request(), second).response.interleaved);
  const Answer again = server.serve(xleave.request(), replay);
  EXPECT_FALSE(again.response.interleaved);
  EXPECT_EQ(header_of(again.bytes).transmit_time, as_sent(replay.daemon_tx()));
}

TEST(NtpResponderInterleaved, StaleOrReplayedInterleavedResponsesAreRejected) {
  XleaveServer server;
  const RandomFill random = counting_random(0x53);
  const XleaveExchange first{0}, second{1'000'000}, third{2'000'000};
  auto e1 = NtpClientExchange::plain(random);
  auto s1 = e1.handle_response(server.serve(e1.request(), first).bytes, first.t1(), first.t4(), nullptr);
  ASSERT_TRUE(s1);
  auto e2 = NtpClientExchange::plain(random, &s1->next);
  const Answer a2 = server.serve(e2.request(), second);
  auto s2 = e2.handle_response(a2.bytes, second.t1(), second.t4(), nullptr);
  ASSERT_TRUE(s2 && s2->interleaved);
  auto e3 = NtpClientExchange::plain(random, &s2->next);
  // The previous exchange's answer, late or replayed, echoes neither of the new cookies.
  auto stale = e3.handle_response(a2.bytes, third.t1(), third.t4(), nullptr);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().problem, ResponseProblem::kNotOurs);

  // An answer that echoes our receive cookie but carries a transmit timestamp outside the
  // previous exchange cannot be combined with our t1/t4: rejected, never a sample.
  Answer a3 = server.serve(e3.request(), third);
  ASSERT_TRUE(a3.response.interleaved);
  for (const NtpTimestamp bad : {ntp_us(first.start), ntp_us(third.start + 7000)}) {
    Buffer tampered = a3.bytes;
    ByteWriter(std::span<std::uint8_t>(tampered).subspan(40, 8)).u64(bad.raw());
    auto rejected = e3.handle_response(tampered, third.t1(), third.t4(), nullptr);
    ASSERT_FALSE(rejected);
    EXPECT_EQ(rejected.error().problem, ResponseProblem::kMalformed);
  }
  // A basic client that never asked for interleaving cannot be fooled by an answer echoing some
  // other field: only its transmit timestamp is accepted as origin.
  auto e4 = NtpClientExchange::plain(random);
  Buffer forged = a3.bytes;
  ByteWriter(std::span<std::uint8_t>(forged).subspan(24, 8)).u64(0);
  EXPECT_FALSE(e4.handle_response(forged, third.t1(), third.t4(), nullptr));
}

// A request in the shape RFC 5905 clients send: the previous answer's transmit timestamp as
// origin, the client's own receive time of it, a fresh transmit timestamp.
Buffer basic_follow_up(NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit) {
  NtpHeader h;
  h.mode = NtpMode::kClient;
  h.origin_time = origin;
  h.receive_time = receive;
  h.transmit_time = transmit;
  Buffer request(kNtpHeaderLength);
  ByteWriter writer(request);
  write_ntp_header(writer, h);
  return request;
}

// How basic clients got interleaved answers (issue 24): client A's answer carries T3 = X; later
// client B's request happens to be received at X, so the server saves an entry keyed X; A's next
// basic request echoes X as its origin (RFC 5905 §8) and named B's entry.
TEST(NtpResponderInterleaved, BasicRequestWhoseOriginEqualsAnEntrysKeyGetsABasicAnswer) {
  XleaveServer server;
  const XleaveExchange first{0}, second{1'000'000};
  const Answer a1 = server.serve(plain_request(0x90), first, nullptr, kClientA);
  const NtpTimestamp x = header_of(a1.bytes).transmit_time;
  // Client B, received exactly when A's T3 was read.
  server.tx = x + Duration::from_raw(4096);
  const Answer b = respond(server, plain_request(0x98), nullptr, RateDecision::kAllow, x, kClientB);
  ASSERT_EQ(b.response.kind, ResponseKind::kPlain);
  ASSERT_TRUE(b.response.transmit_handle);
  const Answer a2 = server.serve(basic_follow_up(x, ntp_us(11'500), ntp_us(1'000'000)), second, nullptr, kClientA);
  ASSERT_EQ(a2.response.kind, ResponseKind::kPlain);
  EXPECT_FALSE(a2.response.interleaved);
  EXPECT_EQ(header_of(a2.bytes).origin_time, ntp_us(1'000'000));
  // Nor when B's entry and A's echo belong to the same client: a client's own later receive
  // timestamp never equals a transmit timestamp it was sent.
  const Answer a3 = respond(server, plain_request(0xa0), nullptr, RateDecision::kAllow,
                            header_of(a2.bytes).transmit_time, kClientA);
  ASSERT_EQ(a3.response.kind, ResponseKind::kPlain);
  const Answer a4 = server.serve(basic_follow_up(header_of(a2.bytes).transmit_time, ntp_us(1'011'500), ntp_us(2'000'000)),
                                 XleaveExchange{2'000'000}, nullptr, kClientA);
  EXPECT_FALSE(a4.response.interleaved);
  EXPECT_EQ(server.responder.counters().interleaved, 0u);
}

// One client can never spend another's entry: B sends exactly the interleaved request A would
// send (A's saved receive timestamp as origin) and gets a basic answer; A's entry stays for A.
TEST(NtpResponderInterleaved, RequestFromAnotherClientNamingAnEntryGetsABasicAnswer) {
  XleaveServer server;
  const RandomFill random = counting_random(0x58);
  const XleaveExchange first{0}, second{1'000'000}, third{2'000'000};
  auto basic = NtpClientExchange::plain(random);
  auto s1 = basic.handle_response(server.serve(basic.request(), first, nullptr, kClientA).bytes, first.t1(),
                                  first.t4(), nullptr);
  ASSERT_TRUE(s1);
  auto xleave = NtpClientExchange::plain(random, &s1->next);
  ASSERT_TRUE(xleave.asks_interleaved());

  const Answer from_b = server.serve(xleave.request(), second, nullptr, kClientB);
  ASSERT_EQ(from_b.response.kind, ResponseKind::kPlain);
  EXPECT_FALSE(from_b.response.interleaved);
  EXPECT_NE(header_of(from_b.bytes).transmit_time, as_sent(first.wire_tx()));  // A's stamp stays A's

  const Answer from_a = server.serve(xleave.request(), third, nullptr, kClientA);
  EXPECT_TRUE(from_a.response.interleaved);
  EXPECT_EQ(header_of(from_a.bytes).transmit_time, as_sent(first.wire_tx()));
  EXPECT_EQ(server.responder.counters().interleaved, 1u);
}

TEST(NtpResponderInterleaved, RequestWithEqualReceiveAndTransmitIsAnsweredBasic) {
  XleaveServer server;
  const RandomFill random = counting_random(0x54);
  const XleaveExchange first{0}, second{1'000'000};
  auto e1 = NtpClientExchange::plain(random);
  server.serve(e1.request(), first);
  NtpHeader h;
  h.mode = NtpMode::kClient;
  h.origin_time = as_saved(first.rx());
  h.receive_time = NtpTimestamp::from_raw(0x1234);
  h.transmit_time = NtpTimestamp::from_raw(0x1234);
  Buffer request(kNtpHeaderLength);
  ByteWriter writer(request);
  write_ntp_header(writer, h);
  const Answer answer = server.serve(request, second);
  EXPECT_FALSE(answer.response.interleaved);
  EXPECT_EQ(header_of(answer.bytes).origin_time, h.transmit_time);
}

TEST(NtpResponderInterleaved, ReceiveTimestampsStayUniqueWhenTheClockStandsStill) {
  XleaveServer server;
  const XleaveExchange same{0};
  NtpTimestamp last_rx;
  for (std::uint8_t i = 0; i < 5; ++i) {
    const Answer answer = server.serve(plain_request(static_cast<std::uint8_t>(0x60 + 8 * i)), same);
    const NtpHeader h = header_of(answer.bytes);
    EXPECT_NE(h.receive_time, h.transmit_time);
    if (i > 0) {
      EXPECT_NE(h.receive_time, last_rx);
    }
    last_rx = h.receive_time;
  }
}

TEST(NtpResponderInterleaved, KissesAreNeverSavedOrInterleaved) {
  XleaveServer server;
  server.tx = XleaveExchange{0}.daemon_tx();
  const Answer kiss = respond(server, plain_request(0x70), nullptr, RateDecision::kKiss, XleaveExchange{0}.rx());
  EXPECT_EQ(kiss.response.kind, ResponseKind::kRateKiss);
  EXPECT_FALSE(kiss.response.transmit_handle);
}

TEST(NtpResponderInterleaved, NtsInterleavedExchangeIsAuthenticatedAndNeverMixesWithPlain) {
  auto ring = seeded_ring(31);
  const NtsKeys keys = keys_for(15);
  auto session = client_session(keys, ring, 8);
  const RandomFill random = counting_random(0x80);
  XleaveServer server;
  const XleaveExchange first{0}, second{1'000'000}, third{2'000'000};

  auto e1 = NtpClientExchange::nts(session, random).value();
  const Answer a1 = server.serve(e1.request(), first, &ring);
  ASSERT_EQ(a1.response.kind, ResponseKind::kNts);
  auto s1 = e1.handle_response(a1.bytes, first.t1(), first.t4(), &session);
  ASSERT_TRUE(s1) << s1.error().message;

  auto e2 = NtpClientExchange::nts(session, random, &s1->next).value();
  EXPECT_NE(unique_id_of(e2.request()), unique_id_of(e1.request()));
  const Answer a2 = server.serve(e2.request(), second, &ring);
  ASSERT_EQ(a2.response.kind, ResponseKind::kNts);
  EXPECT_TRUE(a2.response.interleaved);
  // Tampering with the (authenticated) transmit timestamp fails authentication.
  Buffer tampered = a2.bytes;
  tampered[47] ^= 1;
  auto forged = e2.handle_response(tampered, second.t1(), second.t4(), &session);
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().problem, ResponseProblem::kAuthFailed);
  auto s2 = e2.handle_response(a2.bytes, second.t1(), second.t4(), &session);
  ASSERT_TRUE(s2) << s2.error().message;
  EXPECT_TRUE(s2->authenticated);
  EXPECT_TRUE(s2->interleaved);
  EXPECT_NEAR(s2->offset.seconds(), 0.0, 1e-9);

  // A plain request naming the NTS exchange's receive timestamp gets the basic mode: a transmit
  // timestamp of an authenticated exchange is only given to an authenticated request (and the
  // other way round).
  auto plain = NtpClientExchange::plain(random, &s2->next);
  const Answer a3 = server.serve(plain.request(), third);
  EXPECT_FALSE(a3.response.interleaved);
  // ...so the entry is still there for the NTS client's next request.
  auto e3 = NtpClientExchange::nts(session, random, &s2->next).value();
  const Answer a4 = server.serve(e3.request(), XleaveExchange{3'000'000}, &ring);
  EXPECT_TRUE(a4.response.interleaved);
  EXPECT_EQ(server.responder.counters().interleaved, 2u);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// A smearing server ([server] leap-smear): a leap second inserted 6 h after the exchange (whose
// timestamps are at kNowUnix + 0.5 s).
LeapSmear insertion_in(double hours) {
  return LeapSmear{.leap = static_cast<std::int64_t>(kNowUnix) + static_cast<std::int64_t>(hours * 3600),
                   .kind = Leap::kInsert};
}

TEST(NtpResponderSmear, ServedTimestampsAreSmearedPlainAndNts) {
  auto ring = seeded_ring(21);
  const NtsKeys keys = keys_for(15);
  const Times times = times_with_offset(0);
  Server server(times.tx);
  ServerClockState state = synced_clock();
  state.smear = insertion_in(6);
  server.responder.set_clock_state(state);
  auto session = client_session(keys, ring, 8);
  auto exchange = NtpClientExchange::nts(session, counting_random(0x36)).value();
  // 6 h before the leap is 6 h into the 24 h window: a quarter of the second the smear takes off
  // (T2 is 0.505 s after kNowUnix).
  const double since_noon = 6 * 3600 + 0.505;
  const double expected = -since_noon / 86401;
  for (const Answer& answer : {respond(server, plain_request(5), &ring, RateDecision::kAllow, times.rx),
                               respond(server, exchange.request(), &ring, RateDecision::kAllow, times.rx)}) {
    ASSERT_NE(answer.response.kind, ResponseKind::kDropped);
    const NtpHeader h = header_of(answer.bytes);
    EXPECT_NEAR((h.receive_time - times.rx).seconds(), expected, 1e-7);
    EXPECT_NEAR((h.transmit_time - times.tx).seconds(), expected, 1e-7);
    EXPECT_NEAR((h.transmit_time - h.receive_time).seconds(), 0.001 * 86400 / 86401, 1e-8);
  }
  // Outside the window nothing changes.
  state.smear = insertion_in(13);
  server.responder.set_clock_state(state);
  const NtpHeader h = header_of(respond(server, plain_request(6), &ring, RateDecision::kAllow, times.rx).bytes);
  EXPECT_EQ(h.receive_time, times.rx);
  EXPECT_EQ(h.transmit_time, times.tx);
}

TEST(NtpResponderSmear, TheKernelsRepeatedSecondIsServedAsTheSecondPass) {
  // The exchange's stamps fall in the second before the leap's midnight (23:59:59.50x).
  const Times times = times_with_offset(0);
  Server server(times.tx);
  ServerClockState state = synced_clock();
  state.smear = LeapSmear{.leap = static_cast<std::int64_t>(kNowUnix) + 1, .kind = Leap::kInsert};
  server.responder.set_clock_state(state);
  bool inserted = false;
  server.responder.set_inserted_second_probe([&inserted] { return inserted; });
  const NtpHeader first = header_of(respond(server, plain_request(7), nullptr, RateDecision::kAllow, times.rx).bytes);
  EXPECT_NEAR((first.receive_time - times.rx).seconds(), -0.5, 1e-4);
  inserted = true;  // the kernel now shows 23:59:59 the second time
  const NtpHeader second = header_of(respond(server, plain_request(8), nullptr, RateDecision::kAllow, times.rx).bytes);
  EXPECT_NEAR((second.receive_time - times.rx).seconds(), 0.5, 1e-4);
  // A second of real time apart, the two served times are a smeared second apart: no step back.
  EXPECT_NEAR((second.receive_time - first.receive_time).seconds(), 86400.0 / 86401, 1e-4);
}

}  // namespace
}  // namespace kairos
