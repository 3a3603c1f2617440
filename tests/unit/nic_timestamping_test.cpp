#include "hwts/nic_timestamping.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace kairos {
namespace {

// A NIC behind the ioctl seam. `supported` lists the RX filters it accepts as asked; `upgrade`
// maps a requested filter to the one it actually sets.
struct FakeNic {
  hwtstamp_config config{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE};
  std::set<int> supported{HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_ALL, HWTSTAMP_FILTER_NTP_ALL};
  std::optional<std::pair<int, int>> upgrade;  // requested → set
  int get_error = 0;
  int set_error = 0;
  std::vector<hwtstamp_config> sets;  // every SET seen, as requested
  int gets = 0;

  int call(unsigned long request, hwtstamp_config* c) {
    if (request == SIOCGHWTSTAMP) {
      ++gets;
      if (get_error != 0) return get_error;
      *c = config;
      return 0;
    }
    if (request != SIOCSHWTSTAMP) return EINVAL;
    sets.push_back(*c);
    if (set_error != 0) return set_error;
    int filter = c->rx_filter;
    if (upgrade && upgrade->first == filter) filter = upgrade->second;
    if (supported.count(filter) == 0) return ERANGE;
    c->rx_filter = filter;
    config = *c;
    return 0;
  }
};

NicIoctl seam(const std::shared_ptr<FakeNic>& nic) {
  return NicIoctl{[nic](const std::string&, unsigned long request, hwtstamp_config* c) { return nic->call(request, c); },
                  [](const std::string&) { return std::string("fakenic"); }};
}

bool equal(const hwtstamp_config& a, const hwtstamp_config& b) {
  return a.flags == b.flags && a.tx_type == b.tx_type && a.rx_filter == b.rx_filter;
}

TEST(NicTimestamping, ModesParseAndPrint) {
  for (auto mode : {HwTimestampingMode::kAuto, HwTimestampingMode::kOn, HwTimestampingMode::kCheck,
                    HwTimestampingMode::kOff}) {
    auto parsed = parse_hw_timestamping_mode(to_string(mode));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, mode);
  }
  auto bad = parse_hw_timestamping_mode("yes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("auto, on, check or off"), std::string::npos);
}

TEST(NicTimestamping, OnlyAllAndNtpAllServeNtp) {
  EXPECT_TRUE(rx_filter_serves_ntp(HWTSTAMP_FILTER_ALL));
  EXPECT_TRUE(rx_filter_serves_ntp(HWTSTAMP_FILTER_NTP_ALL));
  EXPECT_FALSE(rx_filter_serves_ntp(HWTSTAMP_FILTER_SOME));
  EXPECT_FALSE(rx_filter_serves_ntp(HWTSTAMP_FILTER_PTP_V2_EVENT));
  EXPECT_FALSE(rx_filter_serves_ntp(HWTSTAMP_FILTER_NONE));
}

TEST(NicTimestamping, NtpAllIsRequestedAndSet) {
  auto fake = std::make_shared<FakeNic>();
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_TRUE(nic) << nic.error().message;
  EXPECT_TRUE(nic->hardware_active());
  EXPECT_TRUE(nic->hardware_tx());
  EXPECT_TRUE(nic->changed());
  EXPECT_EQ(nic->rx_filter(), HWTSTAMP_FILTER_NTP_ALL);
  ASSERT_EQ(fake->sets.size(), 1u);
  EXPECT_EQ(fake->sets[0].rx_filter, HWTSTAMP_FILTER_NTP_ALL);
  EXPECT_EQ(fake->sets[0].tx_type, HWTSTAMP_TX_ON);
}

TEST(NicTimestamping, DriverUpgradingNtpAllToAllIsAccepted) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported = {HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_ALL};
  fake->upgrade = std::pair{HWTSTAMP_FILTER_NTP_ALL, HWTSTAMP_FILTER_ALL};
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_TRUE(nic) << nic.error().message;
  EXPECT_TRUE(nic->hardware_active());
  EXPECT_EQ(nic->rx_filter(), HWTSTAMP_FILTER_ALL);
  EXPECT_EQ(fake->sets.size(), 1u);  // the upgraded answer was good enough: no second try
}

