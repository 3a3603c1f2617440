// The NTP/NTS server's per-request cost: NtpResponder::respond for a plain request, NTS requests
// with 0, 1 and 7 placeholders (AEAD 15, as built by the kairos client), an NTS NAK, and the
// pieces that dominate it (AEAD set-up, nonces, parsing, cookies).
// Run: kairos_bench --benchmark_filter=Responder --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <openssl/rand.h>

#include <array>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "nts/cookie.hpp"
#include "nts/ntp_responder.hpp"
#include "nts/nts_packet.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

NtpTimestamp clock_now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return NtpTimestamp::from_timespec(t);
}

KeyRing bench_ring(std::uint8_t salt) {
  std::array<std::uint8_t, 32> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + salt);
  auto ring = KeyRing::from_seed(Seed::create(bytes).value(), KeyRingConfig{86400, 7}, 19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

NtsKeys bench_keys() {
  std::array<std::uint8_t, 32> c2s{}, s2c{};
  c2s.fill(0x11);
  s2c.fill(0x22);
  return NtsKeys::create(15, c2s, s2c).value();
}

// An NTS request from the real client, with `placeholders` placeholders (a jar of 8 - p cookies
// before the one spent).
Buffer client_request(KeyRing& ring, std::size_t placeholders) {
  const NtsKeys keys = bench_keys();
  KeClientResult ke{keys, {}, "bench", kNtpDefaultPort, false, false};
  for (std::size_t i = 0; i < kNtsCookieTarget - placeholders; ++i) {
    Buffer cookie(kCookieMaxLength);
    cookie.resize(seal_cookie(keys, ring.current(), cookie).value());
    ke.cookies.push_back(cookie);
  }
  auto session = NtsClientSession::create(ke).value();
  auto exchange = NtpClientExchange::nts(session, system_random()).value();
  return Buffer(exchange.request().begin(), exchange.request().end());
}

Buffer plain_request() {
  auto exchange = NtpClientExchange::plain(system_random());
  return Buffer(exchange.request().begin(), exchange.request().end());
}

NtpResponder make_responder(bool counter_mode) {
  RandomFill random = counter_mode ? counter_mode_random(system_random()).value() : system_random();
  NtpResponder responder(clock_now, random);
  ServerClockState state;
  state.leap = NtpLeap::kNone;
  state.stratum = 2;
  responder.set_clock_state(state);
  return responder;
}

void run(benchmark::State& state, NtpResponder& responder, const Buffer& request, KeyRing* ring, ResponseKind expect,
         RateDecision rate = RateDecision::kAllow) {
  Buffer out(request.size());
  const NtpTimestamp rx = clock_now();
  for (auto _ : state) {
    const Response r = responder.respond(request, rx, ClientAddress{}, rate, ring, out);
    if (r.kind != expect) {
      state.SkipWithError("unexpected response kind");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Responder_Plain(benchmark::State& state) {
  auto responder = make_responder(true);
  run(state, responder, plain_request(), nullptr, ResponseKind::kPlain);
}
BENCHMARK(BM_Responder_Plain);

void BM_Responder_PlainRateKiss(benchmark::State& state) {
  auto responder = make_responder(true);
  run(state, responder, plain_request(), nullptr, ResponseKind::kRateKiss, RateDecision::kKiss);
}
BENCHMARK(BM_Responder_PlainRateKiss);

// Arg: placeholders in the request (fresh cookies = 1 + placeholders).
void BM_Responder_Nts(benchmark::State& state) {
  auto ring = bench_ring(1);
  auto responder = make_responder(true);
  const Buffer request = client_request(ring, static_cast<std::size_t>(state.range(0)));
  run(state, responder, request, &ring, ResponseKind::kNts);
  state.counters["bytes"] = static_cast<double>(request.size());
}
BENCHMARK(BM_Responder_Nts)->Arg(0)->Arg(1)->Arg(7);

// The same with RAND_bytes for every nonce instead of the counter-mode source.
void BM_Responder_NtsRandBytes(benchmark::State& state) {
  auto ring = bench_ring(1);
  auto responder = make_responder(false);
  run(state, responder, client_request(ring, static_cast<std::size_t>(state.range(0))), &ring, ResponseKind::kNts);
}
BENCHMARK(BM_Responder_NtsRandBytes)->Arg(0)->Arg(1);

void BM_Responder_NtsRateKiss(benchmark::State& state) {
  auto ring = bench_ring(1);
  auto responder = make_responder(true);
  run(state, responder, client_request(ring, 0), &ring, ResponseKind::kRateKiss, RateDecision::kKiss);
}
BENCHMARK(BM_Responder_NtsRateKiss);

// A cookie from another ring: parse, a failed cookie open, the NAK.
void BM_Responder_Nak(benchmark::State& state) {
  auto ring = bench_ring(1);
  auto other = bench_ring(2);
  auto responder = make_responder(true);
  run(state, responder, client_request(other, 0), &ring, ResponseKind::kNak);
}
BENCHMARK(BM_Responder_Nak);

void BM_Responder_DropNotClientMode(benchmark::State& state) {
  auto responder = make_responder(true);
  Buffer request = plain_request();
  request[0] = static_cast<std::uint8_t>((request[0] & ~7u) | 6u);
  run(state, responder, request, nullptr, ResponseKind::kDropped);
}
BENCHMARK(BM_Responder_DropNotClientMode);

// ---- The pieces ------------------------------------------------------------------------------

void BM_Responder_AeadCreate(benchmark::State& state) {
  const NtsKeys keys = bench_keys();
  for (auto _ : state) {
    auto aead = Aead::create(keys.aead_id(), keys.c2s());
    benchmark::DoNotOptimize(aead);
  }
}
BENCHMARK(BM_Responder_AeadCreate);

void BM_Responder_AeadRekey(benchmark::State& state) {
  const NtsKeys keys = bench_keys();
  auto aead = Aead::create(keys.aead_id(), keys.s2c()).value();
  for (auto _ : state) {
    auto ok = aead.rekey(keys.c2s());
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_Responder_AeadRekey);

void BM_Responder_NonceRandBytes(benchmark::State& state) {
  std::array<std::uint8_t, 16> nonce{};
  for (auto _ : state) {
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) state.SkipWithError("RAND_bytes failed");
    benchmark::DoNotOptimize(nonce);
  }
}
BENCHMARK(BM_Responder_NonceRandBytes);

void BM_Responder_NonceCounterMode(benchmark::State& state) {
  auto random = counter_mode_random(system_random()).value();
  std::array<std::uint8_t, 16> nonce{};
  for (auto _ : state) {
    random(nonce);
    benchmark::DoNotOptimize(nonce);
  }
}
BENCHMARK(BM_Responder_NonceCounterMode);

void BM_Responder_ParseNtpPacket(benchmark::State& state) {
  auto ring = bench_ring(1);
  const Buffer request = client_request(ring, 1);
  for (auto _ : state) {
    auto parsed = parse_ntp_packet(request);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_Responder_ParseNtpPacket);

void BM_Responder_ParseNtsRequest(benchmark::State& state) {
  auto ring = bench_ring(1);
  const Buffer request = client_request(ring, 1);
  const auto parsed = parse_ntp_packet(request).value();
  for (auto _ : state) {
    auto view = parse_nts_request(request, parsed);
    benchmark::DoNotOptimize(view);
  }
}
BENCHMARK(BM_Responder_ParseNtsRequest);

void BM_Responder_OpenCookieFromField(benchmark::State& state) {
  auto ring = bench_ring(1);
  const Buffer request = client_request(ring, 0);
  const auto view = parse_nts_request(request).value();
  for (auto _ : state) {
    auto keys = open_cookie(cookie_from_field(view.cookie).value(), ring);
    if (!keys) state.SkipWithError("cookie did not open");
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_Responder_OpenCookieFromField);

}  // namespace
}  // namespace kairos
