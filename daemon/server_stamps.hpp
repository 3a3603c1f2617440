#pragma once
// Hardware timestamps on the server side, as chrony's `hwtimestamp` does them: a request's NIC
// receive stamp (PHC time) becomes its receive timestamp T2 in system time through the direct
// path's line of that NIC's PHC (clock/phc_line.hpp, the client's conversion), and for the
// interleaved mode the NIC's transmit stamp of an answer becomes that answer's saved transmit
// timestamp the same way. Where a stamp or a valid line is missing, the kernel's software stamp
// serves, as before. The main loop publishes the lines; the workers only read their copy. Pure.
#include <cstddef>
#include <optional>
#include <vector>

#include "clock/phc_line.hpp"
#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_correction.hpp"

namespace kairos {

// One NIC whose hardware stamps the server can turn into system time.
struct ServerHardwareNic {
  int ifindex = 0;
  PhcLine line;
  StampCorrection correction;  // [[interface]] rx/tx-compensation and the link speed
};
using ServerHardwareClocks = std::vector<ServerHardwareNic>;

// T2 of a request of `payload` bytes: its NIC's hardware stamp converted (moved to the frame's
// end and compensated like the client's), else the kernel's software stamp; nullopt when the
// kernel gave neither (the caller reads the clock itself).
std::optional<PacketStamp> server_receive_stamp(const ControlStamps& stamps, const ServerHardwareClocks& nics,
                                                std::size_t payload, bool ipv6);

// The departure of an answer sent through interface `ifindex` (that of its request's hardware
// stamp; 0 when it had none): the hardware stamp converted, else the software one.
std::optional<PacketStamp> server_transmit_stamp(const TxStamp& stamp, int ifindex, const ServerHardwareClocks& nics);

}  // namespace kairos
