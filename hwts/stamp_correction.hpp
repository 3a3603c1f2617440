#pragma once
// Corrections of hardware packet timestamps before they become NTP timestamps.
//
// A NIC stamps a frame when its start (the end of the preamble and start-of-frame delimiter)
// passes the PHY, on transmit and on receive. Between two hosts and store-and-forward switches a
// frame is only forwarded once it was received whole, so the time a frame takes on the wire
// (its length over the link speed) lands in the one-way delays: a short request and a long NTS
// response would make the path look asymmetric. Moving each receive stamp to the frame's end
// (frame + FCS over the link speed) makes the two directions comparable, as NTP's
// offset formula assumes. The operator's fixed per-interface delays (PHY, cable) come on top.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "clock/result.hpp"

namespace kairos {

// Bytes of a UDP datagram of `payload` bytes on Ethernet from where the NIC stamps it (after the
// preamble and SFD) to the FCS (no VLAN tag): 14 MAC header, IP (20 or 40), 8 UDP, payload, 4 FCS,
// padded to the 64-byte minimum frame (chrony corrects by the same length).
std::size_t ethernet_wire_bytes(std::size_t payload, bool ipv6);

// Seconds to add to a hardware receive stamp to move it from the frame's start to its end, on a
// link of `speed_mbps`; 0 when the speed is unknown (0).
double rx_trailer_correction(std::size_t payload, bool ipv6, std::uint32_t speed_mbps);

// The per-interface corrections of hardware stamps (config rx/tx-compensation and the link).
struct StampCorrection {
  std::uint32_t speed_mbps = 0;  // 0: unknown, no trailer correction
  double rx_compensation = 0;    // s, added to hardware RX stamps
  double tx_compensation = 0;    // s, added to hardware TX stamps

  double rx(std::size_t payload, bool ipv6) const {
    return rx_compensation + rx_trailer_correction(payload, ipv6, speed_mbps);
  }
  double tx() const { return tx_compensation; }
};

// The link speed in Mb/s from /sys/class/net/<name>/speed (`sysfs` is the mount point, for
// tests); nullopt when the link is down or the driver does not say (veth, lo: -1 or EINVAL).
std::optional<std::uint32_t> link_speed_mbps(const std::string& interface, const std::string& sysfs = "/sys");
// The link speed in Mb/s by the SIOCETHTOOL ioctl (ETHTOOL_GSET), as chrony reads it: the call an
// interposing simulator answers, where there is no sysfs. Nothing when unknown (veth, lo, down).
std::optional<std::uint32_t> link_speed_by_ethtool(const std::string& interface);

}  // namespace kairos
