#include "hwts/stamp_correction.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "hwts/ioctl_socket.hpp"

namespace kairos {

std::size_t ethernet_wire_bytes(std::size_t payload, bool ipv6) {
  // From the stamp (after the preamble and SFD) to the frame's end: no preamble.
  constexpr std::size_t kMacHeader = 14;
  constexpr std::size_t kFcs = 4;
  constexpr std::size_t kMinFrame = 64;  // MAC header to FCS
  const std::size_t frame = kMacHeader + (ipv6 ? 40 : 20) + 8 + payload + kFcs;
  return std::max(frame, kMinFrame);
}

double rx_trailer_correction(std::size_t payload, bool ipv6, std::uint32_t speed_mbps) {
  if (speed_mbps == 0) return 0;
  return static_cast<double>(ethernet_wire_bytes(payload, ipv6)) * 8.0 / (static_cast<double>(speed_mbps) * 1e6);
}

std::optional<std::uint32_t> link_speed_by_ethtool(const std::string& interface) {
  if (interface.empty() || interface.size() >= IFNAMSIZ) return std::nullopt;
  const int fd = open_ioctl_socket();
  if (fd < 0) return std::nullopt;
  ethtool_cmd cmd{};
  cmd.cmd = ETHTOOL_GSET;  // every driver and interposer knows it; LINKSETTINGS is not needed for the speed
  ifreq request{};
  std::memcpy(request.ifr_name, interface.data(), interface.size());
  request.ifr_data = reinterpret_cast<char*>(&cmd);
  const int rc = ::ioctl(fd, SIOCETHTOOL, &request);
  ::close(fd);
  const std::uint32_t speed = ethtool_cmd_speed(&cmd);
  if (rc != 0 || speed == 0 || speed == SPEED_UNKNOWN || speed > 10'000'000) return std::nullopt;
  return speed;
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
