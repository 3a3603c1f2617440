#include "hwts/nic_timestamping.hpp"

#include "hwts/ioctl_socket.hpp"

#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "hwts/interface_info.hpp"

namespace kairos {
namespace {

int system_ioctl(const std::string& ifname, unsigned long request, hwtstamp_config* config) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return ENODEV;
  const int sock = open_ioctl_socket();
  if (sock < 0) return errno;
  ifreq r{};
  std::memcpy(r.ifr_name, ifname.data(), ifname.size());
  r.ifr_data = reinterpret_cast<char*>(config);
  const int rc = ::ioctl(sock, request, &r);
  const int error = rc == 0 ? 0 : errno;
  ::close(sock);
  return error;
}

bool unsupported(int error) { return error == EOPNOTSUPP || error == ENOTSUP; }

bool same_setting(const hwtstamp_config& a, const hwtstamp_config& b) {
  return a.tx_type == b.tx_type && a.rx_filter == b.rx_filter;
}

bool serves_fully(const hwtstamp_config& c) { return rx_filter_serves_ntp(c.rx_filter) && c.tx_type == HWTSTAMP_TX_ON; }

std::string describe_config(const hwtstamp_config& c) {
  return "rx filter " + rx_filter_name(c.rx_filter) + ", tx " + tx_type_name(c.tx_type);
}

// What an unconfigured NIC holds; our restore target when the old setting could not be read.
constexpr hwtstamp_config kAllOff{0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE};

}  // namespace

NicIoctl NicIoctl::system() { return NicIoctl{system_ioctl, [](const std::string& ifname) { return driver_name(ifname); }}; }

Result<HwTimestampingMode> parse_hw_timestamping_mode(const std::string& text) {
  if (text == "auto") return HwTimestampingMode::kAuto;
  if (text == "on") return HwTimestampingMode::kOn;
  if (text == "check") return HwTimestampingMode::kCheck;
  if (text == "off") return HwTimestampingMode::kOff;
  return fail("hw-timestamping \"" + text + "\": expected auto, on, check or off");
}

const char* to_string(HwTimestampingMode mode) {
  switch (mode) {
    case HwTimestampingMode::kAuto: return "auto";
    case HwTimestampingMode::kOn: return "on";
    case HwTimestampingMode::kCheck: return "check";
    case HwTimestampingMode::kOff: return "off";
  }
  return "unknown";
}

bool rx_filter_serves_ntp(int rx_filter) { return rx_filter == HWTSTAMP_FILTER_ALL || rx_filter == HWTSTAMP_FILTER_NTP_ALL; }

NicTimestamping::NicTimestamping(std::string ifname, HwTimestampingMode mode, NicIoctl ioctl)
    : ifname_(std::move(ifname)), mode_(mode), ioctl_(std::move(ioctl)) {}

NicTimestamping::~NicTimestamping() { (void)restore(); }

NicTimestamping::NicTimestamping(NicTimestamping&& other) noexcept
    : ifname_(std::move(other.ifname_)),
      mode_(other.mode_),
      ioctl_(std::move(other.ioctl_)),
      hardware_active_(other.hardware_active_),
      hardware_tx_(other.hardware_tx_),
      rx_filter_(other.rx_filter_),
      changed_(std::exchange(other.changed_, false)),
      reason_(std::move(other.reason_)),
      previous_(other.previous_),
      expected_(other.expected_) {}

NicTimestamping& NicTimestamping::operator=(NicTimestamping&& other) noexcept {
  if (this != &other) {
    (void)restore();
    ifname_ = std::move(other.ifname_);
    mode_ = other.mode_;
    ioctl_ = std::move(other.ioctl_);
    hardware_active_ = other.hardware_active_;
    hardware_tx_ = other.hardware_tx_;
    rx_filter_ = other.rx_filter_;
    changed_ = std::exchange(other.changed_, false);
    reason_ = std::move(other.reason_);
    previous_ = other.previous_;
    expected_ = other.expected_;
  }
  return *this;
}

// nullopt: the driver cannot report its setting (old drivers lack SIOCGHWTSTAMP, and drivers
// without hardware timestamping answer the same way).
Result<std::optional<hwtstamp_config>> NicTimestamping::read_config() {
  hwtstamp_config config{};
  const int error = ioctl_.call(ifname_, SIOCGHWTSTAMP, &config);
  if (error == 0) return std::optional(config);
  if (unsupported(error)) return std::optional<hwtstamp_config>();
  if (error == ENODEV) return fail(ifname_ + ": no such interface");
  return fail(ifname_ + ": SIOCGHWTSTAMP: " + std::strerror(error));
}

