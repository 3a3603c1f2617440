// Cookie seal and open for AEAD 15, the work an NTS server does per request.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>

#include "nts/cookie.hpp"

namespace {

kairos::KeyRing bench_ring() {
  std::array<std::uint8_t, 32> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 1);
  auto ring = kairos::KeyRing::from_seed(kairos::Seed::create(bytes).value(), kairos::KeyRingConfig{86400, 7},
                                         19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

kairos::NtsKeys bench_keys() {
  std::array<std::uint8_t, 32> c2s{}, s2c{};
  c2s.fill(0x11);
  s2c.fill(0x22);
  return kairos::NtsKeys::create(15, c2s, s2c).value();
}

void BM_CookieSeal(benchmark::State& state) {
  auto ring = bench_ring();
  const auto keys = bench_keys();
  std::array<std::uint8_t, kairos::kCookieMaxLength> out{};
  std::array<std::uint8_t, kairos::kCookieNonceLength> nonce{};
  for (auto _ : state) {
    ++nonce[0];
    auto n = kairos::seal_cookie(keys, ring.current(), nonce, out);
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_CookieSeal);

// With the RAND_bytes nonce a server really uses.
void BM_CookieSealRandomNonce(benchmark::State& state) {
  auto ring = bench_ring();
  const auto keys = bench_keys();
  std::array<std::uint8_t, kairos::kCookieMaxLength> out{};
  for (auto _ : state) {
    auto n = kairos::seal_cookie(keys, ring.current(), out);
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_CookieSealRandomNonce);

void BM_CookieOpen(benchmark::State& state) {
  auto ring = bench_ring();
  std::array<std::uint8_t, kairos::kCookieMaxLength> cookie{};
  const std::array<std::uint8_t, kairos::kCookieNonceLength> nonce{};
  const auto n = kairos::seal_cookie(bench_keys(), ring.current(), nonce, cookie).value();
  for (auto _ : state) {
    auto keys = kairos::open_cookie(kairos::ByteView(cookie.data(), n), ring);
    if (!keys) state.SkipWithError("cookie did not open");
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_CookieOpen);

}  // namespace
