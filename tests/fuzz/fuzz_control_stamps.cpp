// The control-message parser must survive any bytes the kernel (or a bug) puts in a control buffer.
#include <cstdint>
#include <cstdlib>

#include "hwts/packet_timestamps.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto stamps = kairos::parse_control_stamps({data, size});
  if (auto best = stamps.best(); best && best->time.tv_sec == 0 && best->time.tv_nsec == 0) abort();
  return 0;
}
