// The PTP source's handling of a NIC's hardware stamps (issue 23 item 2).
#include <gtest/gtest.h>

#include "daemon/ptp_source.hpp"

namespace kairos {
namespace {

// A PTP event message is stamped where its frame starts at both ends (IEEE 1588): NTP's trailer
// correction, which moves RX stamps to the frame's end by the link speed, must not reach it, or
// the offset is biased by half a frame's time on the wire. The operator's compensations do.
TEST(PtpSource, HardwareStampsTakeTheOperatorsCompensationButNoTrailerCorrection) {
  StampCorrection nic;
  nic.speed_mbps = 1000;  // a 90-byte frame is 720 ns on the wire: a trailer correction would show
  nic.rx_compensation = 25e-9;
  nic.tx_compensation = -12e-9;
  EXPECT_DOUBLE_EQ(ptp_stamp_correction(nic, /*receive=*/true), 25e-9);
  EXPECT_DOUBLE_EQ(ptp_stamp_correction(nic, /*receive=*/false), -12e-9);
}

}  // namespace
}  // namespace kairos
