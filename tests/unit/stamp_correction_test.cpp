#include "hwts/stamp_correction.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_util.hpp"

namespace kairos {
namespace {

// The NIC stamps after the preamble and SFD: those 8 bytes were once counted too, 64 ns of
// asymmetry at 1 Gb/s against a peer (chrony) that corrects by the frame alone.
TEST(StampCorrection, WireBytesOfAnNtpPacket) {
  // 48-byte NTP over IPv4: 14 + 20 + 8 + 48 + 4 = 94 bytes from the stamp to the frame's end.
  EXPECT_EQ(ethernet_wire_bytes(48, false), 94u);
  EXPECT_EQ(ethernet_wire_bytes(48, true), 114u);
  // Tiny payloads are padded to the 64-byte minimum frame.
  EXPECT_EQ(ethernet_wire_bytes(0, false), 64u);
}

TEST(StampCorrection, TrailerCorrectionIsFrameTimeOnTheLink) {
  // 94 bytes at 1 Gb/s: 752 ns; at 10 Gb/s: 75.2 ns; unknown speed: none.
  EXPECT_NEAR(rx_trailer_correction(48, false, 1000), 752e-9, 1e-15);
  EXPECT_NEAR(rx_trailer_correction(48, false, 10000), 75.2e-9, 1e-15);
  EXPECT_EQ(rx_trailer_correction(48, false, 0), 0.0);
}

TEST(StampCorrection, AnNtsResponseLongerThanItsRequestIsCorrectedMore) {
  const StampCorrection c{.speed_mbps = 1000, .rx_compensation = 5e-9, .tx_compensation = -3e-9};
  EXPECT_GT(c.rx(228, false), c.rx(48, false));
  EXPECT_NEAR(c.rx(228, false) - c.rx(48, false), 180 * 8e-9, 1e-15);
  EXPECT_EQ(c.tx(), -3e-9);
}

TEST(StampCorrection, LinkSpeedFromSysfs) {
  test::TempDir dir;
  const auto net = std::filesystem::path(dir.path()) / "class/net";
  std::filesystem::create_directories(net / "eth0");
  std::filesystem::create_directories(net / "veth0");
  std::ofstream(net / "eth0/speed") << "25000\n";
  std::ofstream(net / "veth0/speed") << "-1\n";
  EXPECT_EQ(link_speed_mbps("eth0", dir.path()), 25000u);
  EXPECT_EQ(link_speed_mbps("veth0", dir.path()), std::nullopt);
  EXPECT_EQ(link_speed_mbps("missing", dir.path()), std::nullopt);
  EXPECT_EQ(link_speed_mbps("../../etc", dir.path()), std::nullopt);
  EXPECT_EQ(link_speed_by_ethtool("lo"), std::nullopt);  // no speed on loopback
  EXPECT_EQ(link_speed_by_ethtool("no-such-if"), std::nullopt);
  // The real loopback has no speed.
  EXPECT_EQ(link_speed_mbps("lo"), std::nullopt);
}

}  // namespace
}  // namespace kairos
