#pragma once
// The keys an NTS association runs on (RFC 8915 §4.3, §6): the negotiated AEAD and both
// directions' keys. Client and server both get them from the TLS exporter (export_nts_keys);
// the server seals them into cookies and opens them again. Fixed arrays (no heap), wiped when
// destroyed.
#include <array>
#include <cstddef>
#include <cstdint>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"

namespace kairos {

class TlsSession;

inline constexpr char kNtsExporterLabel[] = "EXPORTER-network-time-security";

class NtsKeys {
 public:
  static Result<NtsKeys> create(std::uint16_t aead_id, ByteView c2s, ByteView s2c);
  NtsKeys(const NtsKeys&) = default;
  NtsKeys& operator=(const NtsKeys&) = default;
  ~NtsKeys();

  std::uint16_t aead_id() const { return aead_id_; }
  ByteView c2s() const { return {c2s_.data(), key_length_}; }
  ByteView s2c() const { return {s2c_.data(), key_length_}; }

  friend bool operator==(const NtsKeys& a, const NtsKeys& b);

 private:
  NtsKeys() = default;
  std::uint16_t aead_id_ = 0;
  std::size_t key_length_ = 0;
  std::array<std::uint8_t, kAeadMaxKeyLength> c2s_{};
  std::array<std::uint8_t, kAeadMaxKeyLength> s2c_{};
};

// Derives the NTS keys from a finished TLS session (RFC 8915 §4.3): context = protocol id ‖
// AEAD id ‖ 0x00 for client-to-server, 0x01 for server-to-client. Both ends call this on their
// own session and get the same keys.
Result<NtsKeys> export_nts_keys(const TlsSession& tls, std::uint16_t protocol, std::uint16_t aead);

}  // namespace kairos
