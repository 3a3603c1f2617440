#pragma once
// AEAD_AES_SIV_CMAC_256/384/512 (RFC 5297) for NTS. SIV is composed here from two OpenSSL AES
// contexts: OpenSSL 3.0's own "AES-*-SIV" cipher allows one operation per key setup, allocates
// per associated-data component and rejects an empty plaintext (which every NTS client request
// has). Both contexts are keyed once and never re-initialised per operation (an EVP re-init
// costs more than the AES work of a whole NTS packet), so sealing or opening allocates nothing:
//  - CMAC (RFC 4493) runs on an AES-CBC context whose chaining value simply carries on from one
//    MAC to the next; the first block of each MAC is XORed with the previous chaining value,
//    which is the same as starting from a zero IV.
//  - CTR encrypts counter blocks with AES-ECB, many blocks per call.
// Not thread-safe: one Aead per thread.
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
// RFC 5297 §7: S2V takes at most 126 components besides the plaintext.
inline constexpr std::size_t kAeadMaxAssociatedData = 125;

class Aead {
 public:
  static Result<Aead> create(AeadId id, ByteView key);
  static Result<Aead> create(std::uint16_t id, ByteView key);

  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  AeadId id() const { return id_; }

  // Replaces the key, keeping the algorithm and both OpenSSL contexts. create() fetches the
  // ciphers and allocates contexts (~2 µs); a server switching to each client's keys per packet
  // only needs the new key schedules. After a failure the Aead refuses to seal or open until a
  // rekey succeeds.
  Result<void> rekey(ByteView key);

  // Encrypts `plaintext` into out[0 .. plaintext.size() + 16) and returns that length.
  // The associated data components come first and the nonce last, as RFC 8915 §5.6 and
  // RFC 5297 §3 order them; an empty nonce is left out (deterministic mode, RFC 5297 §2.6).
  Result<std::size_t> seal(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext,
                           std::span<std::uint8_t> out);
  // Verifies and decrypts; out needs ciphertext.size() - 16 bytes and is zeroed on failure.
  // Neither call supports overlapping input and output buffers.
  Result<std::size_t> open(std::span<const ByteView> associated_data, ByteView nonce, ByteView ciphertext,
                           std::span<std::uint8_t> out);

 private:
  using Block = std::array<std::uint8_t, 16>;
  struct CipherDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const;
  };

  Aead() = default;
  // Installs a key of the right length into both contexts and derives the CMAC subkeys.
  bool set_key(ByteView key);
  // Feeds whole blocks through the CBC context; chain_ becomes the last block it output.
  bool cbc_blocks(const std::uint8_t* in, std::size_t blocks);
  // CMAC of the concatenation of `parts`.
  bool cmac(std::span<const ByteView> parts, Block& out);
  bool s2v(std::span<const ByteView> associated_data, ByteView nonce, ByteView plaintext, Block& out);
  bool ctr(const Block& iv, ByteView in, std::uint8_t* out);

  AeadId id_ = AeadId::kAesSivCmac256;
  bool keyed_ = false;
  Block cmac_of_zero_{};  // S2V's first D, fixed per key
  Block k1_{};            // CMAC subkeys (RFC 4493 §2.3)
  Block k2_{};
  Block chain_{};         // the CBC context's current IV: the last block it output
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> cbc_;  // AES-CBC under the S2V key, no padding
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ecb_;  // AES-ECB under the CTR key, no padding
};

}  // namespace kairos