TEST(NicTimestamping, DriverWithoutNtpAllGetsFilterAll) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported = {HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_ALL};
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kAuto, seam(fake));
  ASSERT_TRUE(nic) << nic.error().message;
  EXPECT_TRUE(nic->hardware_active());
  EXPECT_EQ(nic->rx_filter(), HWTSTAMP_FILTER_ALL);
  ASSERT_EQ(fake->sets.size(), 2u);
  EXPECT_EQ(fake->sets[1].rx_filter, HWTSTAMP_FILTER_ALL);
}

TEST(NicTimestamping, PtpOnlyNicFallsBackToSoftwareInAuto) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported = {HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_PTP_V2_EVENT};
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kAuto, seam(fake));
  ASSERT_TRUE(nic) << nic.error().message;
  EXPECT_FALSE(nic->hardware_active());
  EXPECT_FALSE(nic->changed());
  EXPECT_NE(nic->reason().find("software fallback"), std::string::npos) << nic->reason();
  EXPECT_NE(nic->reason().find("fakenic"), std::string::npos) << nic->reason();
  EXPECT_EQ(fake->config.rx_filter, HWTSTAMP_FILTER_NONE);
}

TEST(NicTimestamping, PtpOnlyNicIsAnErrorWhenOn) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported = {HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_PTP_V2_EVENT};
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_FALSE(nic);
  EXPECT_NE(nic.error().message.find("eth0: no hardware timestamping (driver fakenic)"), std::string::npos)
      << nic.error().message;
}

TEST(NicTimestamping, DriverAnsweringWithAPtpFilterIsUndoneAndRefused) {
  // Asked for NTP_ALL, the driver settles on a PTP filter: not enough, and the NIC goes back.
  auto fake = std::make_shared<FakeNic>();
  fake->supported = {HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_PTP_V2_EVENT};
  fake->upgrade = std::pair{HWTSTAMP_FILTER_NTP_ALL, HWTSTAMP_FILTER_PTP_V2_EVENT};
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_FALSE(nic);
  EXPECT_TRUE(equal(fake->config, hwtstamp_config{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE}));
}

TEST(NicTimestamping, NoTimestampingDriverFailsOnAndFallsBackInAuto) {
  auto fake = std::make_shared<FakeNic>();
  fake->get_error = EOPNOTSUPP;
  fake->set_error = EOPNOTSUPP;
  auto on = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_FALSE(on);
  EXPECT_NE(on.error().message.find("eth0: no hardware timestamping (driver fakenic): "), std::string::npos)
      << on.error().message;
  auto fallback = NicTimestamping::configure("eth0", HwTimestampingMode::kAuto, seam(fake));
  ASSERT_TRUE(fallback);
  EXPECT_FALSE(fallback->hardware_active());
  EXPECT_NE(fallback->reason().find("software fallback"), std::string::npos);
}

TEST(NicTimestamping, EpermWithMatchingExistingConfigIsAcceptedNotChangedNotRestored) {
  // Someone enabled RX stamping of everything (TX off); we lack CAP_NET_ADMIN to add TX.
  auto fake = std::make_shared<FakeNic>();
  fake->config = {0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_ALL};
  fake->set_error = EPERM;
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
    ASSERT_TRUE(nic) << nic.error().message;
    EXPECT_TRUE(nic->hardware_active());
    EXPECT_FALSE(nic->hardware_tx());
    EXPECT_FALSE(nic->changed());
    EXPECT_EQ(nic->rx_filter(), HWTSTAMP_FILTER_ALL);
    EXPECT_NE(nic->reason().find("CAP_NET_ADMIN"), std::string::npos) << nic->reason();
    ASSERT_TRUE(nic->restore());
  }
  EXPECT_EQ(fake->sets.size(), 1u);  // the refused attempt, and no restore after it
  EXPECT_TRUE(equal(fake->config, hwtstamp_config{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_ALL}));
}

