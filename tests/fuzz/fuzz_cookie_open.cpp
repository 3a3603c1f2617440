// Opens arbitrary bytes as a cookie against a fixed seeded ring (old, current and future keys).
// Seeds in tests/fuzz/corpus/cookie_open/ are valid cookies for this ring, one per AEAD.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nts/cookie.hpp"

namespace {

kairos::KeyRing make_ring() {
  std::uint8_t bytes[32];
  for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(0x10 + i);
  auto seed = kairos::Seed::create(bytes);
  if (!seed) std::abort();
  // Epoch 19000 of a daily ring, two old keys.
  auto ring = kairos::KeyRing::from_seed(*seed, kairos::KeyRingConfig{86400, 2}, 19000ull * 86400);
  if (!ring) std::abort();
  return std::move(*ring);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kairos::KeyRing ring = make_ring();
  auto keys = kairos::open_cookie(kairos::ByteView(data, size), ring);
  if (!keys) return 0;
  // Whatever opens must be a well-formed cookie: sealing its keys again gives the same length.
  std::uint8_t out[kairos::kCookieMaxLength];
  std::uint8_t nonce[kairos::kCookieNonceLength] = {};
  auto sealed = kairos::seal_cookie(*keys, ring.current(), nonce, out);
  if (!sealed || *sealed != size) std::abort();
  return 0;
}
