// Fuzzes the NTPv4 codec and the NTS packet checks: whatever parses must serialize back to the
// same bytes, and the server-side request checks and client-side response verification must
// neither crash nor read out of bounds. Fixed keys (those of the seeds) let mutated but
// authentic-looking packets reach the AEAD and the parsing of decrypted fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "nts/aead.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/nts_packet.hpp"

namespace {

using kairos::Aead;
using kairos::AeadId;
using kairos::ByteView;

// The unit tests' keys: 32 bytes of 0x11 client-to-server, 0x22 server-to-client.
struct FuzzKeys {
  Aead c2s;
  Aead s2c;
};

FuzzKeys make_keys() {
  const std::vector<std::uint8_t> c2s(32, 0x11);
  const std::vector<std::uint8_t> s2c(32, 0x22);
  return {std::move(*Aead::create(AeadId::kAesSivCmac256, c2s)),
          std::move(*Aead::create(AeadId::kAesSivCmac256, s2c))};
}

void check_round_trip(ByteView data) {
  auto parsed = kairos::parse_ntp_packet(data);
  if (!parsed) return;
  std::vector<std::uint8_t> out(data.size() + 64);
  kairos::ByteWriter writer(out);
  kairos::write_ntp_packet(writer, *parsed);
  if (!writer.ok() || writer.size() != data.size() || std::memcmp(out.data(), data.data(), data.size()) != 0) {
    std::abort();  // parse -> write must give the input back
  }
}

void check_request(ByteView data, FuzzKeys& keys) {
  auto request = kairos::parse_nts_request(data);
  if (!request) return;
  if (request->unique_id.size() < kairos::kNtsMinUniqueIdLength || request->length != data.size()) std::abort();
  std::vector<std::uint8_t> plaintext(request->ciphertext.size());
  auto fields = kairos::verify_nts_request(*request, keys.c2s, plaintext);
  if (fields) {
    for (const auto& field : *fields) {
      if (field.body.data() < plaintext.data() || field.body.data() + field.body.size() > plaintext.data() + plaintext.size())
        std::abort();
    }
  }
}

void check_response(ByteView data, FuzzKeys& keys) {
  // Expect the packet's own unique identifier, so mutations past it still reach the AEAD.
  auto parsed = kairos::parse_ntp_packet(data);
  if (!parsed) return;
  ByteView unique_id;
  for (const auto& field : parsed->fields) {
    if (field.type == kairos::kNtsUniqueIdentifier) {
      unique_id = field.body;
      break;
    }
  }
  auto response = kairos::verify_nts_response(data, unique_id, keys.s2c);
  if (response && !response->nak && response->cookies.size() > kairos::kMaxExtensionFields) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FuzzKeys keys = make_keys();  // cipher contexts are costly; built once per process
  const ByteView input(data, size);
  check_round_trip(input);
  check_request(input, keys);
  check_response(input, keys);
  return 0;
}
