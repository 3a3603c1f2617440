// Any bytes as kairosd's answer to phcstat's {"command":"clocks"}: a list of named clocks or an
// error, never a crash; every clock read has a name, and a device path finds only a clock that
// names it.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view answer(reinterpret_cast<const char*>(data), size);
  auto clocks = kairos::phcstat::parse_kairosd_clocks(answer);
  if (!clocks) {
    if (clocks.error().empty()) abort();
    return 0;
  }
  kairos::phcstat::KairosdView view;
  view.reached = true;
  view.clocks = *clocks;
  for (const auto& c : view.clocks) {
    if (c.name.empty()) abort();
  }
  if (const auto* c = view.clock_for("/dev/ptp0"); c && !c->name.ends_with("(/dev/ptp0)")) abort();
  return 0;
}
