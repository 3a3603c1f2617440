#pragma once
// Server cookies (RFC 8915 §6): the server's whole per-client state, sealed under a master key so
// the server keeps nothing per client.
//
//   cookie    = key id (u32, big-endian) ‖ nonce (16 bytes) ‖ ciphertext
//   ciphertext = AEAD_AES_SIV_CMAC_256(master key, associated data = the 4 key id bytes,
//                                     nonce, plaintext)   — 16-byte tag ‖ encrypted plaintext
//   plaintext = AEAD id (u16) ‖ zero (u16) ‖ C2S key ‖ S2C key  (each key aead_key_length(id) bytes)
//
// The key id is associated data so a cookie cannot be replayed under another key id of the ring.
// For AEAD 15 a cookie is 4 + 16 + 16 + 4 + 32 + 32 = 104 bytes. The zero u16 makes every
// cookie a whole number of 4-octet words: a cookie travels in NTP extension fields, which pad to
// words, and clients (chronyd among them) refuse NTS-KE cookies of other lengths.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"
#include "nts/key_ring.hpp"
#include "nts/nts_keys.hpp"

namespace kairos {

inline constexpr std::size_t kCookieKeyIdLength = 4;
inline constexpr std::size_t kCookieNonceLength = 16;
inline constexpr std::size_t kCookieMaxPlaintext = 4 + 2 * kAeadMaxKeyLength;
inline constexpr std::size_t kCookieOverhead = kCookieKeyIdLength + kCookieNonceLength + kAeadTagLength;
inline constexpr std::size_t kCookieMaxLength = kCookieOverhead + kCookieMaxPlaintext;

// Length of a cookie carrying keys for this AEAD, nullopt for unsupported ids.
std::optional<std::size_t> cookie_length(std::uint16_t aead_id);

// The cookie inside the body of a Cookie extension field. A field body is the cookie zero-padded
// to a whole word (RFC 7822 §3), and no cookie length here is a multiple of 4 (102, 134, 166), so
// a server reads back 2 more bytes than it sealed. Returns the cookie without its padding, or
// nullopt when the body is no supported cookie length followed by zero padding.
std::optional<ByteView> cookie_from_field(ByteView body);

// Seals `keys` under `master` with the caller's nonce into out; returns the cookie length.
// The nonce must never repeat under one master key (use the overload below outside tests).
Result<std::size_t> seal_cookie(const NtsKeys& keys, MasterKey& master,
                                std::span<const std::uint8_t, kCookieNonceLength> nonce, std::span<std::uint8_t> out);
// Same with a fresh RAND_bytes nonce.
Result<std::size_t> seal_cookie(const NtsKeys& keys, MasterKey& master, std::span<std::uint8_t> out);

// Opens a cookie with the ring's current, old or future key. Errors say which check failed:
// length, unknown or expired key id, authentication, or a bad AEAD id or length inside.
Result<NtsKeys> open_cookie(ByteView cookie, KeyRing& ring);

}  // namespace kairos
