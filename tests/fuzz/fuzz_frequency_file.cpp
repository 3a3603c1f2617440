// Any bytes as a frequency file (daemon/frequency_file.hpp): a value in range or an error.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "daemon/frequency_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto saved = kairos::parse_frequency_file(kairos::ByteView(data, size));
  if (!saved) return 0;
  if (!std::isfinite(saved->frequency) || std::abs(saved->frequency) > kairos::kMaxSavedFrequency) std::abort();
  if (!(saved->sd >= 0) || saved->sd > kairos::kMaxSavedFrequency) std::abort();
  return 0;
}