Result<NicTimestamping> NicTimestamping::configure(const std::string& ifname, HwTimestampingMode mode, NicIoctl ioctl) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return fail("'" + ifname + "' is not a valid interface name");
  NicTimestamping nic(ifname, mode, std::move(ioctl));
  if (mode == HwTimestampingMode::kOff) {
    nic.reason_ = "hw-timestamping off";
    return nic;
  }
  auto current = nic.read_config();
  if (!current) return std::unexpected(current.error());

  auto accept = [&](const hwtstamp_config& c, std::string why) {
    nic.expected_ = c;
    nic.rx_filter_ = c.rx_filter;
    nic.hardware_active_ = rx_filter_serves_ntp(c.rx_filter);
    nic.hardware_tx_ = nic.hardware_active_ && c.tx_type == HWTSTAMP_TX_ON;
    nic.reason_ = std::move(why);
  };

  if (mode == HwTimestampingMode::kCheck) {
    if (!*current) {
      nic.reason_ = "check: the driver cannot report its configuration (SIOCGHWTSTAMP not supported)";
    } else if (!rx_filter_serves_ntp((*current)->rx_filter)) {
      accept(**current, "check: " + describe_config(**current) + " does not stamp NTP packets");
    } else {
      accept(**current, "check: " + describe_config(**current));
    }
    return nic;
  }

  // Already serving NTP (ptp4l with FILTER_ALL, an earlier run, an administrator): keep it and
  // leave ownership where it is. Rewriting would gain nothing and some drivers reset their
  // timestamping unit on every write.
  if (*current && serves_fully(**current)) {
    accept(**current, "already configured: " + describe_config(**current));
    return nic;
  }
  nic.previous_ = *current;

  std::string problem;
  bool permission_denied = false;
  for (int filter : {HWTSTAMP_FILTER_NTP_ALL, HWTSTAMP_FILTER_ALL}) {
    hwtstamp_config request{0, HWTSTAMP_TX_ON, filter};
    const int error = nic.ioctl_.call(ifname, SIOCSHWTSTAMP, &request);
    if (error == 0) {
      nic.changed_ = true;
      // The driver writes back what it set, which may be wider than asked (NTP_ALL → ALL).
      if (serves_fully(request)) {
        accept(request, "");
        return nic;
      }
      problem = "asked for rx filter " + rx_filter_name(filter) + ", the driver set " + describe_config(request);
      continue;
    }
    if (error == ENODEV) return fail(ifname + ": no such interface");
    if (error == ERANGE || error == EINVAL) {
      // This filter is not among the driver's; the next one may be.
      problem = "the driver rejects rx filter " + rx_filter_name(filter) + " (" + std::strerror(error) + ")";
      continue;
    }
    if (error == EPERM || error == EACCES) {
      permission_denied = true;
      problem = std::string("SIOCSHWTSTAMP: ") + std::strerror(error) + " (writing needs CAP_NET_ADMIN)";
    } else {
      problem = std::string("SIOCSHWTSTAMP: ") + std::strerror(error);
    }
    break;  // no other filter will fare better
  }

  // Failed: leave the NIC as we found it.
  if (auto restored = nic.restore(); !restored) problem += "; " + restored.error().message;

  if (permission_denied) {
    // Someone with the privilege set the NIC up for NTP receive stamps: use that.
    if (*current && rx_filter_serves_ntp((*current)->rx_filter)) {
      accept(**current, "cannot write (" + problem + "); using the existing " + describe_config(**current));
      return nic;
    }
    const std::string found = *current ? describe_config(**current) : std::string("unknown");
    return fail(ifname + ": cannot enable hardware timestamping: " + problem + ", and the current configuration (" +
                found + ") does not stamp NTP packets");
  }

  std::string driver = nic.ioctl_.driver ? nic.ioctl_.driver(ifname) : std::string();
  if (driver.empty()) driver = "unknown";
  const std::string message = ifname + ": no hardware timestamping (driver " + driver + "): " + problem;
  if (mode == HwTimestampingMode::kOn) return fail(message);
  nic.hardware_active_ = false;
  nic.hardware_tx_ = false;
  nic.rx_filter_.reset();
  nic.expected_.reset();
  nic.reason_ = "software fallback: " + message;
  return nic;
}

std::string NicTimestamping::describe() const {
  std::string out = ifname_ + ": hw-timestamping " + to_string(mode_) + ", hardware " +
                    (hardware_active_ ? (hardware_tx_ ? "rx+tx" : "rx only") : "inactive");
  if (rx_filter_) out += ", rx filter " + rx_filter_name(*rx_filter_);
  if (changed_) out += ", configured by us";
  if (!reason_.empty()) out += " (" + reason_ + ")";
  return out;
}

Result<void> NicTimestamping::restore() {
  if (!changed_) return {};
  changed_ = false;  // one attempt only, whatever happens
  auto now = read_config();
  if (now && *now && expected_ && !same_setting(**now, *expected_)) {
    // Someone reconfigured the NIC after us; it is theirs now.
    return {};
  }
  hwtstamp_config target = previous_.value_or(kAllOff);
  const int error = ioctl_.call(ifname_, SIOCSHWTSTAMP, &target);
  if (error != 0) return fail(ifname_ + ": restoring " + describe_config(previous_.value_or(kAllOff)) + ": " + std::strerror(error));
  return {};
}

Result<bool> NicTimestamping::still_configured() {
  if (!hardware_active_ || !expected_) return true;  // nothing of the NIC's setting is relied on
  auto now = read_config();
  if (!now) return std::unexpected(now.error());
  if (!*now) return fail(ifname_ + ": the driver no longer reports its configuration");
  return same_setting(**now, *expected_);
}

}  // namespace kairos
