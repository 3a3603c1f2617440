#include "hwts/interface_info.hpp"

#include <gtest/gtest.h>
#include <linux/ethtool_netlink.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <net/if.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Netlink attribute builders: header (length, type), payload, padding to 4 bytes.
constexpr std::size_t kHeader = 4;

Bytes attr(std::uint16_t type, const Bytes& payload) {
  Bytes out(kHeader);
  const auto length = static_cast<std::uint16_t>(kHeader + payload.size());
  std::memcpy(out.data(), &length, 2);
  std::memcpy(out.data() + 2, &type, 2);
  out.insert(out.end(), payload.begin(), payload.end());
  out.resize((out.size() + 3) & ~std::size_t{3}, 0);
  return out;
}

Bytes u32(std::uint32_t value) {
  Bytes out(4);
  std::memcpy(out.data(), &value, 4);
  return out;
}

Bytes str(const std::string& s) {
  Bytes out(s.begin(), s.end());
  out.push_back(0);
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes nest(std::uint16_t type, std::initializer_list<Bytes> parts) {
  return attr(static_cast<std::uint16_t>(type | NLA_F_NESTED), cat(parts));
}

Bytes compact_list(std::uint32_t size, std::uint32_t value) {
  return cat({attr(ETHTOOL_A_BITSET_NOMASK, {}), attr(ETHTOOL_A_BITSET_SIZE, u32(size)),
              attr(ETHTOOL_A_BITSET_VALUE, u32(value))});
}

Bytes verbose_bit(std::uint32_t index, const std::string& name, bool value) {
  Bytes fields = cat({attr(ETHTOOL_A_BITSET_BIT_INDEX, u32(index)), attr(ETHTOOL_A_BITSET_BIT_NAME, str(name))});
  if (value) fields = cat({fields, attr(ETHTOOL_A_BITSET_BIT_VALUE, {})});
  return attr(ETHTOOL_A_BITSET_BITS_BIT | NLA_F_NESTED, fields);
}

constexpr std::uint32_t kSoftwareBits =
    SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
constexpr std::uint32_t kHardwareBits =
    SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;

// What an ice-like NIC with a PHC answers, in compact form.
Bytes compact_reply() {
  return cat({nest(ETHTOOL_A_TSINFO_HEADER,
                   {attr(ETHTOOL_A_HEADER_DEV_INDEX, u32(4)), attr(ETHTOOL_A_HEADER_DEV_NAME, str("eth0"))}),
              nest(ETHTOOL_A_TSINFO_TIMESTAMPING, {compact_list(17, kSoftwareBits | kHardwareBits)}),
              nest(ETHTOOL_A_TSINFO_TX_TYPES, {compact_list(4, (1u << HWTSTAMP_TX_OFF) | (1u << HWTSTAMP_TX_ON))}),
              nest(ETHTOOL_A_TSINFO_RX_FILTERS,
                   {compact_list(16, (1u << HWTSTAMP_FILTER_NONE) | (1u << HWTSTAMP_FILTER_ALL))}),
              attr(ETHTOOL_A_TSINFO_PHC_INDEX, u32(2))});
}

TEST(InterfaceInfo, CompactBitsetReplyIsParsed) {
  auto info = parse_tsinfo_reply(compact_reply());
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->interface, "eth0");
  EXPECT_EQ(info->ifindex, 4);
  EXPECT_EQ(info->phc_index, 2);
  EXPECT_EQ(info->so_timestamping, kSoftwareBits | kHardwareBits);
  EXPECT_TRUE(info->hardware_rx());
  EXPECT_TRUE(info->hardware_tx());
  EXPECT_TRUE(info->can_filter_ntp());
  EXPECT_EQ(info->via, "netlink");
}

TEST(InterfaceInfo, VerboseListBitsetReplyIsParsed) {
  // Verbose list form: every listed bit is set; names are informative only.
  const Bytes reply = cat({
      nest(ETHTOOL_A_TSINFO_TIMESTAMPING,
           {attr(ETHTOOL_A_BITSET_NOMASK, {}), attr(ETHTOOL_A_BITSET_SIZE, u32(17)),
            nest(ETHTOOL_A_BITSET_BITS, {verbose_bit(1, "software-transmit", false),
                                         verbose_bit(3, "software-receive", false),
                                         verbose_bit(4, "software-system-clock", false)})}),
      nest(ETHTOOL_A_TSINFO_RX_FILTERS,
           {attr(ETHTOOL_A_BITSET_NOMASK, {}), attr(ETHTOOL_A_BITSET_SIZE, u32(16)),
            nest(ETHTOOL_A_BITSET_BITS,
                 {verbose_bit(HWTSTAMP_FILTER_PTP_V2_EVENT, "ptpv2-event", false),
                  verbose_bit(HWTSTAMP_FILTER_NTP_ALL, "ntp-all", false)})}),
  });
  auto info = parse_tsinfo_reply(reply);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->so_timestamping, kSoftwareBits);
  EXPECT_EQ(info->rx_filters, (1u << HWTSTAMP_FILTER_PTP_V2_EVENT) | (1u << HWTSTAMP_FILTER_NTP_ALL));
  EXPECT_TRUE(info->can_filter_ntp());
  EXPECT_FALSE(info->hardware_rx());
  EXPECT_FALSE(info->phc_index.has_value());
}

