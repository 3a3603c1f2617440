// kairosd: the kairos time daemon. It measures its sources (NTS or plain NTP), feeds the clock
// model (which steers the system clock with `steer = true`, and only observes otherwise), and
// serves time (NTP and NTS, with an NTS-KE server) when configured.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <list>

#include "clock/linux_clock.hpp"
#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/interfaces.hpp"
#include "daemon/logging.hpp"
#include "daemon/privileges.hpp"
#include "daemon/realtime_watch.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/seccomp_filter.hpp"
#include "daemon/time_service.hpp"

using namespace kairos;

namespace {

void log_sample(const Association& source, const NtpExchangeResult& r) {
  const NtpSample& s = r.sample;
  spdlog::info("{}: sample offset {:+.9f} s delay {:.9f} s stratum {} stamps {}/{} {}{}{}", source.name(),
               s.offset.seconds(), s.delay.seconds(), s.header.stratum, to_string(r.t1_source),
               to_string(r.t4_source), s.authenticated ? "authenticated" : "unauthenticated",
               s.interleaved ? " interleaved" : "",
               r.rejected ? fmt::format(" ({} forged or stale responses rejected)", r.rejected) : "");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kairosd — NTS time daemon"};
  std::string config_path = "/etc/kairos/kairos.toml";
  bool no_steer = false;
  bool foreground = false;
  bool check_only = false;
  std::optional<std::string> log_level;
  app.add_option("-c,--config", config_path, "Configuration file (TOML)");
  app.add_flag("--no-steer", no_steer, "Observe only: measure, never adjust a clock");
  app.add_flag("--foreground", foreground, "Stay in the foreground and log to stderr (the only mode so far)");
  app.add_flag("--check-config", check_only, "Check the configuration, print every problem and exit");
  app.add_option("--log-level", log_level, "debug, info, warn or error (overrides [logging] level)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);

  auto config = load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  if (check_only) {
    std::printf("%s: ok (%zu sources%s%s)\n", config_path.c_str(), config->sources.size(),
                config->server ? ", NTP server" : "", config->ke_server ? ", NTS-KE server" : "");
    return 0;
  }
  const bool steer = config->steer && !no_steer;

  if (auto logging = set_up_logging(config->logging, log_level); !logging) {
    std::fprintf(stderr, "%s\n", logging.error().message.c_str());
    return 1;
  }
  auto loop = EventLoop::create();
  if (!loop) {
    spdlog::critical("{}", loop.error().message);
    return 1;
  }
  std::unique_ptr<TimeService> service;
  std::unique_ptr<SystemdNotifier> notifier;
  auto signals = loop->handle_signals({SIGTERM, SIGINT, SIGHUP}, [&](int signal) {
    if (signal == SIGHUP) {
      if (service) {
        service->reload();
      } else {
        spdlog::warn("SIGHUP: nothing to reload (sources are read at start only)");
      }
      return;
    }
    spdlog::info("signal {}: exiting", signal);
    if (notifier) notifier->stopping();
    loop->stop();
  });
  if (!signals) {
    spdlog::critical("{}", signals.error().message);
    return 1;
  }

  auto stamps_on = hold_rx_timestamping();
  if (!stamps_on) spdlog::warn("kernel timestamps unavailable ({}); using user-space stamps", stamps_on.error().message);
  spdlog::info("kairosd starting: {} sources, {}", config->sources.size(),
               steer ? "steering the system clock" : "observe-only (no clock is steered)");
  // NICs first: an interface that must have hardware stamps and cannot stops the start here,
  // before anything is served or measured. Their old setup comes back when this goes out of scope.
  auto interfaces = Interfaces::start(*config, *loop);
  if (!interfaces) {
    spdlog::critical("{}", interfaces.error().message);
    return 1;
  }
  ClockGraph clocks(*config, *loop, KernelClock::system(), steer);
  auto realtime_watch = RealtimeWatch::start(*loop, [&] { clocks.on_realtime_set(); });
  if (!realtime_watch) spdlog::warn("clock steps by other processes will go unnoticed: {}", realtime_watch.error().message);
  // After handle_signals: the server's worker threads inherit the blocked signal mask, so every
  // signal still arrives through the loop's signalfd.
  if (config->server || config->ke_server) {
    auto started = TimeService::start(*config, *loop);
    if (!started) {
      spdlog::critical("{}", started.error().message);
      return 1;
    }
    service = std::move(*started);
    // Observing, the clock served is not the one the model corrects: only local-stratum or
    // unsynchronized may be announced then.
    if (steer) service->set_clock_source([&clocks] { return clocks.server_state(); });
  }
  // Everything that needed root is held now (ports, NICs, PHCs): become [daemon] user with only
  // the capabilities the configuration needs, then the syscall filter. Failing either must not
  // leave a daemon running with more than it was told to keep.
  if (auto dropped = drop_privileges(plan_privileges(*config, steer)); !dropped) {
    spdlog::critical("cannot drop privileges: {}", dropped.error().message);
    return 1;
  }
  if (config->seccomp) {
    if (auto filtered = install_seccomp_filter(); !filtered) {
      spdlog::critical("{}", filtered.error().message);
      return 1;
    }
  }
  notifier = std::make_unique<SystemdNotifier>(*loop);
  std::list<Association> associations;  // stable addresses: timers capture `this`
  for (const SourceConfig& source : config->sources) {
    const std::size_t index = clocks.add_source(source.address);
    associations
        .emplace_back(*loop, source,
                      [&clocks, index](const Association& a, const NtpExchangeResult& r) {
                        log_sample(a, r);
                        clocks.on_sample(index, r);
                      })
        .start();
  }
  // `systemctl status` shows the clock's state; a datagram goes out only when the text changes.
  auto status_line = [&] {
    return fmt::format("system clock {} ({}), {} sources{}", to_string(clocks.system_status().state),
                       steer ? "steering" : "observe-only", config->sources.size(), service ? ", serving time" : "");
  };
  std::function<void()> report_status = [&] {
    notifier->status(status_line());
    loop->add_timer(std::chrono::seconds(5), report_status);
  };
  notifier->ready(status_line());
  loop->add_timer(std::chrono::seconds(5), report_status);
  auto ran = loop->run();
  for (const Association& a : associations) {
    const auto& c = a.counters();
    spdlog::info("{}: {} samples ({} interleaved), {} timeouts, {} rejected responses, {} NAKs, NTS-KE {} ok / {} failed",
                 a.name(), c.samples, c.interleaved, c.timeouts, c.rejected, c.naks, c.ke_ok, c.ke_failed);
  }
  if (service) service->log_counters();
  clocks.log_status();
  service.reset();
  if (!ran) {
    spdlog::critical("{}", ran.error().message);
    return 1;
  }
  return 0;
}
