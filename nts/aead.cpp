#include "nts/aead.hpp"

#include "nts/openssl_error.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <limits>
#include <string>

namespace kairos {
namespace {

struct Ciphers {
  const char* cbc;  // names the block cipher CMAC runs on
  const char* ctr;
};

Ciphers ciphers_for(AeadId id) {
  switch (id) {
    case AeadId::kAesSivCmac256: return {"AES-128-CBC", "AES-128-CTR"};
    case AeadId::kAesSivCmac384: return {"AES-192-CBC", "AES-192-CTR"};
    case AeadId::kAesSivCmac512: return {"AES-256-CBC", "AES-256-CTR"};
  }
  return {nullptr, nullptr};
}

using Block = std::array<std::uint8_t, 16>;

// Multiplication by x in GF(2^128) (RFC 5297 §2.3).
void dbl(Block& b) {
  const std::uint8_t carry = b[0] >> 7;
  for (std::size_t i = 0; i < 15; ++i) b[i] = static_cast<std::uint8_t>((b[i] << 1) | (b[i + 1] >> 7));
  b[15] = static_cast<std::uint8_t>((b[15] << 1) ^ (carry ? 0x87 : 0));
}

void xor_into(Block& dst, const std::uint8_t* src) {
  for (std::size_t i = 0; i < 16; ++i) dst[i] ^= src[i];
}

bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(std::numeric_limits<int>::max()); }

}  // namespace

std::optional<std::size_t> aead_key_length(std::uint16_t id) {
  switch (id) {
    case 15: return 32;
    case 16: return 48;
    case 17: return 64;
    default: return std::nullopt;
  }
}

void Aead::MacDeleter::operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
void Aead::CipherDeleter::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() { OPENSSL_cleanse(cmac_of_zero_.data(), cmac_of_zero_.size()); }

Result<Aead> Aead::create(std::uint16_t id, ByteView key) {
  if (!aead_key_length(id)) return fail("unsupported AEAD algorithm " + std::to_string(id));
  return create(static_cast<AeadId>(id), key);
}

Result<Aead> Aead::create(AeadId id, ByteView key) {
  auto expected_length = aead_key_length(static_cast<std::uint16_t>(id));
  if (!expected_length) return fail("unsupported AEAD algorithm " + std::to_string(static_cast<int>(id)));
  if (key.size() != *expected_length) {
    return fail("AEAD " + std::to_string(static_cast<int>(id)) + " needs a " + std::to_string(*expected_length) +
                "-byte key, got " + std::to_string(key.size()));
  }
  // RFC 5297 §2.2: the first half of the key is for S2V (CMAC), the second for CTR.
  const std::size_t half = key.size() / 2;
  const Ciphers names = ciphers_for(id);

  Aead aead;
  aead.id_ = id;
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_CMAC, nullptr),
                                                        &EVP_MAC_free);
  if (!mac) return fail(openssl_error("OpenSSL has no CMAC"));
  aead.mac_.reset(EVP_MAC_CTX_new(mac.get()));
  if (!aead.mac_) return fail("out of memory for CMAC");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>(names.cbc), 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(aead.mac_.get(), key.data(), half, params) != 1) return fail(openssl_error("CMAC key setup failed"));

  std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> ctr(EVP_CIPHER_fetch(nullptr, names.ctr, nullptr),
                                                              &EVP_CIPHER_free);
  if (!ctr) return fail(openssl_error("OpenSSL has no AES-CTR"));
  aead.ctr_.reset(EVP_CIPHER_CTX_new());
  if (!aead.ctr_ || EVP_EncryptInit_ex2(aead.ctr_.get(), ctr.get(), key.data() + half, nullptr, nullptr) != 1) {
    return fail(openssl_error("AES-CTR key setup failed"));
  }

  const Block zero{};
  if (!aead.cmac(zero, {}, aead.cmac_of_zero_)) return fail(openssl_error("CMAC failed"));
  aead.keyed_ = true;
  return aead;
}

Result<void> Aead::rekey(ByteView key) {
  keyed_ = false;
  if (!mac_ || !ctr_) return fail("AEAD was moved from");
  const std::size_t expected_length = *aead_key_length(static_cast<std::uint16_t>(id_));
  if (key.size() != expected_length) {
    return fail("AEAD " + std::to_string(static_cast<int>(id_)) + " needs a " + std::to_string(expected_length) +
                "-byte key, got " + std::to_string(key.size()));
  }
  const std::size_t half = key.size() / 2;
  // Both contexts keep their cipher: a key with null parameters or a null cipher re-keys only.
  if (EVP_MAC_init(mac_.get(), key.data(), half, nullptr) != 1) return fail(openssl_error("CMAC key setup failed"));
  if (EVP_EncryptInit_ex2(ctr_.get(), nullptr, key.data() + half, nullptr, nullptr) != 1) {
    return fail(openssl_error("AES-CTR key setup failed"));
  }
  const Block zero{};
  if (!cmac(zero, {}, cmac_of_zero_)) return fail(openssl_error("CMAC failed"));
  keyed_ = true;
  return {};
}

