#pragma once
// systemd's service notification (sd_notify(3)): READY=1 once kairosd serves and measures,
// STATUS= lines a person reads in `systemctl status`, and WATCHDOG=1 from the event loop, so a
// wedged loop gets the service restarted (WatchdogSec=). Without NOTIFY_SOCKET all are no-ops.
#include <chrono>
#include <optional>
#include <string>

#include "daemon/event_loop.hpp"

namespace kairos {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and the watchdog interval (sd_watchdog_enabled) from the environment;
  // with a watchdog, pets it from `loop` at half its interval until destroyed.
  explicit SystemdNotifier(EventLoop& loop);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  void ready(const std::string& status);
  void status(const std::string& status);
  void stopping();

  bool active() const { return active_; }
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  void notify(const std::string& message);

  EventLoop& loop_;
  bool active_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
  std::optional<EventLoop::TimerId> timer_;
  std::string last_status_;
};

}  // namespace kairos
