#include "nts/aead.hpp"

#include "nts/openssl_error.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace kairos {
namespace {

struct Ciphers {
  const char* cbc;  // CMAC's block cipher, chained
  const char* ecb;  // CTR's block cipher, on counter blocks
};

Ciphers ciphers_for(AeadId id) {
  switch (id) {
    case AeadId::kAesSivCmac256: return {"AES-128-CBC", "AES-128-ECB"};
    case AeadId::kAesSivCmac384: return {"AES-192-CBC", "AES-192-ECB"};
    case AeadId::kAesSivCmac512: return {"AES-256-CBC", "AES-256-ECB"};
  }
  return {nullptr, nullptr};
}

using Block = std::array<std::uint8_t, 16>;
constexpr std::size_t kBlock = 16;
// Blocks per call into OpenSSL: enough to amortise the call, small enough for a stack buffer.
constexpr std::size_t kChunkBlocks = 16;

// Multiplication by x in GF(2^128) (RFC 5297 §2.3, RFC 4493 §2.3).
void dbl(Block& b) {
  const std::uint8_t carry = b[0] >> 7;
  for (std::size_t i = 0; i < 15; ++i) b[i] = static_cast<std::uint8_t>((b[i] << 1) | (b[i + 1] >> 7));
  b[15] = static_cast<std::uint8_t>((b[15] << 1) ^ (carry ? 0x87 : 0));
}

void xor_into(Block& dst, const std::uint8_t* src) {
  for (std::size_t i = 0; i < 16; ++i) dst[i] ^= src[i];
}

// The next counter block: the whole block as a big-endian integer plus one.
void increment(Block& counter) {
  for (std::size_t i = counter.size(); i-- > 0;) {
    if (++counter[i] != 0) break;
  }
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

void Aead::CipherDeleter::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

// A moved-from Aead has no contexts: it must refuse to seal or open rather than use them.
Aead::Aead(Aead&& other) noexcept
    : id_(other.id_),
      keyed_(std::exchange(other.keyed_, false)),
      cmac_of_zero_(other.cmac_of_zero_),
      k1_(other.k1_),
      k2_(other.k2_),
      chain_(other.chain_),
      cbc_(std::move(other.cbc_)),
      ecb_(std::move(other.ecb_)) {}

Aead& Aead::operator=(Aead&& other) noexcept {
  if (this != &other) {
    id_ = other.id_;
    keyed_ = std::exchange(other.keyed_, false);
    cmac_of_zero_ = other.cmac_of_zero_;
    k1_ = other.k1_;
    k2_ = other.k2_;
    chain_ = other.chain_;
    cbc_ = std::move(other.cbc_);
    ecb_ = std::move(other.ecb_);
  }
  return *this;
}
Aead::~Aead() {
  OPENSSL_cleanse(cmac_of_zero_.data(), cmac_of_zero_.size());
  OPENSSL_cleanse(k1_.data(), k1_.size());
  OPENSSL_cleanse(k2_.data(), k2_.size());
  OPENSSL_cleanse(chain_.data(), chain_.size());
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
  const Ciphers names = ciphers_for(id);
  Aead aead;
  aead.id_ = id;
  for (auto [name, ctx] : {std::pair{names.cbc, &aead.cbc_}, std::pair{names.ecb, &aead.ecb_}}) {
    std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> cipher(EVP_CIPHER_fetch(nullptr, name, nullptr),
                                                                   &EVP_CIPHER_free);
    if (!cipher) return fail(openssl_error(std::string("OpenSSL has no ") + name));
    ctx->reset(EVP_CIPHER_CTX_new());
    // Bound to the cipher here, keyed by set_key; only whole blocks are ever fed, so no padding.
    if (!*ctx || EVP_EncryptInit_ex2(ctx->get(), cipher.get(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx->get(), 0) != 1) {
      return fail(openssl_error(std::string(name) + " setup failed"));
    }
  }
  if (!aead.set_key(key)) return fail(openssl_error("AEAD key setup failed"));
  return aead;
}

Result<void> Aead::rekey(ByteView key) {
  keyed_ = false;
  if (!cbc_ || !ecb_) return fail("AEAD was moved from");
  const std::size_t expected_length = *aead_key_length(static_cast<std::uint16_t>(id_));
  if (key.size() != expected_length) {
    return fail("AEAD " + std::to_string(static_cast<int>(id_)) + " needs a " + std::to_string(expected_length) +
                "-byte key, got " + std::to_string(key.size()));
  }
  if (!set_key(key)) return fail(openssl_error("AEAD key setup failed"));
  return {};
}

bool Aead::set_key(ByteView key) {
  keyed_ = false;
  // RFC 5297 §2.2: the first half of the key is for S2V (CMAC), the second for CTR.
  const std::size_t half = key.size() / 2;
  const Block zero{};
  if (EVP_EncryptInit_ex2(cbc_.get(), nullptr, key.data(), zero.data(), nullptr) != 1) return false;
  chain_ = zero;
  // RFC 4493 §2.3: L = AES(K, 0), K1 = dbl(L), K2 = dbl(K1). With a zero IV the first CBC block
  // is plain AES.
  if (!cbc_blocks(zero.data(), 1)) return false;
  k1_ = chain_;
  dbl(k1_);
  k2_ = k1_;
  dbl(k2_);
  if (EVP_EncryptInit_ex2(ecb_.get(), nullptr, key.data() + half, nullptr, nullptr) != 1) return false;
  keyed_ = true;  // cmac needs it; undone below on failure
  const ByteView zero_block[] = {zero};
  if (!cmac(zero_block, cmac_of_zero_)) {
    keyed_ = false;
    return false;
  }
  return true;
}

bool Aead::cbc_blocks(const std::uint8_t* in, std::size_t blocks) {
  std::array<std::uint8_t, kChunkBlocks * kBlock> out;
  while (blocks > 0) {
    const std::size_t n = std::min(blocks, kChunkBlocks);
    int length = 0;
    if (EVP_EncryptUpdate(cbc_.get(), out.data(), &length, in, static_cast<int>(n * kBlock)) != 1 ||
        static_cast<std::size_t>(length) != n * kBlock) {
      // chain_ no longer matches the context: refuse all use until re-keyed.
      keyed_ = false;
      return false;
    }
    std::copy_n(out.begin() + static_cast<std::ptrdiff_t>((n - 1) * kBlock), kBlock, chain_.begin());
    in += n * kBlock;
    blocks -= n;
  }
  return true;
}

// CMAC (RFC 4493 §2.4): CBC-MAC from a zero IV, the last block XORed with K1 when whole, else
// padded with 10* and XORed with K2. The context's IV is chain_ from its previous use, so the
// first block is fed XORed with chain_: AES(M1 ^ chain_ ^ chain_) = AES(M1), as from a zero IV.
// The last block (whole or not) is held back until the end, since only then is it known to be
// the last; all other blocks go to OpenSSL straight from the caller's bytes, many per call.
bool Aead::cmac(std::span<const ByteView> parts, Block& out) {
  if (!keyed_) return false;
  Block pending{};
  std::size_t pending_length = 0;
  bool first = true;
  auto feed = [&](const std::uint8_t* in, std::size_t blocks) {
    if (first) {
      Block b;
      std::copy_n(in, kBlock, b.begin());
      xor_into(b, chain_.data());
      if (!cbc_blocks(b.data(), 1)) return false;
      first = false;
      in += kBlock;
      --blocks;
    }
    return blocks == 0 || cbc_blocks(in, blocks);
  };
  for (ByteView part : parts) {
    const std::uint8_t* p = part.data();
    std::size_t n = part.size();
    while (n > 0) {
      if (pending_length == kBlock) {
        if (!feed(pending.data(), 1)) return false;
        pending_length = 0;
      }
      if (pending_length == 0 && n > kBlock) {
        // All whole blocks but the last byte's block: at least one byte stays pending.
        const std::size_t blocks = (n - 1) / kBlock;
        if (!feed(p, blocks)) return false;
        p += blocks * kBlock;
        n -= blocks * kBlock;
        continue;
      }
      const std::size_t take = std::min(kBlock - pending_length, n);
      std::copy_n(p, take, pending.begin() + static_cast<std::ptrdiff_t>(pending_length));
      pending_length += take;
      p += take;
      n -= take;
    }
  }
  Block last{};
  std::copy_n(pending.begin(), pending_length, last.begin());
  if (pending_length == kBlock) {
    xor_into(last, k1_.data());
  } else {
    last[pending_length] = 0x80;
    xor_into(last, k2_.data());
  }
  if (!feed(last.data(), 1)) return false;
  out = chain_;
  return true;
}

// S2V (RFC 5297 §2.4) over the associated data, the nonce (if any) and the plaintext.
bool Aead::s2v(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext, Block& out) {
  Block d = cmac_of_zero_;
  Block mac{};
  auto absorb = [&](ByteView component) {
    const ByteView one[] = {component};
    if (!cmac(one, mac)) return false;
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
    const ByteView head_and_last[] = {plaintext.first(plaintext.size() - 16), last};
    return cmac(head_and_last, out);
  }
  // T = dbl(D) xor pad(Sn), pad = Sn ‖ 0x80 ‖ 0…
  dbl(d);
  std::copy(plaintext.begin(), plaintext.end(), last.begin());
  last[plaintext.size()] = 0x80;
  xor_into(last, d.data());
  const ByteView only[] = {last};
  return cmac(only, out);
}

// CTR (RFC 5297 §2.5): the keystream is AES of successive counter blocks, encrypted many at a
// time with AES-ECB.
bool Aead::ctr(const Block& v, ByteView in, std::uint8_t* out) {
  if (in.empty()) return true;
  // RFC 5297 §2.5: clear the top bit of each of the last two 32-bit words of the IV.
  Block q = v;
  q[8] &= 0x7f;
  q[12] &= 0x7f;
  std::array<std::uint8_t, kChunkBlocks * kBlock> stream;
  bool ok = true;
  for (std::size_t done = 0; ok && done < in.size();) {
    const std::size_t n = std::min(in.size() - done, stream.size());
    const std::size_t blocks = (n + kBlock - 1) / kBlock;
    for (std::size_t b = 0; b < blocks; ++b) {
      std::copy(q.begin(), q.end(), stream.begin() + static_cast<std::ptrdiff_t>(b * kBlock));
      increment(q);
    }
    int length = 0;
    ok = EVP_EncryptUpdate(ecb_.get(), stream.data(), &length, stream.data(), static_cast<int>(blocks * kBlock)) == 1 &&
         static_cast<std::size_t>(length) == blocks * kBlock;
    for (std::size_t i = 0; ok && i < n; ++i) out[done + i] = in[done + i] ^ stream[i];
    done += n;
  }
  OPENSSL_cleanse(stream.data(), stream.size());  // keystream
  return ok;
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
