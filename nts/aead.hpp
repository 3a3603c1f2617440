#pragma once
// AEAD_AES_SIV_CMAC_256/384/512 (RFC 5297) through OpenSSL EVP. One Aead per key: the cipher
// contexts are created once and their key schedules reused, so sealing or opening a packet
// allocates nothing.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "clock/result.hpp"
#include "nts/bytes.hpp"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace kairos {

// IANA AEAD algorithm ids (RFC 5297 §6, RFC 8915 §5.1).
enum class AeadId : std::uint16_t {
  kAesSivCmac256 = 15,
  kAesSivCmac384 = 16,
  kAesSivCmac512 = 17,
};

// Key length for a supported algorithm id, nullopt for any other id.
std::optional<std::size_t> aead_key_length(std::uint16_t id);
inline constexpr std::size_t kAeadMaxKeyLength = 64;
// The synthetic IV (the tag) that leads every ciphertext: ciphertext = tag ‖ encrypted bytes.
inline constexpr std::size_t kAeadTagLength = 16;

class Aead {
 public:
  static Result<Aead> create(AeadId id, ByteView key);
  static Result<Aead> create(std::uint16_t id, ByteView key);

  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  AeadId id() const { return id_; }

  // Encrypts `plaintext` into out[0 .. plaintext.size() + 16) and returns that length.
  // The associated data components come first, the nonce last, as RFC 8915 §5.6 and
  // RFC 5297 §3 order them; an empty nonce is left out (deterministic mode).
  Result<std::size_t> seal(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext,
                           std::span<std::uint8_t> out);
  // Verifies and decrypts; out needs ciphertext.size() - 16 bytes. Fails on any modification.
  Result<std::size_t> open(std::span<const ByteView> associated_data, ByteView nonce, ByteView ciphertext,
                           std::span<std::uint8_t> out);

 private:
  struct CtxDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const;
  };
  using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

  Aead(AeadId id, ByteView key, CtxPtr seal_ctx, CtxPtr open_ctx);
  bool rearm(EVP_CIPHER_CTX* ctx, bool encrypt) const;

  AeadId id_;
  std::array<std::uint8_t, kAeadMaxKeyLength> key_{};
  std::size_t key_length_ = 0;
  CtxPtr seal_ctx_;
  CtxPtr open_ctx_;
};

}  // namespace kairos
