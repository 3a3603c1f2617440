#include "daemon/sd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace kairos {

SystemdNotifier::SystemdNotifier(EventLoop& loop) : loop_(loop) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && *socket != '\0';
  if (!active_) return;
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set for this very process (WATCHDOG_PID).
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
    spdlog::info("systemd watchdog: {} ms, petted every {} ms", usec / 1000, usec / 2000);
    // Half the interval: one late loop turn must not be taken for a hung daemon.
    timer_ = loop_.add_repeating(*watchdog_ / 2, [this] { notify("WATCHDOG=1"); });
  }
}

SystemdNotifier::~SystemdNotifier() {
  if (timer_) loop_.cancel_timer(*timer_);
}

void SystemdNotifier::ready(const std::string& status) {
  last_status_ = status;
  notify("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::status(const std::string& status) {
  if (status == last_status_) return;  // only changes are worth a datagram
  last_status_ = status;
  notify("STATUS=" + status);
}

void SystemdNotifier::stopping() { notify("STOPPING=1"); }

void SystemdNotifier::notify(const std::string& message) {
  if (!active_) return;
  if (int r = sd_notify(0, message.c_str()); r < 0) spdlog::warn("sd_notify: error {}", -r);
}

}  // namespace kairos
