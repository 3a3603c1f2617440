#include "hwts/stamp_correction.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_util.hpp"

namespace kairos {
namespace {

TEST(StampCorrection, WireBytesOfAnNtpPacket) {
  // 48-byte NTP over IPv4: 8 + 14 + 20 + 8 + 48 + 4 = 102 bytes on the wire.
  EXPECT_EQ(ethernet_wire_bytes(48, false), 102u);
  EXPECT_EQ(ethernet_wire_bytes(48, true), 122u);
  // Tiny payloads are padded to the 64-byte minimum frame (+ 8 preamble).
  EXPECT_EQ(ethernet_wire_bytes(0, false), 72u);
}

TEST(StampCorrection, TrailerCorrectionIsFrameTimeOnTheLink) {
  // 102 bytes at 1 Gb/s: 816 ns; at 10 Gb/s: 81.6 ns; unknown speed: none.
  EXPECT_NEAR(rx_trailer_correction(48, false, 1000), 816e-9, 1e-15);
  EXPECT_NEAR(rx_trailer_correction(48, false, 10000), 81.6e-9, 1e-15);
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
  // The real loopback has no speed.
  EXPECT_EQ(link_speed_mbps("lo"), std::nullopt);
}

}  // namespace
}  // namespace kairos
