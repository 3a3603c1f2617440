#pragma once
// Which pair of an exchange's stamps to use. A socket asking for hardware stamps gets, per
// packet, a software stamp (system clock) and, when the NIC took one, a hardware stamp (that
// NIC's PHC). t1 and t4 must be read on the same clock, or the offset mixes two timescales:
// the hardware pair only when both ends have one from the same NIC, else the system-clock pair
// (kernel stamps, or the daemon's own reading where the kernel gave none). Pure.
#include <ctime>
#include <functional>
#include <optional>

#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_correction.hpp"

namespace kairos {

struct ExchangeStamps {
  timespec t1{};
  StampSource t1_source = StampSource::kDaemon;
  timespec t4{};
  StampSource t4_source = StampSource::kDaemon;
  int phc_ifindex = 0;  // 0: both on the system clock; else the interface whose PHC took both
};

// The corrections of a hardware-stamping interface by its index; nullopt for an interface whose
// hardware stamps are not to be used (not configured, or fell back to software).
using HardwareInterfaces = std::function<std::optional<StampCorrection>(int ifindex)>;

// `t1_daemon`/`t4_daemon`: the daemon's own readings of CLOCK_REALTIME around send and receive.
// `payload` and `ipv6` describe the response, for moving its RX stamp to the frame's end.
ExchangeStamps choose_stamps(const timespec& t1_daemon, const TxStamps& tx, const ControlStamps& rx,
                             const timespec& t4_daemon, std::size_t payload, bool ipv6,
                             const HardwareInterfaces& hardware);

// t plus `seconds` (may be negative), normalised.
timespec add_seconds(const timespec& t, double seconds);

}  // namespace kairos
