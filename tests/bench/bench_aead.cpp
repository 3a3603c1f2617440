// AEAD cost for the shapes NTS puts on the wire: a client request authenticates ~190 bytes of
// header, UID and cookie with an empty plaintext; a server response authenticates header and UID
// and encrypts one fresh 100-byte cookie field.
#include <benchmark/benchmark.h>

#include <vector>

#include "nts/aead.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

void BM_AeadSeal(benchmark::State& state, std::size_t ad_size, std::size_t plain_size) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 7)).value();
  const Buffer ad(ad_size, 1), nonce(16, 2), plaintext(plain_size, 3);
  Buffer out(plain_size + kAeadTagLength);
  const ByteView parts[] = {ad};
  for (auto _ : state) {
    auto n = aead.seal(parts, nonce, plaintext, out);
    benchmark::DoNotOptimize(n);
  }
}

void BM_AeadOpen(benchmark::State& state, std::size_t ad_size, std::size_t plain_size) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 7)).value();
  const Buffer ad(ad_size, 1), nonce(16, 2), plaintext(plain_size, 3);
  Buffer ciphertext(plain_size + kAeadTagLength), out(plain_size + 1);
  const ByteView parts[] = {ad};
  (void)aead.seal(parts, nonce, plaintext, ciphertext).value();
  for (auto _ : state) {
    auto n = aead.open(parts, nonce, ciphertext, out);
    if (!n) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(n);
  }
}

BENCHMARK_CAPTURE(BM_AeadSeal, nts_request, 188, 0);
BENCHMARK_CAPTURE(BM_AeadOpen, nts_request, 188, 0);
BENCHMARK_CAPTURE(BM_AeadSeal, nts_response, 84, 104);
BENCHMARK_CAPTURE(BM_AeadOpen, nts_response, 84, 104);

void BM_AeadCreate(benchmark::State& state) {
  const Buffer key(32, 7);
  for (auto _ : state) {
    auto aead = Aead::create(AeadId::kAesSivCmac256, key);
    benchmark::DoNotOptimize(aead);
  }
}
BENCHMARK(BM_AeadCreate);

}  // namespace
}  // namespace kairos
