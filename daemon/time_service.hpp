#pragma once
// kairosd's serving side: the cookie master keys, the NTP server workers and the NTS-KE listener,
// with the timers that rotate the keys and refresh the clock state the server announces.
#include <functional>
#include <memory>
#include <optional>

#include "clock/result.hpp"
#include "daemon/config.hpp"
#include "daemon/cookie_keys.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/ke_workers.hpp"
#include "daemon/ntp_server.hpp"

namespace kairos {

class TimeService {
 public:
  // Opens the keys, binds every listener and starts the workers; nothing is served on failure.
  // `hardware`: some NIC's stamps can be made system time (the direct path): the server asks for
  // them, and uses them once publish_hardware_clocks gives that NIC's line.
  static Result<std::unique_ptr<TimeService>> start(const DaemonConfig& config, EventLoop& loop,
                                                    bool hardware = false);
  ~TimeService();
  TimeService(const TimeService&) = delete;
  TimeService& operator=(const TimeService&) = delete;

  // Where the announced clock state comes from while the clock model vouches for the clock;
  // without it (or while it says nullopt) the server announces local-stratum or unsynchronized.
  void set_clock_source(std::function<std::optional<ServerClockState>()> source) { clock_source_ = std::move(source); }
  // The clock model took a sample: what the server announces follows at once rather than at the
  // next 16 s refresh (a chronyd client keeps polling an unsynchronized server at its slow rate:
  // it selected kairosd 60 s after kairosd was synchronized, against 8 s behind chronyd).
  void clock_updated();
  // The NICs' lines from PHC time to system time changed (ClockGraph::on_lines_changed).
  void publish_hardware_clocks(const ServerHardwareClocks& nics) {
    if (ntp_) ntp_->publish_hardware_clocks(nics);
  }
  // SIGHUP: the NTS-KE certificate and key are read again; service goes on either way.
  void reload();
  // Counters for status queries: nullopt / nullptr for a role not served.
  std::optional<NtpServerCounters> ntp_counters() const { return ntp_ ? std::optional(ntp_->counters()) : std::nullopt; }
  std::optional<KeListenerCounters> ke_counters() const { return ke_ ? std::optional(ke_->counters()) : std::nullopt; }
  // One log line per role with its counters.
  void log_counters() const;

 private:
  TimeService(const DaemonConfig& config, EventLoop& loop) : config_(config), loop_(loop) {}
  void schedule_rotation();
  void refresh_clock_state();

  DaemonConfig config_;
  EventLoop& loop_;
  std::optional<CookieKeys> keys_;
  std::unique_ptr<NtpServer> ntp_;
  std::unique_ptr<KeWorkers> ke_;
  EventLoop::TimerId rotation_timer_ = 0;
  EventLoop::TimerId clock_timer_ = 0;
  std::int8_t precision_ = measure_clock_precision();
  std::function<std::optional<ServerClockState>()> clock_source_;
};

// The port a Port Negotiation record announces: the configured ntp-port, else the local
// server's port when it is not the default 123 (clients assume 123 without the record).
std::optional<std::uint16_t> announced_ntp_port(const DaemonConfig& config);

}  // namespace kairos
