#include "daemon/server_stamps.hpp"

#include "hwts/stamp_choice.hpp"

namespace kairos {
namespace {

const ServerHardwareNic* find_nic(const ServerHardwareClocks& nics, int ifindex) {
  if (ifindex <= 0) return nullptr;
  for (const ServerHardwareNic& nic : nics) {
    if (nic.ifindex == ifindex) return &nic;
  }
  return nullptr;
}

}  // namespace

std::optional<PacketStamp> server_receive_stamp(const ControlStamps& stamps, const ServerHardwareClocks& nics,
                                                std::size_t payload, bool ipv6) {
  if (stamps.hardware && stamps.stamp_ifindex) {
    if (const ServerHardwareNic* nic = find_nic(nics, *stamps.stamp_ifindex)) {
      if (auto system = nic->line.to_system(add_seconds(*stamps.hardware, nic->correction.rx(payload, ipv6)))) {
        return PacketStamp{*system, StampSource::kHardware};
      }
    }
  }
  // Never the raw hardware stamp: PHC time is not the system time the answer's T3 is read in.
  if (stamps.software) return PacketStamp{*stamps.software, StampSource::kKernel};
  return std::nullopt;
}

std::optional<PacketStamp> server_transmit_stamp(const TxStamp& stamp, int ifindex, const ServerHardwareClocks& nics) {
  if (stamp.hardware) {
    if (const ServerHardwareNic* nic = find_nic(nics, ifindex)) {
      if (auto system = nic->line.to_system(add_seconds(*stamp.hardware, nic->correction.tx()))) {
        return PacketStamp{*system, StampSource::kHardware};
      }
    }
  }
  if (stamp.software) return PacketStamp{*stamp.software, StampSource::kKernel};
  return std::nullopt;
}

}  // namespace kairos