TEST(NicTimestamping, EpermWithoutMatchingConfigIsAnError) {
  auto fake = std::make_shared<FakeNic>();
  fake->config = {0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_EVENT};
  fake->set_error = EPERM;
  for (auto mode : {HwTimestampingMode::kOn, HwTimestampingMode::kAuto}) {
    auto nic = NicTimestamping::configure("eth0", mode, seam(fake));
    ASSERT_FALSE(nic);
    EXPECT_NE(nic.error().message.find("ptpv2-event"), std::string::npos) << nic.error().message;
    EXPECT_NE(nic.error().message.find("CAP_NET_ADMIN"), std::string::npos) << nic.error().message;
  }
}

TEST(NicTimestamping, ExistingNtpConfigIsKeptWithoutWriting) {
  // ptp4l-style FILTER_ALL with TX on already serves NTP: no write, nothing to restore.
  auto fake = std::make_shared<FakeNic>();
  fake->config = {0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_ALL};
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kAuto, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_TRUE(nic->hardware_active());
    EXPECT_FALSE(nic->changed());
  }
  EXPECT_TRUE(fake->sets.empty());
}

TEST(NicTimestamping, RestoreWritesTheOldConfigExactlyOnce) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported.insert(HWTSTAMP_FILTER_PTP_V2_EVENT);
  const hwtstamp_config old{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_PTP_V2_EVENT};
  fake->config = old;
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_TRUE(nic->changed());
    NicTimestamping moved = std::move(*nic);  // the moved-from object must not restore
    ASSERT_TRUE(moved.restore());
    ASSERT_EQ(fake->sets.size(), 2u);
    EXPECT_TRUE(equal(fake->sets[1], old));
    EXPECT_TRUE(equal(fake->config, old));
    ASSERT_TRUE(moved.restore());
    EXPECT_FALSE(moved.changed());
  }  // destructors: no further writes
  EXPECT_EQ(fake->sets.size(), 2u);
}

TEST(NicTimestamping, DestructorRestores) {
  auto fake = std::make_shared<FakeNic>();
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_EQ(fake->config.rx_filter, HWTSTAMP_FILTER_NTP_ALL);
  }
  EXPECT_EQ(fake->sets.size(), 2u);
  EXPECT_TRUE(equal(fake->config, hwtstamp_config{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE}));
}

TEST(NicTimestamping, CheckModeNeverWrites) {
  auto fake = std::make_shared<FakeNic>();
  fake->config = {0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_EVENT};  // ptp4l's
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kCheck, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_FALSE(nic->hardware_active());
    EXPECT_NE(nic->reason().find("does not stamp NTP"), std::string::npos) << nic->reason();
    EXPECT_TRUE(nic->still_configured().value_or(false));
  }
  fake->config = {0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_ALL};
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kCheck, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_TRUE(nic->hardware_active());
    EXPECT_EQ(nic->rx_filter(), HWTSTAMP_FILTER_ALL);
  }
  EXPECT_TRUE(fake->sets.empty());
  EXPECT_GE(fake->gets, 2);
}

TEST(NicTimestamping, OffModeDoesNothing) {
  auto fake = std::make_shared<FakeNic>();
  {
    auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOff, seam(fake));
    ASSERT_TRUE(nic);
    EXPECT_FALSE(nic->hardware_active());
  }
  EXPECT_EQ(fake->gets, 0);
  EXPECT_TRUE(fake->sets.empty());
}

