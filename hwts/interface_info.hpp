#pragma once
// What a network interface can timestamp, and which PTP hardware clock (PHC) stamps its packets.
// The kernel answers through ethtool netlink (TSINFO_GET, Documentation/networking/
// ethtool-netlink.rst) or, on kernels or builds without it, through the older SIOCETHTOOL
// ETHTOOL_GET_TS_INFO ioctl; both give the same four facts (SO_TIMESTAMPING capability bits, TX
// types, RX filters, PHC index). The PHC ↔ interface map and virtual clocks come from sysfs.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock/result.hpp"

namespace kairos {

struct TimestampingInfo {
  std::string interface;
  int ifindex = 0;
  std::optional<int> phc_index;      // /dev/ptpN, absent when the interface has no PHC
  std::uint32_t so_timestamping = 0;  // SOF_TIMESTAMPING_* capability bits
  std::uint32_t tx_types = 0;         // bit (1 << HWTSTAMP_TX_*) per supported TX type
  std::uint32_t rx_filters = 0;       // bit (1 << HWTSTAMP_FILTER_*) per supported RX filter
  std::string driver;                 // empty when the driver does not say (lo)
  std::vector<int> vclocks;           // virtual PHCs on top of phc_index, best effort
  std::string via;                    // "netlink" or "ioctl": how the kernel was asked

  bool hardware_rx() const;  // RX hardware stamps with the raw PHC time
  bool hardware_tx() const;  // TX hardware stamps, and the NIC can be told to make them
  bool software_rx() const;
  bool software_tx() const;
  // An RX filter that stamps NTP packets: NTP_ALL or ALL (PTP-only filters miss them).
  bool can_filter_ntp() const;
};

// Names as ethtool prints them, space separated ("hardware-receive software-receive ...").
std::string so_timestamping_to_string(std::uint32_t bits);
std::string tx_types_to_string(std::uint32_t mask);
std::string rx_filters_to_string(std::uint32_t mask);
// One value (not a mask): HWTSTAMP_TX_* and HWTSTAMP_FILTER_* names, "unknown-N" beyond.
std::string tx_type_name(int tx_type);
std::string rx_filter_name(int rx_filter);

// How to ask the kernel. kAuto tries netlink and falls back to the ioctl when the ethtool family
// is missing or the request is not supported; the other two force one way (tests, phcstat).
enum class TsinfoPath : std::uint8_t { kAuto, kNetlink, kIoctl };

Result<TimestampingInfo> query_timestamping(const std::string& interface, TsinfoPath path = TsinfoPath::kAuto,
                                            const std::string& sysfs_root = "/sys");

// Parses the attributes of an ETHTOOL_MSG_TSINFO_GET_REPLY (the genl payload after the genl
// header). Pure and bounds-checked: garbage gives an error, never a read past `attrs`. Fills
// interface, ifindex, phc_index and the three masks; via is "netlink".
Result<TimestampingInfo> parse_tsinfo_reply(std::span<const std::uint8_t> attrs);

// The driver's name from the ETHTOOL_GDRVINFO ioctl; empty when it has none to give.
std::string driver_name(const std::string& interface);

struct PhcEntry {
  int index = 0;
  std::string path;                     // "/dev/ptpN"
  std::string clock_name;               // sysfs clock_name, e.g. the driver's name
  std::vector<std::string> interfaces;  // every interface whose device owns this clock
  std::vector<int> vclocks;             // virtual clocks built on this one
  bool is_vclock = false;               // this entry is itself a virtual clock
};

// Every PHC under <sysfs_root>/class/ptp with the interfaces that use it, sorted by index.
Result<std::vector<PhcEntry>> list_phcs(const std::string& sysfs_root = "/sys");

// The PHC of one interface from sysfs (<root>/class/net/<if>/device/ptp/ptpN), if any.
std::optional<int> phc_of_interface(const std::string& interface, const std::string& sysfs_root = "/sys");

// Virtual clocks of PHC `index` (child ptpM devices of <root>/class/ptp/ptpN), sorted.
std::vector<int> vclocks_of(int index, const std::string& sysfs_root = "/sys");

}  // namespace kairos
