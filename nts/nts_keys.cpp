#include "nts/nts_keys.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <string>

#include "nts/tls_session.hpp"

namespace kairos {

NtsKeys::~NtsKeys() {
  OPENSSL_cleanse(c2s_.data(), c2s_.size());
  OPENSSL_cleanse(s2c_.data(), s2c_.size());
}

Result<NtsKeys> NtsKeys::create(std::uint16_t aead_id, ByteView c2s, ByteView s2c) {
  auto key_length = aead_key_length(aead_id);
  if (!key_length) return fail("unsupported AEAD algorithm " + std::to_string(aead_id));
  if (c2s.size() != *key_length || s2c.size() != *key_length) {
    return fail("AEAD " + std::to_string(aead_id) + " needs " + std::to_string(*key_length) + "-byte keys");
  }
  NtsKeys keys;
  keys.aead_id_ = aead_id;
  keys.key_length_ = *key_length;
  std::copy(c2s.begin(), c2s.end(), keys.c2s_.begin());
  std::copy(s2c.begin(), s2c.end(), keys.s2c_.begin());
  return keys;
}

bool operator==(const NtsKeys& a, const NtsKeys& b) {
  return a.aead_id_ == b.aead_id_ && a.key_length_ == b.key_length_ && a.c2s_ == b.c2s_ && a.s2c_ == b.s2c_;
}

Result<NtsKeys> export_nts_keys(const TlsSession& tls, std::uint16_t protocol, std::uint16_t aead) {
  auto length = aead_key_length(aead);
  if (!length) return fail("no keys for AEAD algorithm " + std::to_string(aead));
  struct Exported {
    std::array<std::uint8_t, kAeadMaxKeyLength> c2s{}, s2c{};
    ~Exported() {
      OPENSSL_cleanse(c2s.data(), c2s.size());
      OPENSSL_cleanse(s2c.data(), s2c.size());
    }
  } exported;
  std::uint8_t context[5] = {static_cast<std::uint8_t>(protocol >> 8), static_cast<std::uint8_t>(protocol),
                             static_cast<std::uint8_t>(aead >> 8), static_cast<std::uint8_t>(aead), 0x00};
  if (auto ok = tls.export_key(kNtsExporterLabel, context, {exported.c2s.data(), *length}); !ok) {
    return std::unexpected(ok.error());
  }
  context[4] = 0x01;
  if (auto ok = tls.export_key(kNtsExporterLabel, context, {exported.s2c.data(), *length}); !ok) {
    return std::unexpected(ok.error());
  }
  return NtsKeys::create(aead, {exported.c2s.data(), *length}, {exported.s2c.data(), *length});
}

}  // namespace kairos
