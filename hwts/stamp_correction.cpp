#include "hwts/stamp_correction.hpp"

#include <algorithm>
#include <fstream>

namespace kairos {

std::size_t ethernet_wire_bytes(std::size_t payload, bool ipv6) {
  constexpr std::size_t kPreamble = 8;
  constexpr std::size_t kMacHeader = 14;
  constexpr std::size_t kFcs = 4;
  constexpr std::size_t kMinFrame = 64;  // MAC header to FCS
  const std::size_t frame = kMacHeader + (ipv6 ? 40 : 20) + 8 + payload + kFcs;
  return kPreamble + std::max(frame, kMinFrame);
}

double rx_trailer_correction(std::size_t payload, bool ipv6, std::uint32_t speed_mbps) {
  if (speed_mbps == 0) return 0;
  return static_cast<double>(ethernet_wire_bytes(payload, ipv6)) * 8.0 / (static_cast<double>(speed_mbps) * 1e6);
}

std::optional<std::uint32_t> link_speed_mbps(const std::string& interface, const std::string& sysfs) {
  if (interface.empty() || interface.find('/') != std::string::npos || interface.find("..") != std::string::npos) {
    return std::nullopt;
  }
  std::ifstream in(sysfs + "/class/net/" + interface + "/speed");
  long long speed = 0;
  // Reading fails with EINVAL on links that are down or have no speed (veth, lo).
  if (!(in >> speed) || speed <= 0 || speed > 10'000'000) return std::nullopt;
  return static_cast<std::uint32_t>(speed);
}

}  // namespace kairos
