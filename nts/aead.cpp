#include "nts/aead.hpp"

#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <string>

namespace kairos {
namespace {

const char* cipher_name(AeadId id) {
  switch (id) {
    case AeadId::kAesSivCmac256: return "AES-128-SIV";  // two 128-bit keys: 32 bytes
    case AeadId::kAesSivCmac384: return "AES-192-SIV";
    case AeadId::kAesSivCmac512: return "AES-256-SIV";
  }
  return nullptr;
}

std::string openssl_error(const char* what) {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + ": " + buf;
}

bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(std::numeric_limits<int>::max()); }

// Feeds the associated data components and the nonce, each as its own S2V input.
bool feed_associated_data(EVP_CIPHER_CTX* ctx, std::span<const ByteView> associated_data, ByteView nonce) {
  int len = 0;
  for (ByteView ad : associated_data) {
    if (!fits_int(ad.size()) || EVP_CipherUpdate(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1)
      return false;
  }
  if (!nonce.empty()) {
    if (!fits_int(nonce.size()) ||
        EVP_CipherUpdate(ctx, nullptr, &len, nonce.data(), static_cast<int>(nonce.size())) != 1)
      return false;
  }
  return true;
}

}  // namespace

std::optional<std::size_t> aead_key_length(std::uint16_t id) {
  switch (id) {
    case 15: return 32;
    case 16: return 48;
    case 17: return 64;
    default: return std::nullopt;
  }
}

void Aead::CtxDeleter::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

Aead::Aead(AeadId id, ByteView key, CtxPtr seal_ctx, CtxPtr open_ctx)
    : id_(id), key_length_(key.size()), seal_ctx_(std::move(seal_ctx)), open_ctx_(std::move(open_ctx)) {
  std::copy(key.begin(), key.end(), key_.begin());
}
Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() { OPENSSL_cleanse(key_.data(), key_.size()); }

// OpenSSL 3.0's SIV allows one operation per key setup (its S2V state is consumed), so every
// operation sets the key again on the context it already has.
bool Aead::rearm(EVP_CIPHER_CTX* ctx, bool encrypt) const {
  return EVP_CipherInit_ex2(ctx, nullptr, key_.data(), nullptr, encrypt ? 1 : 0, nullptr) == 1;
}

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
  std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> cipher(EVP_CIPHER_fetch(nullptr, cipher_name(id), nullptr),
                                                                 &EVP_CIPHER_free);
  if (!cipher) return fail(openssl_error("OpenSSL has no AES-SIV"));
  CtxPtr seal_ctx(EVP_CIPHER_CTX_new());
  CtxPtr open_ctx(EVP_CIPHER_CTX_new());
  if (!seal_ctx || !open_ctx) return fail("out of memory for cipher contexts");
  if (EVP_EncryptInit_ex2(seal_ctx.get(), cipher.get(), key.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(open_ctx.get(), cipher.get(), key.data(), nullptr, nullptr) != 1) {
    return fail(openssl_error("AES-SIV key setup failed"));
  }
  return Aead(id, key, std::move(seal_ctx), std::move(open_ctx));
}

Result<std::size_t> Aead::seal(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext,
                               std::span<std::uint8_t> out) {
  if (out.size() < plaintext.size() + kAeadTagLength) return fail("AEAD output buffer too small");
  if (!fits_int(plaintext.size())) return fail("AEAD plaintext too large");
  EVP_CIPHER_CTX* ctx = seal_ctx_.get();
  if (!rearm(ctx, true) ||
      !feed_associated_data(ctx, associated_data, nonce)) {
    return fail(openssl_error("AEAD seal failed"));
  }
  int len = 0;
  std::uint8_t* body = out.data() + kAeadTagLength;
  // SIV takes the plaintext in a single update: the tag is computed over all of it first.
  if (EVP_EncryptUpdate(ctx, body, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, body + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagLength), out.data()) != 1) {
    return fail(openssl_error("AEAD seal failed"));
  }
  return plaintext.size() + kAeadTagLength;
}

Result<std::size_t> Aead::open(std::span<const ByteView> associated_data, ByteView nonce, ByteView ciphertext,
                               std::span<std::uint8_t> out) {
  if (ciphertext.size() < kAeadTagLength) return fail("AEAD ciphertext shorter than its tag");
  const std::size_t plain_size = ciphertext.size() - kAeadTagLength;
  if (out.size() < plain_size) return fail("AEAD output buffer too small");
  if (!fits_int(ciphertext.size())) return fail("AEAD ciphertext too large");
  EVP_CIPHER_CTX* ctx = open_ctx_.get();
  // OpenSSL's SIV wants the expected tag before any data.
  std::uint8_t tag[kAeadTagLength];
  std::copy_n(ciphertext.data(), kAeadTagLength, tag);
  if (!rearm(ctx, false) ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagLength), tag) != 1 ||
      !feed_associated_data(ctx, associated_data, nonce)) {
    return fail(openssl_error("AEAD open failed"));
  }
  int len = 0;
  std::uint8_t empty = 0;
  std::uint8_t* dst = plain_size ? out.data() : &empty;
  const int update_ok = EVP_DecryptUpdate(ctx, dst, &len, ciphertext.data() + kAeadTagLength,
                                          static_cast<int>(plain_size));
  const int final_ok = update_ok == 1 ? EVP_DecryptFinal_ex(ctx, dst + len, &len) : 0;
  if (update_ok != 1 || final_ok != 1) {
    ERR_clear_error();
    return fail("AEAD authentication failed");
  }
  return plain_size;
}

}  // namespace kairos
