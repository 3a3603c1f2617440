// Any bytes as a kairosd configuration: a config or a readable error, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = kairos::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  if (!config && config.error().message.empty()) abort();
  // A valid configuration has something to do: sources, refclocks or PTP ports to measure, or a
  // server to run.
  if (config && config->sources.empty() && config->refclocks.empty() && config->ptp.empty() && !config->server) abort();
  if (config && config->ke_server && config->ke_server->certificate.empty()) abort();
  return 0;
}