TEST(NicTimestamping, ForeignChangeIsDetectedAndNotOverwrittenOnRestore) {
  auto fake = std::make_shared<FakeNic>();
  fake->supported.insert(HWTSTAMP_FILTER_PTP_V2_EVENT);
  auto nic = NicTimestamping::configure("eth0", HwTimestampingMode::kOn, seam(fake));
  ASSERT_TRUE(nic);
  auto still = nic->still_configured();
  ASSERT_TRUE(still);
  EXPECT_TRUE(*still);
  fake->config = {0, HWTSTAMP_TX_ON, HWTSTAMP_FILTER_PTP_V2_EVENT};  // ptp4l started
  still = nic->still_configured();
  ASSERT_TRUE(still);
  EXPECT_FALSE(*still);
  const auto writes = fake->sets.size();
  ASSERT_TRUE(nic->restore());
  EXPECT_EQ(fake->sets.size(), writes);  // theirs now
  EXPECT_EQ(fake->config.rx_filter, HWTSTAMP_FILTER_PTP_V2_EVENT);
}

TEST(NicTimestamping, MissingInterfaceIsAnError) {
  auto fake = std::make_shared<FakeNic>();
  fake->get_error = ENODEV;
  auto nic = NicTimestamping::configure("eth9", HwTimestampingMode::kAuto, seam(fake));
  ASSERT_FALSE(nic);
  EXPECT_NE(nic.error().message.find("eth9: no such interface"), std::string::npos);
}

TEST(NicTimestamping, LoopbackFallsBackInAutoAndFailsWhenOn) {
  auto fallback = NicTimestamping::configure("lo", HwTimestampingMode::kAuto);
  ASSERT_TRUE(fallback) << fallback.error().message;
  EXPECT_FALSE(fallback->hardware_active());
  EXPECT_FALSE(fallback->changed());
  EXPECT_NE(fallback->reason().find("software fallback"), std::string::npos) << fallback->reason();

  auto on = NicTimestamping::configure("lo", HwTimestampingMode::kOn);
  ASSERT_FALSE(on);
  EXPECT_EQ(on.error().message.rfind("lo: no hardware timestamping", 0), 0u) << on.error().message;

  auto check = NicTimestamping::configure("lo", HwTimestampingMode::kCheck);
  ASSERT_TRUE(check);
  EXPECT_FALSE(check->hardware_active());
}

// veth has no hardware timestamping: the pair lives in a scratch namespace of its own, so no
// existing interface is touched.
TEST(NicTimestamping, VethFailsWhenOnNamingTheDriverAndFallsBackInAuto) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0) GTEST_SKIP() << "needs iproute2";
  const std::string ns = "kairos-nic-" + std::to_string(::getpid());
  auto sh = [](const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; };
  if (!sh("ip netns add " + ns)) GTEST_SKIP() << "ip netns add failed";
  struct Cleanup {
    std::function<void()> run;
    ~Cleanup() { run(); }
  } cleanup{[&] { sh("ip netns del " + ns); }};
  ASSERT_TRUE(sh("ip -n " + ns + " link add kv0 type veth peer name kv1"));

  const int original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(original, 0);
  ASSERT_GE(target, 0);
  ASSERT_EQ(::setns(target, CLONE_NEWNET), 0);
  auto on = NicTimestamping::configure("kv0", HwTimestampingMode::kOn);
  auto fallback = NicTimestamping::configure("kv0", HwTimestampingMode::kAuto);
  if (::setns(original, CLONE_NEWNET) != 0) std::abort();  // never go on in the wrong namespace
  ::close(target);
  ::close(original);

  ASSERT_FALSE(on);
  EXPECT_EQ(on.error().message.rfind("kv0: no hardware timestamping (driver veth): ", 0), 0u) << on.error().message;
  ASSERT_TRUE(fallback) << fallback.error().message;
  EXPECT_FALSE(fallback->hardware_active());
  EXPECT_NE(fallback->reason().find("software fallback"), std::string::npos);
}

}  // namespace
}  // namespace kairos
