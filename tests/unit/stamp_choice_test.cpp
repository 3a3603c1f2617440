#include "hwts/stamp_choice.hpp"

#include <gtest/gtest.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>

#include <cstring>

namespace kairos {
namespace {

constexpr int kNic = 3;

timespec at(time_t s, long ns) { return timespec{s, ns}; }

HardwareInterfaces one_nic(StampCorrection c = {}) {
  return [c](int ifindex) -> std::optional<StampCorrection> {
    if (ifindex == kNic) return c;
    return std::nullopt;
  };
}

ControlStamps rx_both() {
  ControlStamps rx;
  rx.software = at(100, 500);
  rx.hardware = at(200, 500);
  rx.stamp_ifindex = kNic;
  return rx;
}

TEST(StampChoice, HardwarePairWhenBothEndsHaveOneFromAKnownNic) {
  const TxStamps tx{.software = at(100, 100), .hardware = at(200, 100)};
  const ExchangeStamps s = choose_stamps(at(100, 0), tx, rx_both(), at(100, 900), 48, false, one_nic());
  EXPECT_EQ(s.phc_ifindex, kNic);
  EXPECT_EQ(s.t1_source, StampSource::kHardware);
  EXPECT_EQ(s.t4_source, StampSource::kHardware);
  EXPECT_EQ(s.t1.tv_sec, 200);
  EXPECT_EQ(s.t1.tv_nsec, 100);
  EXPECT_EQ(s.t4.tv_nsec, 500);
}

TEST(StampChoice, OneHardwareStampAloneNeverMixesTimescales) {
  // The NIC stamped the answer but its TX stamp did not come: both ends on the system clock.
  const TxStamps tx{.software = at(100, 100), .hardware = std::nullopt};
  const ExchangeStamps s = choose_stamps(at(100, 0), tx, rx_both(), at(100, 900), 48, false, one_nic());
  EXPECT_EQ(s.phc_ifindex, 0);
  EXPECT_EQ(s.t1_source, StampSource::kKernel);
  EXPECT_EQ(s.t4_source, StampSource::kKernel);
  EXPECT_EQ(s.t1.tv_sec, 100);
  EXPECT_EQ(s.t4.tv_sec, 100);
  EXPECT_EQ(s.t4.tv_nsec, 500);
}

TEST(StampChoice, HardwareStampsOfAnUnknownOrUnwantedNicAreNotUsed) {
  const TxStamps tx{.software = std::nullopt, .hardware = at(200, 100)};
  ControlStamps rx = rx_both();
  rx.stamp_ifindex = kNic + 1;
  const ExchangeStamps s = choose_stamps(at(100, 0), tx, rx, at(100, 900), 48, false, one_nic());
  EXPECT_EQ(s.phc_ifindex, 0);
  EXPECT_EQ(s.t1_source, StampSource::kDaemon);  // no software TX stamp: the daemon's reading
  EXPECT_EQ(s.t1.tv_nsec, 0);
  EXPECT_EQ(s.t4_source, StampSource::kKernel);
  // Without any hardware lookup (no NIC disciplines a PHC) the same.
  const ExchangeStamps none = choose_stamps(at(100, 0), tx, rx_both(), at(100, 900), 48, false, {});
  EXPECT_EQ(none.phc_ifindex, 0);
}

TEST(StampChoice, HardwareStampsAreCorrectedForTheFrameAndTheInterface) {
  // 1 Gb/s: a 48-byte NTP answer over IPv4 is 14 + 20 + 8 + 48 + 4 = 94 bytes from the stamp
  // (after the preamble) to its end, 752 ns.
  const StampCorrection c{.speed_mbps = 1000, .rx_compensation = 100e-9, .tx_compensation = -50e-9};
  const TxStamps tx{.software = at(100, 100), .hardware = at(200, 1'000)};
  const ExchangeStamps s = choose_stamps(at(100, 0), tx, rx_both(), at(100, 900), 48, false, one_nic(c));
  EXPECT_EQ(s.t1.tv_nsec, 950);
  EXPECT_EQ(s.t4.tv_nsec, 500 + 752 + 100);
}

TEST(StampChoice, AddSecondsCarriesBothWays) {
  const timespec a = add_seconds(at(10, 999'999'900), 200e-9);
  EXPECT_EQ(a.tv_sec, 11);
  EXPECT_EQ(a.tv_nsec, 100);
  const timespec b = add_seconds(at(10, 100), -200e-9);
  EXPECT_EQ(b.tv_sec, 9);
  EXPECT_EQ(b.tv_nsec, 999'999'900);
  const timespec c = add_seconds(at(10, 0), -1.5);
  EXPECT_EQ(c.tv_sec, 8);
  EXPECT_EQ(c.tv_nsec, 500'000'000);
}

TEST(StampChoice, StampPktinfoNamesTheNicAndTheFrameLength) {
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(scm_timestamping)) + CMSG_SPACE(sizeof(scm_ts_pktinfo))]{};
  msghdr msg{};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  c->cmsg_len = CMSG_LEN(sizeof(scm_timestamping));
  scm_timestamping ts{};
  ts.ts[0] = at(100, 1);
  ts.ts[2] = at(200, 2);
  std::memcpy(CMSG_DATA(c), &ts, sizeof ts);
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_TIMESTAMPING_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(scm_ts_pktinfo));
  scm_ts_pktinfo info{};
  info.if_index = kNic;
  info.pkt_length = 90;
  std::memcpy(CMSG_DATA(c), &info, sizeof info);
  const ControlStamps stamps = parse_control_stamps({control, sizeof control});
  ASSERT_TRUE(stamps.hardware);
  EXPECT_EQ(stamps.hardware->tv_sec, 200);
  EXPECT_EQ(stamps.stamp_ifindex, kNic);
  EXPECT_EQ(stamps.stamp_length, 90u);
}

}  // namespace
}  // namespace kairos
