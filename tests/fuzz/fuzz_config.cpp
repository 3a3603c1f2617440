// Any bytes as a kairosd configuration: a config or a readable error, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = kairos::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  if (!config && config.error().message.empty()) abort();
  if (config && config->sources.empty()) abort();
  return 0;
}
