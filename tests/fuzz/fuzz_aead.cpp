// Opening attacker-chosen ciphertexts must fail cleanly; sealing any input must round-trip.
// Input layout: [algorithm selector][ad length][ad][nonce length][nonce][rest = message].
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "nts/aead.hpp"

using namespace kairos;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Aead aeads[] = {
      Aead::create(AeadId::kAesSivCmac256, std::vector<std::uint8_t>(32, 0x11)).value(),
      Aead::create(AeadId::kAesSivCmac384, std::vector<std::uint8_t>(48, 0x22)).value(),
      Aead::create(AeadId::kAesSivCmac512, std::vector<std::uint8_t>(64, 0x33)).value(),
  };
  ByteReader in(ByteView(data, size));
  auto selector = in.u8();
  auto ad_length = in.u8();
  if (!selector || !ad_length) return 0;
  auto ad = in.bytes(*ad_length);
  auto nonce_length = in.u8();
  if (!ad || !nonce_length) return 0;
  auto nonce = in.bytes(*nonce_length);
  if (!nonce) return 0;
  ByteView message = in.rest();
  Aead& aead = aeads[*selector % 3];
  const ByteView parts[] = {*ad};

  std::vector<std::uint8_t> plain(message.size() + 1);
  if (auto n = aead.open(parts, *nonce, message, plain); n && *n + kAeadTagLength != message.size()) abort();

  std::vector<std::uint8_t> sealed(message.size() + kAeadTagLength);
  auto n = aead.seal(parts, *nonce, message, sealed);
  if (!n || *n != sealed.size()) abort();
  std::vector<std::uint8_t> back(message.size() + 1);
  auto m = aead.open(parts, *nonce, sealed, back);
  if (!m || *m != message.size() || !std::equal(message.begin(), message.end(), back.begin())) abort();
  sealed[size % sealed.size()] ^= 1;
  if (aead.open(parts, *nonce, sealed, back)) abort();
  return 0;
}