TEST(InterfaceInfo, VerboseValueMaskBitsetSetsOnlyBitsWithValue) {
  const Bytes reply = nest(ETHTOOL_A_TSINFO_TX_TYPES,
                           {attr(ETHTOOL_A_BITSET_SIZE, u32(4)),
                            nest(ETHTOOL_A_BITSET_BITS, {verbose_bit(0, "off", false), verbose_bit(1, "on", true)})});
  auto info = parse_tsinfo_reply(reply);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->tx_types, 1u << HWTSTAMP_TX_ON);
}

TEST(InterfaceInfo, CompactValueIsMaskedUnlessNomask) {
  const Bytes reply = nest(ETHTOOL_A_TSINFO_RX_FILTERS,
                           {attr(ETHTOOL_A_BITSET_SIZE, u32(16)), attr(ETHTOOL_A_BITSET_VALUE, u32(0x3)),
                            attr(ETHTOOL_A_BITSET_MASK, u32(0x2))});
  auto info = parse_tsinfo_reply(reply);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->rx_filters, 0x2u);
}

TEST(InterfaceInfo, UnknownAttributesAreSkipped) {
  const Bytes reply = cat({attr(60, u32(7)), compact_reply(), nest(61, {attr(1, u32(1))})});
  auto info = parse_tsinfo_reply(reply);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->phc_index, 2);
}

TEST(InterfaceInfo, EmptyReplyMeansNoCapabilities) {
  auto info = parse_tsinfo_reply({});
  ASSERT_TRUE(info);
  EXPECT_EQ(info->so_timestamping, 0u);
  EXPECT_FALSE(info->phc_index);
}

TEST(InterfaceInfo, TruncatedAttributesAreErrorsNeverCrashes) {
  const Bytes good = compact_reply();
  int errors = 0;
  // Every prefix: either a clean parse of what is whole, or an error; ASan/UBSan catch overreads.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto info = parse_tsinfo_reply(std::span(good.data(), n));
    if (!info) ++errors;
  }
  EXPECT_GT(errors, static_cast<int>(good.size()) / 2);

  Bytes overlong = attr(ETHTOOL_A_TSINFO_PHC_INDEX, u32(1));
  overlong[0] = 200;  // length claims more than there is
  auto info = parse_tsinfo_reply(overlong);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("truncated"), std::string::npos) << info.error().message;
}

TEST(InterfaceInfo, MalformedFieldsAreErrors) {
  EXPECT_FALSE(parse_tsinfo_reply(attr(ETHTOOL_A_TSINFO_PHC_INDEX, Bytes{1, 0})));
  EXPECT_FALSE(parse_tsinfo_reply(
      nest(ETHTOOL_A_TSINFO_TIMESTAMPING, {attr(ETHTOOL_A_BITSET_VALUE, Bytes{1, 2, 3})})));
  Bytes short_header = attr(ETHTOOL_A_TSINFO_HEADER, Bytes{0x08, 0x00});
  EXPECT_FALSE(parse_tsinfo_reply(short_header));
}

TEST(InterfaceInfo, BitsAndFiltersHaveNames) {
  EXPECT_EQ(so_timestamping_to_string(kSoftwareBits), "software-transmit software-receive software-system-clock");
  EXPECT_EQ(tx_types_to_string((1u << HWTSTAMP_TX_OFF) | (1u << HWTSTAMP_TX_ON)), "off on");
  EXPECT_EQ(rx_filters_to_string(1u << HWTSTAMP_FILTER_NTP_ALL), "ntp-all");
  EXPECT_EQ(rx_filter_name(HWTSTAMP_FILTER_ALL), "all");
  EXPECT_EQ(rx_filter_name(99), "unknown-99");
  EXPECT_EQ(tx_type_name(HWTSTAMP_TX_ON), "on");
}

TEST(InterfaceInfo, LoopbackAnswersOverNetlinkWithSoftwareStampsAndNoPhc) {
  auto info = query_timestamping("lo", TsinfoPath::kNetlink);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->via, "netlink");
  EXPECT_EQ(info->interface, "lo");
  EXPECT_EQ(info->ifindex, static_cast<int>(if_nametoindex("lo")));
  EXPECT_TRUE(info->software_rx());
  EXPECT_TRUE(info->software_tx());
  EXPECT_FALSE(info->hardware_rx());
  EXPECT_FALSE(info->hardware_tx());
  EXPECT_FALSE(info->phc_index.has_value());
  EXPECT_TRUE(info->vclocks.empty());
}