// CMAC of a ‖ b, re-arming the keyed context (a null key keeps the key schedule).
bool Aead::cmac(ByteView a, ByteView b, Block& out) {
  std::size_t length = 0;
  return EVP_MAC_init(mac_.get(), nullptr, 0, nullptr) == 1 &&
         (a.empty() || EVP_MAC_update(mac_.get(), a.data(), a.size()) == 1) &&
         (b.empty() || EVP_MAC_update(mac_.get(), b.data(), b.size()) == 1) &&
         EVP_MAC_final(mac_.get(), out.data(), &length, out.size()) == 1 && length == out.size();
}

// S2V (RFC 5297 §2.4) over the associated data, the nonce (if any) and the plaintext.
bool Aead::s2v(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext, Block& out) {
  Block d = cmac_of_zero_;
  Block mac{};
  auto absorb = [&](ByteView component) {
    if (!cmac(component, {}, mac)) return false;
    dbl(d);
    xor_into(d, mac.data());
    return true;
  };
  for (ByteView ad : associated_data) {
    if (!absorb(ad)) return false;
  }
  if (!nonce.empty() && !absorb(nonce)) return false;

  Block last{};
  if (plaintext.size() >= 16) {
    // T = Sn xorend D: only the last block changes, so MAC the head unchanged.
    std::copy_n(plaintext.end() - 16, 16, last.begin());
    xor_into(last, d.data());
    return cmac(plaintext.first(plaintext.size() - 16), last, out);
  }
  // T = dbl(D) xor pad(Sn), pad = Sn ‖ 0x80 ‖ 0…
  dbl(d);
  std::copy(plaintext.begin(), plaintext.end(), last.begin());
  last[plaintext.size()] = 0x80;
  xor_into(last, d.data());
  return cmac(last, {}, out);
}

bool Aead::ctr(const Block& v, ByteView in, std::uint8_t* out) {
  if (in.empty()) return true;
  // RFC 5297 §2.5: clear the top bit of each of the last two 32-bit words of the IV.
  Block q = v;
  q[8] &= 0x7f;
  q[12] &= 0x7f;
  int length = 0;
  return fits_int(in.size()) && EVP_EncryptInit_ex2(ctr_.get(), nullptr, nullptr, q.data(), nullptr) == 1 &&
         EVP_EncryptUpdate(ctr_.get(), out, &length, in.data(), static_cast<int>(in.size())) == 1 &&
         static_cast<std::size_t>(length) == in.size();
}

Result<std::size_t> Aead::seal(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext,
                               std::span<std::uint8_t> out) {
  if (!keyed_) return fail("AEAD has no key");
  if (out.size() < plaintext.size() + kAeadTagLength) return fail("AEAD output buffer too small");
  if (associated_data.size() > kAeadMaxAssociatedData) return fail("too many AEAD associated data components");
  Block v{};
  if (!s2v(associated_data, nonce, plaintext, v)) return fail(openssl_error("AEAD seal failed"));
  // Encrypt first: out may alias nothing but is written only after S2V has read the plaintext.
  if (!ctr(v, plaintext, out.data() + kAeadTagLength)) return fail(openssl_error("AEAD seal failed"));
  std::copy(v.begin(), v.end(), out.begin());
  return plaintext.size() + kAeadTagLength;
}

Result<std::size_t> Aead::open(std::span<const ByteView> associated_data, ByteView nonce, ByteView ciphertext,
                               std::span<std::uint8_t> out) {
  if (!keyed_) return fail("AEAD has no key");
  if (ciphertext.size() < kAeadTagLength) return fail("AEAD ciphertext shorter than its tag");
  if (associated_data.size() > kAeadMaxAssociatedData) return fail("too many AEAD associated data components");
  const std::size_t plain_size = ciphertext.size() - kAeadTagLength;
  if (out.size() < plain_size) return fail("AEAD output buffer too small");
  Block v{};
  std::copy_n(ciphertext.begin(), kAeadTagLength, v.begin());
  std::span<std::uint8_t> plain = out.first(plain_size);
  Block check{};
  if (!ctr(v, ciphertext.subspan(kAeadTagLength), plain.data()) || !s2v(associated_data, nonce, plain, check)) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return fail(openssl_error("AEAD open failed"));
  }
  if (CRYPTO_memcmp(check.data(), v.data(), v.size()) != 0) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return fail("AEAD authentication failed");
  }
  return plain_size;
}

}  // namespace kairos
