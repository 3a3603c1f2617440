#include "daemon/interfaces.hpp"

#include <gtest/gtest.h>
#include <linux/sockios.h>

namespace kairos {
namespace {

DaemonConfig with_interface(const std::string& name, HwTimestampingMode mode, bool discipline_phc = false) {
  DaemonConfig config;
  InterfaceConfig c;
  c.name = name;
  c.hw_timestamping = mode;
  c.discipline_phc = discipline_phc;
  c.rx_compensation = 7e-9;
  config.interfaces.push_back(c);
  return config;
}

// A NIC that can stamp everything; it records what was written.
struct FakeNic {
  hwtstamp_config current{};
  int sets = 0;
  NicIoctl ioctl() {
    NicIoctl n;
    n.call = [this](const std::string&, unsigned long request, hwtstamp_config* c) {
      if (request == SIOCSHWTSTAMP) {
        ++sets;
        current = *c;
        if (current.rx_filter == HWTSTAMP_FILTER_NTP_ALL) current.rx_filter = HWTSTAMP_FILTER_ALL;  // upgrade
        *c = current;
      } else {
        *c = current;
      }
      return 0;
    };
    return n;
  }
};

TEST(Interfaces, LoopbackInAutoFallsBackToSoftwareStamps) {
  EventLoop loop = EventLoop::create().value();
  auto interfaces = Interfaces::start(with_interface("lo", HwTimestampingMode::kAuto), loop);
  ASSERT_TRUE(interfaces) << interfaces.error().message;
  const InterfaceState* lo = (*interfaces)->find("lo");
  ASSERT_NE(lo, nullptr);
  EXPECT_FALSE(lo->hardware());
  EXPECT_FALSE(lo->fallback.empty());
  EXPECT_FALSE((*interfaces)->any_hardware());
  EXPECT_EQ((*interfaces)->by_ifindex(lo->ifindex()), lo);
}

TEST(Interfaces, OnWithoutHardwareRefusesToStartNamingTheInterface) {
  EventLoop loop = EventLoop::create().value();
  auto interfaces = Interfaces::start(with_interface("lo", HwTimestampingMode::kOn), loop);
  ASSERT_FALSE(interfaces);
  EXPECT_NE(interfaces.error().message.find("lo"), std::string::npos) << interfaces.error().message;
}

TEST(Interfaces, AMissingInterfaceIsFatalOnlyWhenRequired) {
  EventLoop loop = EventLoop::create().value();
  auto lenient = Interfaces::start(with_interface("kairos-none0", HwTimestampingMode::kAuto), loop);
  ASSERT_TRUE(lenient) << lenient.error().message;
  EXPECT_FALSE((*lenient)->find("kairos-none0")->hardware());
  auto strict = Interfaces::start(with_interface("kairos-none0", HwTimestampingMode::kOn), loop);
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().message.find("kairos-none0"), std::string::npos);
}

TEST(Interfaces, HardwareNicIsSetUpAndRestoredAtExit) {
  EventLoop loop = EventLoop::create().value();
  FakeNic nic;
  {
    auto interfaces = Interfaces::start(with_interface("lo", HwTimestampingMode::kAuto), loop, nic.ioctl());
    ASSERT_TRUE(interfaces) << interfaces.error().message;
    const InterfaceState* lo = (*interfaces)->find("lo");
    EXPECT_TRUE(lo->hardware());
    EXPECT_TRUE((*interfaces)->any_hardware());
    EXPECT_EQ(nic.current.rx_filter, HWTSTAMP_FILTER_ALL);
    EXPECT_DOUBLE_EQ(lo->correction.rx_compensation, 7e-9);
    EXPECT_EQ(nic.sets, 1);
  }
  // Back to what it was (all off), written once more.
  EXPECT_EQ(nic.sets, 2);
  EXPECT_EQ(nic.current.rx_filter, HWTSTAMP_FILTER_NONE);
  EXPECT_EQ(nic.current.tx_type, HWTSTAMP_TX_OFF);
}

TEST(Interfaces, AForeignChangeIsNoticedAndOurSetupReapplied) {
  EventLoop loop = EventLoop::create().value();
  FakeNic nic;
  auto interfaces = Interfaces::start(with_interface("lo", HwTimestampingMode::kAuto), loop, nic.ioctl());
  ASSERT_TRUE(interfaces);
  nic.current.rx_filter = HWTSTAMP_FILTER_PTP_V2_EVENT;  // ptp4l, say
  (*interfaces)->check_foreign_changes();
  EXPECT_EQ(nic.current.rx_filter, HWTSTAMP_FILTER_ALL);
  EXPECT_TRUE((*interfaces)->find("lo")->hardware());
}

TEST(Interfaces, DisciplinePhcWithoutAPhcRefusesAndRestoresTheNic) {
  EventLoop loop = EventLoop::create().value();
  FakeNic nic;
  auto interfaces = Interfaces::start(with_interface("lo", HwTimestampingMode::kAuto, true), loop, nic.ioctl());
  ASSERT_FALSE(interfaces);
  EXPECT_NE(interfaces.error().message.find("no PTP hardware clock"), std::string::npos) << interfaces.error().message;
  EXPECT_EQ(nic.current.rx_filter, HWTSTAMP_FILTER_NONE);  // nothing left changed
}

}  // namespace
}  // namespace kairos
