// libFuzzer target: any bytes given as a scenario file are parsed into a scenario or an error,
// never a crash, and what parses holds the promises the engine relies on. Built here rather than
// from tests/fuzz/ because it links the simulator's library; the binary lands in BUILD/tests/
// with the others (scripts/fuzz.sh), its seeds are tests/fuzz/corpus/scenario/.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = kairos::sim::parse_scenario(text);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();  // every rejection says why
    return 0;
  }
  const kairos::sim::Scenario& s = *parsed;
  if (s.servers.empty() || !(s.duration > 0) || !(s.settle < s.duration) || !(s.client.poll > 0)) std::abort();
  if ((s.client.timestamping == kairos::sim::Timestamping::kHardware) != s.phc.has_value()) std::abort();
  return 0;
}
