#pragma once
// The [[interface]] sections at work: each NIC's hardware timestamping set as its mode says
// (auto | on | check | off) and restored at exit, its PHC and link speed found, and kept true
// over the daemon's life: a periodic re-read notices another program changing the NIC, rtnetlink
// notices links going down, up, away and back (hot-plug), and a returning NIC is set up again.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "hwts/interface_info.hpp"
#include "hwts/link_monitor.hpp"
#include "hwts/nic_timestamping.hpp"
#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_correction.hpp"

namespace kairos {

struct InterfaceState {
  InterfaceConfig config;
  std::optional<TimestampingInfo> info;
  std::optional<NicTimestamping> nic;  // what we set (or accepted); nullopt: software stamps only
  std::string fallback;                // why software stamps, when they are
  StampCorrection correction;

  bool hardware() const { return nic && nic->hardware_active(); }
  std::optional<int> phc_index() const { return info ? info->phc_index : std::nullopt; }
  int ifindex() const { return info ? info->ifindex : 0; }
};

class Interfaces {
 public:
  // Sets up every configured interface. Fails (nothing changed on any NIC) when an interface in
  // mode "on" cannot give hardware stamps, or one whose PHC is to be disciplined has none.
  static Result<std::unique_ptr<Interfaces>> start(const DaemonConfig& config, EventLoop& loop,
                                                   NicIoctl ioctl = NicIoctl::system(),
                                                   std::string sysfs = "/sys");
  ~Interfaces();
  Interfaces(const Interfaces&) = delete;
  Interfaces& operator=(const Interfaces&) = delete;

  const std::vector<InterfaceState>& states() const { return states_; }
  const InterfaceState* find(const std::string& name) const;
  const InterfaceState* by_ifindex(int ifindex) const;
  // Some NIC stamps NTP packets in hardware: client sockets should ask for those stamps.
  bool any_hardware() const;
  // Every NIC we changed gets its previous configuration back (SIGTERM); idempotent.
  void restore();

  // Re-reads each NIC we configured; reapplies ours if another program changed it (not in
  // check mode, where the other program owns the NIC). Called on a timer; public for tests.
  void check_foreign_changes();
  void on_link_event(const LinkEvent& event);

 private:
  Interfaces(EventLoop& loop, NicIoctl ioctl, std::string sysfs) : loop_(loop), ioctl_(std::move(ioctl)), sysfs_(std::move(sysfs)) {}
  // Queries and configures one interface; fatal problems only as errors.
  Result<void> set_up(InterfaceState& state);

  EventLoop& loop_;
  NicIoctl ioctl_;
  std::string sysfs_;
  std::vector<InterfaceState> states_;
  std::optional<LinkMonitor> links_;
  std::optional<EventLoop::TimerId> check_timer_;
};

// [[interface]] phc-vclock: the binding of every source's stamps to that PTP virtual clock, or
// why the kernel would refuse it on every socket (not a vclock of this NIC's PHC; no hardware
// stamps), with the command that makes one.
Result<PhcBinding> vclock_binding(const InterfaceState& nic);

}  // namespace kairos
