// The ethtool TSINFO reply parser must survive any attribute bytes: truncated nests, lengths that
// point past the end, bitsets of odd sizes.
#include <cstdint>
#include <cstdlib>

#include "hwts/interface_info.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto info = kairos::parse_tsinfo_reply({data, size});
  // What the parser accepts must be printable; a PHC index is never negative.
  if (info) {
    (void)kairos::so_timestamping_to_string(info->so_timestamping);
    (void)kairos::rx_filters_to_string(info->rx_filters);
    if (info->phc_index && *info->phc_index < 0) abort();
  }
  return 0;
}
