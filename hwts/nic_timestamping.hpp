#pragma once
// Switching a NIC's hardware timestamping on for NTP (SIOCSHWTSTAMP, Documentation/networking/
// timestamping.rst, "Hardware Timestamping Configuration"), and putting it back.
//
// The NIC is shared: ptp4l may own it, an administrator may have configured it, and its
// configuration outlives us. So: read first, write only when the current setting does not serve
// NTP, verify what the driver actually set (drivers may answer a request with a wider filter),
// restore only what we changed, and never write in "check" mode.
#include <linux/net_tstamp.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "clock/result.hpp"

namespace kairos {

// The two ioctls, injectable so tests drive a fake NIC. `call` performs SIOCGHWTSTAMP or
// SIOCSHWTSTAMP on `ifname` with `config` in/out and returns 0 or a positive errno. `driver`
// names the driver for messages ("" when unknown).
struct NicIoctl {
  std::function<int(const std::string& ifname, unsigned long request, hwtstamp_config* config)> call;
  std::function<std::string(const std::string& ifname)> driver;

  // The real thing: an AF_INET datagram socket per call, the ETHTOOL_GDRVINFO driver name.
  static NicIoctl system();
};

enum class HwTimestampingMode : std::uint8_t {
  kAuto,   // hardware when the NIC can, software stamps otherwise
  kOn,     // hardware or an error
  kCheck,  // read only: report whether the current setting serves NTP, never write
  kOff,    // leave the NIC alone
};
Result<HwTimestampingMode> parse_hw_timestamping_mode(const std::string& text);
const char* to_string(HwTimestampingMode mode);

// An RX filter that stamps NTP packets. ALL and NTP_ALL do; PTP filters and SOME do not
// (SOME promises only "what was asked plus some", never which).
bool rx_filter_serves_ntp(int rx_filter);

class NicTimestamping {
 public:
  // Applies `mode` to `ifname`. Errors: the interface is missing, "on" and the NIC cannot, a
  // write refused for lack of privilege (EPERM) while the current setting does not serve NTP.
  // "auto" on a NIC that cannot gives a software fallback, not an error.
  static Result<NicTimestamping> configure(const std::string& ifname, HwTimestampingMode mode,
                                           NicIoctl ioctl = NicIoctl::system());

  ~NicTimestamping();
  NicTimestamping(NicTimestamping&& other) noexcept;
  NicTimestamping& operator=(NicTimestamping&& other) noexcept;
  NicTimestamping(const NicTimestamping&) = delete;
  NicTimestamping& operator=(const NicTimestamping&) = delete;

  const std::string& interface() const { return ifname_; }
  HwTimestampingMode mode() const { return mode_; }
  // The NIC stamps received NTP packets in hardware.
  bool hardware_active() const { return hardware_active_; }
  // The NIC stamps transmitted packets (tx_type ON) as well.
  bool hardware_tx() const { return hardware_tx_; }
  // HWTSTAMP_FILTER_* in effect, when known.
  std::optional<int> rx_filter() const { return rx_filter_; }
  // We wrote the NIC's configuration (and will restore it).
  bool changed() const { return changed_; }
  // Why hardware is not active, or how an existing setting was accepted; empty otherwise.
  const std::string& reason() const { return reason_; }
  std::string describe() const;

  // Writes back the configuration found before, once, if we changed it and nobody changed it
  // after us (a foreign writer owns it then). Idempotent; the destructor calls it.
  Result<void> restore();

  // Re-reads the NIC: true while its configuration is the one we applied or accepted, false
  // when someone else changed it. Errors when it cannot be read (interface gone).
  Result<bool> still_configured();

 private:
  NicTimestamping(std::string ifname, HwTimestampingMode mode, NicIoctl ioctl);
  Result<std::optional<hwtstamp_config>> read_config();

  std::string ifname_;
  HwTimestampingMode mode_ = HwTimestampingMode::kOff;
  NicIoctl ioctl_;
  bool hardware_active_ = false;
  bool hardware_tx_ = false;
  std::optional<int> rx_filter_;
  bool changed_ = false;
  std::string reason_;
  std::optional<hwtstamp_config> previous_;  // found before our write, when readable
  std::optional<hwtstamp_config> expected_;  // what the NIC should keep: applied or accepted
};

}  // namespace kairos
