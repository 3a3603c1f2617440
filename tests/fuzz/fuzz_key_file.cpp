// Parses arbitrary bytes as a cookie key file. Whatever parses must serialize back to exactly the
// input (the format is canonical) and parse again to an equal ring.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "nts/key_ring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kairos::ByteView input(data, size);
  auto ring = kairos::parse_key_ring(input);
  if (!ring) return 0;
  const kairos::SecretBytes text = ring->serialize();
  if (!std::equal(text.view().begin(), text.view().end(), input.begin(), input.end())) std::abort();
  auto again = kairos::parse_key_ring(text.view());
  if (!again || !(*again == *ring)) std::abort();
  return 0;
}