TEST(InterfaceInfo, LoopbackAnswersTheSameOverTheIoctl) {
  auto by_ioctl = query_timestamping("lo", TsinfoPath::kIoctl);
  ASSERT_TRUE(by_ioctl) << by_ioctl.error().message;
  EXPECT_EQ(by_ioctl->via, "ioctl");
  EXPECT_TRUE(by_ioctl->software_rx());
  EXPECT_FALSE(by_ioctl->phc_index.has_value());
  auto by_netlink = query_timestamping("lo", TsinfoPath::kNetlink);
  ASSERT_TRUE(by_netlink) << by_netlink.error().message;
  EXPECT_EQ(by_ioctl->so_timestamping, by_netlink->so_timestamping);
  EXPECT_EQ(by_ioctl->tx_types, by_netlink->tx_types);
  EXPECT_EQ(by_ioctl->rx_filters, by_netlink->rx_filters);
  EXPECT_EQ(by_ioctl->ifindex, by_netlink->ifindex);
}

TEST(InterfaceInfo, MissingInterfaceErrorNamesIt) {
  for (auto path : {TsinfoPath::kAuto, TsinfoPath::kNetlink, TsinfoPath::kIoctl}) {
    auto info = query_timestamping("kairosnone0", path);
    ASSERT_FALSE(info);
    EXPECT_NE(info.error().message.find("kairosnone0"), std::string::npos) << info.error().message;
    EXPECT_NE(info.error().message.find("no such interface"), std::string::npos) << info.error().message;
  }
  auto bad = query_timestamping("a-name-far-too-long-for-linux");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("a-name-far-too-long-for-linux"), std::string::npos);
}

// A sysfs tree as the kernel lays it out: a two-port device owning ptp0, with one virtual clock
// (ptp1, a child device of ptp0), and lo without a device.
class FakeSysfs {
 public:
  FakeSysfs() {
    namespace fs = std::filesystem;
    const fs::path root = dir_.path();
    const fs::path device = root / "devices/pci0000:00/0000:00:03.0";
    fs::create_directories(device / "ptp/ptp0/ptp1");
    write(device / "ptp/ptp0/clock_name", "fake_phc\n");
    write(device / "ptp/ptp0/n_vclocks", "1\n");
    write(device / "ptp/ptp0/ptp1/clock_name", "ptp virtual clock\n");
    fs::create_directories(root / "class/ptp");
    fs::create_directory_symlink(device / "ptp/ptp0", root / "class/ptp/ptp0");
    fs::create_directory_symlink(device / "ptp/ptp0/ptp1", root / "class/ptp/ptp1");
    for (const char* port : {"eth0", "eth1"}) {
      fs::create_directories(root / "class/net" / port);
      fs::create_directory_symlink(device, root / "class/net" / port / "device");
    }
    fs::create_directories(root / "class/net/lo");
  }
  std::string root() const { return dir_.path(); }

 private:
  static void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }
  test::TempDir dir_;
};

TEST(InterfaceInfo, FakeSysfsMapsPhcToBothPortsAndItsVirtualClock) {
  FakeSysfs sysfs;
  auto phcs = list_phcs(sysfs.root());
  ASSERT_TRUE(phcs) << phcs.error().message;
  ASSERT_EQ(phcs->size(), 2u);
  const PhcEntry& physical = (*phcs)[0];
  EXPECT_EQ(physical.index, 0);
  EXPECT_EQ(physical.path, "/dev/ptp0");
  EXPECT_EQ(physical.clock_name, "fake_phc");
  EXPECT_EQ(physical.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(physical.vclocks, std::vector<int>{1});
  EXPECT_FALSE(physical.is_vclock);
  const PhcEntry& virtual_clock = (*phcs)[1];
  EXPECT_EQ(virtual_clock.index, 1);
  EXPECT_TRUE(virtual_clock.is_vclock);
  EXPECT_TRUE(virtual_clock.interfaces.empty());

  EXPECT_EQ(phc_of_interface("eth0", sysfs.root()), 0);
  EXPECT_EQ(phc_of_interface("eth1", sysfs.root()), 0);
  EXPECT_FALSE(phc_of_interface("lo", sysfs.root()));
  EXPECT_EQ(vclocks_of(0, sysfs.root()), std::vector<int>{1});
  EXPECT_TRUE(vclocks_of(1, sysfs.root()).empty());
}

TEST(InterfaceInfo, SysfsWithoutPhcsListsNone) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/class/net/lo");
  auto phcs = list_phcs(dir.path());
  ASSERT_TRUE(phcs) << phcs.error().message;
  EXPECT_TRUE(phcs->empty());
  EXPECT_FALSE(list_phcs(dir.path() + "/missing"));
}

}  // namespace
}  // namespace kairos
