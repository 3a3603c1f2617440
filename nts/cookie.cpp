#include "nts/cookie.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <string>

namespace kairos {
namespace {

// Wipes a stack buffer of key material on every path out of a function.
template <std::size_t N>
struct WipedBuffer {
  std::array<std::uint8_t, N> bytes{};
  ~WipedBuffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

std::array<std::uint8_t, kCookieKeyIdLength> key_id_bytes(std::uint32_t id) {
  std::array<std::uint8_t, kCookieKeyIdLength> out{};
  ByteWriter(out).u32(id);
  return out;
}

bool is_cookie_length(std::size_t n) {
  for (AeadId id : {AeadId::kAesSivCmac256, AeadId::kAesSivCmac384, AeadId::kAesSivCmac512}) {
    if (cookie_length(static_cast<std::uint16_t>(id)) == n) return true;
  }
  return false;
}

}  // namespace

std::optional<std::size_t> cookie_length(std::uint16_t aead_id) {
  auto key_length = aead_key_length(aead_id);
  if (!key_length) return std::nullopt;
  return kCookieOverhead + 4 + 2 * *key_length;
}

std::optional<ByteView> cookie_from_field(ByteView body) {
  for (AeadId id : {AeadId::kAesSivCmac256, AeadId::kAesSivCmac384, AeadId::kAesSivCmac512}) {
    const std::size_t length = *cookie_length(static_cast<std::uint16_t>(id));
    if (body.size() < length || body.size() - length > 3) continue;
    const ByteView padding = body.subspan(length);
    if (std::all_of(padding.begin(), padding.end(), [](std::uint8_t b) { return b == 0; })) return body.first(length);
    return std::nullopt;
  }
  return std::nullopt;
}

Result<std::size_t> seal_cookie(const NtsKeys& keys, MasterKey& master,
                                std::span<const std::uint8_t, kCookieNonceLength> nonce, std::span<std::uint8_t> out) {
  WipedBuffer<kCookieMaxPlaintext> plain;
  ByteWriter p(plain.bytes);
  p.u16(keys.aead_id());
  p.u16(0);
  p.bytes(keys.c2s());
  p.bytes(keys.s2c());
  const std::size_t plain_length = p.size();

  const std::size_t total = kCookieOverhead + plain_length;
  if (out.size() < total) return fail("cookie buffer too small: need " + std::to_string(total) + " bytes");
  const auto key_id = key_id_bytes(master.id());
  ByteWriter w(out);
  w.bytes(key_id);
  w.bytes(nonce);
  const ByteView associated_data[] = {key_id};
  auto sealed = master.aead().seal(associated_data, nonce, ByteView(plain.bytes.data(), plain_length),
                                   out.subspan(w.size()));
  if (!sealed) return std::unexpected(sealed.error());
  return w.size() + *sealed;
}

Result<std::size_t> seal_cookie(const NtsKeys& keys, MasterKey& master, std::span<std::uint8_t> out) {
  std::array<std::uint8_t, kCookieNonceLength> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return fail("RAND_bytes failed for a cookie nonce");
  return seal_cookie(keys, master, nonce, out);
}

Result<NtsKeys> open_cookie(ByteView cookie, KeyRing& ring) {
  // Only the lengths of supported AEADs can be genuine; checking first keeps junk away from the
  // cipher and gives a precise error.
  if (!is_cookie_length(cookie.size()))
    return fail("cookie length " + std::to_string(cookie.size()) + " fits no supported AEAD");

  ByteReader r(cookie);
  const ByteView key_id = *r.bytes(kCookieKeyIdLength);
  const ByteView nonce = *r.bytes(kCookieNonceLength);
  const ByteView ciphertext = r.rest();
  const std::uint32_t id = *ByteReader(key_id).u32();
  MasterKey* master = ring.find(id);
  if (master == nullptr) return fail("cookie key id " + std::to_string(id) + " is unknown or expired");

  WipedBuffer<kCookieMaxPlaintext> plain;
  const ByteView associated_data[] = {key_id};
  auto opened = master->aead().open(associated_data, nonce, ciphertext, plain.bytes);
  if (!opened) return fail("cookie authentication failed");

  ByteReader p(ByteView(plain.bytes.data(), *opened));
  const std::uint16_t aead_id = *p.u16();
  if (*p.u16() != 0) return fail("cookie has a non-zero reserved field");
  auto key_length = aead_key_length(aead_id);
  if (!key_length) return fail("cookie holds unsupported AEAD " + std::to_string(aead_id));
  if (p.remaining() != 2 * *key_length)
    return fail("cookie holds " + std::to_string(p.remaining()) + " key bytes for AEAD " + std::to_string(aead_id));
  const ByteView c2s = *p.bytes(*key_length);
  const ByteView s2c = *p.bytes(*key_length);
  return NtsKeys::create(aead_id, c2s, s2c);
}

}  // namespace kairos
