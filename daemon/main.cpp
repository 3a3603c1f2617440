// kairosd: the kairos time daemon. It measures its sources (NTS or plain NTP), feeds the clock
// model (which steers the system clock with `steer = true`, and only observes otherwise), and
// serves time (NTP and NTS, with an NTS-KE server) when configured.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <list>
#include <nlohmann/json.hpp>

#include "clock/linux_clock.hpp"
#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/control_server.hpp"
#include "daemon/daemon_status.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/interfaces.hpp"
#include "daemon/logging.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/metrics_text.hpp"
#include "daemon/privileges.hpp"
#include "daemon/realtime_watch.hpp"
#include "daemon/resolver.hpp"
#include "daemon/shm_writer.hpp"
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

// The control socket for kairosctl. A socket that was asked for ([control] in the file) must
// open; the default one may not (no /run/kairos for an unprivileged test run, another kairosd
// holding it): then kairosd runs without it and says so.
Result<std::unique_ptr<ControlServer>> start_control(const ControlConfig& config, EventLoop& loop,
                                                     ControlServer::Handler handler) {
  ControlServerOptions options;
  options.path = config.socket;
  options.mode = config.mode;
  if (config.group) {
    auto gid = group_id(*config.group);
    if (!gid) return std::unexpected(gid.error());
    options.group = *gid;
  }
  return ControlServer::start(loop, std::move(options), std::move(handler));
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
  // The PHCs that take part, opened before the privileges go (read-only when observing).
  HardwareInterfaces hardware;
  for (const InterfaceState& nic : (*interfaces)->states()) {
    const InterfaceConfig& c = nic.config;
    if (!(c.discipline_phc || c.phc_follows_system) || !nic.phc_index()) continue;
    const std::string path = "/dev/ptp" + std::to_string(*nic.phc_index());
    const PhcAccess access = steer ? PhcAccess::kReadWrite : PhcAccess::kReadOnly;
    auto added = clocks.add_phc(PhcPlan{.interface = c.name,
                                        .ifindex = nic.ifindex(),
                                        .discipline = c.discipline_phc,
                                        .follows_system = c.phc_follows_system},
                                [path, access] { return PhcDevice::open(path, {}, access); });
    if (!added) {
      spdlog::critical("{}", added.error().message);
      return 1;
    }
    if (c.discipline_phc) {
      // Client sockets ask for NIC stamps; an exchange uses them when they came from one of
      // these NICs (still stamping in hardware), with that NIC's corrections.
      hardware = [&nics = **interfaces](int ifindex) -> std::optional<StampCorrection> {
        const InterfaceState* state = nics.by_ifindex(ifindex);
        if (!state || !state->config.discipline_phc || !state->hardware()) return std::nullopt;
        return state->correction;
      };
    }
  }
  // The time page for applications (tools/kairos_now): refreshed every second and after every
  // sample. Without it kairosd still works, so a failure is only a warning.
  std::unique_ptr<ShmWriter> shm;
  if (config->shm.enabled) {
    auto created = ShmWriter::create(config->shm.path);
    if (created) {
      shm = std::move(*created);
    } else {
      spdlog::warn("{}; applications get no time bound from kairosd", created.error().message);
    }
  }
  const ShmOptions shm_options{.max_drift = config->shm.max_drift,
                               .max_slew = config->system_clock.max_slew,
                               .max_age = std::chrono::seconds(3)};  // 3 updates missed
  // Only read (its frequency, to know the rate of a steered clock's offset), never adjusted.
  const std::unique_ptr<KernelClock> system_reader = KernelClock::system();
  auto publish_system = [&] {
    if (!shm) return;
    const auto t0 = EventLoop::Clock::now();
    const ClockStatus status = clocks.system_status();
    std::optional<double> kernel_frequency;
    if (status.steered) {
      if (auto f = system_reader->frequency()) kernel_frequency = *f;
    }
    const ShmClock record = shm_clock_from_status(status, kernel_frequency, shm_options, t0);
    if (auto published = shm->publish(std::span(&record, 1)); !published) {
      spdlog::warn("{}", published.error().message);
    }
  };
  std::function<void()> shm_tick = [&] {
    publish_system();
    loop->add_timer(std::chrono::seconds(1), shm_tick);
  };
  if (shm) shm_tick();
  auto realtime_watch = RealtimeWatch::start(*loop, [&] {
    clocks.on_realtime_set();
    publish_system();
  });
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
  std::unique_ptr<Resolver> resolver;    // started after the privilege drop; outlives the sources
  std::list<Association> associations;  // stable addresses: timers capture `this`
  // The control socket is made before the privileges go: its directory is usually root's.
  // One snapshot of the daemon for the control socket and the metrics page alike.
  auto snapshot = [&] {
    DaemonStatus status = collect_status(clocks.system_status(), associations, service.get());
    status.clocks = clocks.clock_statuses();
    return status;
  };
  std::unique_ptr<ControlServer> control;
  if (config->control.enabled) {
    auto started = start_control(config->control, *loop, [&](ControlCommand command) {
      const DaemonStatus status = snapshot();
      return answer_json(command, status).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    });
    if (started) {
      control = std::move(*started);
      spdlog::info("control socket {}", config->control.socket);
    } else if (config->control.line != 0) {
      spdlog::critical("{}", started.error().message);
      return 1;
    } else {
      spdlog::warn("running without a control socket: {}", started.error().message);
    }
  }
  // The Prometheus endpoint, bound before the drop too: a port it cannot have stops the start.
  std::unique_ptr<MetricsServer> metrics;
  if (config->metrics) {
    auto started = MetricsServer::start(*config->metrics);
    if (!started) {
      spdlog::critical("{}", started.error().message);
      return 1;
    }
    metrics = std::move(*started);
    spdlog::info("metrics on http://{}/metrics", config->metrics->listen);
  }
  // Everything that needed root is held now (ports, NICs, PHCs, the control socket): become [daemon] user with only
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
  // Its thread starts here, after the drop and the filter: it never holds a capability and
  // getaddrinfo runs under the same seccomp filter as the loop.
  if (!config->sources.empty()) {
    auto started = Resolver::start(*loop);
    if (!started) {
      spdlog::critical("{}", started.error().message);
      return 1;
    }
    resolver = std::move(*started);
  }
  for (const SourceConfig& source : config->sources) {
    const std::size_t index = clocks.add_source(source.address);
    associations
        .emplace_back(*loop, *resolver, source,
                      [&clocks, &publish_system, index](const Association& a, const NtpExchangeResult& r) {
                        log_sample(a, r);
                        clocks.on_sample(index, r);
                        publish_system();
                      },
                      hardware)
        .start();
  }
  // The HTTP thread never reads the daemon's state: the loop renders the page and hands it over.
  std::function<void()> metrics_tick = [&] {
    metrics->publish(metrics_text(snapshot(), KAIROS_VERSION));
    loop->add_timer(std::chrono::seconds(1), metrics_tick);
  };
  if (metrics) metrics_tick();
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
  control.reset();
  metrics.reset();
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
