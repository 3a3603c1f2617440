// kairosd: the kairos time daemon. It measures its sources (NTS or plain NTP), feeds the clock
// model (which steers the system clock with `steer = true`, and only observes otherwise), and
// serves time (NTP and NTS, with an NTS-KE server) when configured.
#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <list>
#include <map>
#include <nlohmann/json.hpp>

#include "hwts/interface_info.hpp"
#include "hwts/linux_clock.hpp"
#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/control_server.hpp"
#include "daemon/clock_evidence.hpp"
#include "daemon/daemon_status.hpp"
#include "daemon/evidence_log.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/frequency_file.hpp"
#include "daemon/interfaces.hpp"
#include "daemon/leap_seconds_file.hpp"
#include "daemon/logging.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/metrics_text.hpp"
#include "daemon/nts_state_file.hpp"
#include "daemon/privileges.hpp"
#include "daemon/ptp_source.hpp"
#include "daemon/realtime_watch.hpp"
#include "daemon/reload.hpp"
#include "daemon/resolver.hpp"
#include "daemon/shm_writer.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/seccomp_filter.hpp"
#include "daemon/tier_watch.hpp"
#include "daemon/time_service.hpp"
#include "daemon/tracking_log.hpp"

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

std::int64_t unix_seconds_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The leap-seconds.list to the system clock's model, said once in the log.
void use_leap_seconds_file(ClockGraph& clocks, LeapSecondsFile file, const char* when) {
  if (!file.warning.empty()) spdlog::warn("{}{}", when, file.warning);
  if (file.list) {
    const LeapSecondsList& list = *file.list;
    const std::optional<int> tai = list.tai_utc_at(unix_seconds_now());
    spdlog::info("{}leap seconds from {}: TAI - UTC {} s, expires {}, {}", when, file.path, tai ? *tai : 0,
                 utc_date(list.expiry), list.hash_verified ? "hash verified" : "no hash to verify");
  }
  clocks.set_leap_seconds_list(std::move(file.list), file.path);
}

// SIGHUP: the configuration file read again and what can change live applied (daemon/reload.hpp).
// An invalid file changes nothing. `running` is what runs: its sources in the order of
// `associations`, whose clock-graph indexes are `graph_ids`; `start_source` starts one more
// source at the end of both. `level_fixed`: --log-level wins over the file.
void reload_configuration(const std::string& path, DaemonConfig& running, bool level_fixed,
                          std::list<Association>& associations, std::vector<std::size_t>& graph_ids,
                          ClockGraph& clocks, TimeService* service,
                          const std::function<void(const SourceConfig&)>& start_source) {
  auto next = load_config(path);
  if (!next) {
    spdlog::error("SIGHUP: {} has problems; nothing changed, the running configuration stays:", path);
    const std::string& problems = next.error().message;
    for (std::size_t begin = 0; begin < problems.size();) {
      const std::size_t end = std::min(problems.find('\n', begin), problems.size());
      spdlog::error("  {}", problems.substr(begin, end - begin));
      begin = end + 1;
    }
    return;
  }
  ReloadPlan plan = plan_reload(running, *next);
  if (!plan.restart_needed.empty()) {
    std::string keys;
    for (const std::string& key : plan.restart_needed) keys += (keys.empty() ? "" : ", ") + key;
    spdlog::warn("SIGHUP: {} changed: needs a restart; keeping the old value", keys);
  }
  // From the back, so that the indexes still to go stay valid.
  for (auto i = plan.remove.rbegin(); i != plan.remove.rend(); ++i) {
    const std::size_t at = *i;
    const auto association = std::next(associations.begin(), static_cast<std::ptrdiff_t>(at));
    spdlog::info("SIGHUP: source {} removed", association->name());
    associations.erase(association);  // its timers, sockets and NTS session go with it
    clocks.remove_source(graph_ids[at]);
    graph_ids.erase(graph_ids.begin() + static_cast<std::ptrdiff_t>(at));
    running.sources.erase(running.sources.begin() + static_cast<std::ptrdiff_t>(at));
  }
  for (const SourceConfig& source : plan.add) {
    spdlog::info("SIGHUP: source {} added", source_name(source));
    running.sources.push_back(source);
    start_source(source);
  }
  if (plan.log_level && level_fixed) {
    spdlog::info("SIGHUP: [logging] level {} not applied: --log-level was given", *plan.log_level);
    plan.log_level.reset();
  }
  if (plan.log_level) {
    if (auto set = set_log_level(*plan.log_level); set) {
      running.logging.level = *plan.log_level;
    } else {
      spdlog::error("SIGHUP: {}", set.error().message);
      plan.log_level.reset();
    }
  }
  if (service) service->reload();  // the certificate and key files, as every SIGHUP
  // The leap-seconds.list too (tzdata updates it twice a year); a broken one keeps the old list.
  if (auto leap = load_leap_seconds_file(next->system_clock, unix_seconds_now()); !leap) {
    spdlog::error("SIGHUP: {}; keeping the leap seconds known before", leap.error().message);
  } else {
    running.system_clock.leap_seconds_list = next->system_clock.leap_seconds_list;
    use_leap_seconds_file(clocks, std::move(*leap), "SIGHUP: ");
  }
  spdlog::info("{}", reload_summary(plan));
}

std::int64_t realtime_ms() {
  const timespec now = realtime_now();
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

// The system clock's frequency is saved this often while synchronized (and at exit).
constexpr auto kFrequencySaveInterval = std::chrono::minutes(10);

// The frequency file, if there is a usable one, seeds the system clock's model. A missing file
// is the first start; anything else wrong with it is said once and then ignored.
void seed_frequency(ClockGraph& clocks, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return;
  auto saved = load_frequency_file(path);
  if (!saved) {
    spdlog::warn("frequency file ignored: {}", saved.error().message);
    return;
  }
  const double sd = seeded_frequency_sd(*saved);
  clocks.seed_system_frequency(saved->frequency, sd);
  spdlog::info("system clock: frequency {:+.3f} ppm ± {:.3f} from {} (starting from ± {:.3f})", saved->frequency * 1e6,
               saved->sd * 1e6, path, sd * 1e6);
}

// Only a synchronized model's frequency is worth keeping; otherwise the old file stays.
void save_frequency(const ClockGraph& clocks, const std::string& path) {
  const ClockStatus status = clocks.system_status();
  if (status.state != DisciplineState::kSynchronized) return;
  const SavedFrequency saved{.frequency = status.frequency, .sd = status.frequency_sd, .written = std::time(nullptr)};
  if (!frequency_worth_saving(saved)) return;
  if (auto written = save_frequency_file(path, saved); !written) {
    spdlog::warn("frequency not saved: {}", written.error().message);
  }
}

void save_nts(const Association& source, const std::string& state_dir) {
  auto state = source.nts_state();
  if (!state) return;
  if (auto written = save_nts_state(state_dir, SavedNtsState{.source = source.name(), .ke = std::move(*state)});
      !written) {
    spdlog::warn("{}: NTS state not saved: {}", source.name(), written.error().message);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kairosd — NTS time daemon"};
  std::string config_path = "/etc/kairos/kairos.toml";
  bool no_steer = false;
  bool foreground = false;
  std::string check_path;
  std::optional<std::string> log_level;
  app.set_version_flag("--version", std::string("kairosd ") + KAIROS_VERSION);
  app.add_option("-c,--config", config_path, "Configuration file (TOML)");
  app.add_flag("--no-steer", no_steer, "Observe only: measure, never adjust a clock");
  app.add_flag("--foreground", foreground, "Log to stderr whatever [logging] target says (kairosd never forks)");
  // `--check-config FILE` as in the manual page, or `--config FILE --check-config`.
  auto* check = app.add_option("--check-config", check_path, "Check the configuration (FILE, else --config), print every "
                                                             "problem and exit")
                    ->expected(0, 1);
  app.add_option("--log-level", log_level, "debug, info, warn or error (overrides [logging] level)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  const bool check_only = check->count() > 0;
  if (check_only && !check_path.empty()) config_path = check_path;

  auto config = load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  // The leap-seconds.list is checked with the file: a configured one that cannot be used is an
  // error before anything starts.
  auto leap_file = load_leap_seconds_file(config->system_clock, unix_seconds_now());
  if (!leap_file) {
    std::fprintf(stderr, "%s: %s\n", config_path.c_str(), leap_file.error().message.c_str());
    return 1;
  }
  if (check_only) {
    if (!leap_file->warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", config_path.c_str(), leap_file->warning.c_str());
    // A TAI refclock needs TAI - UTC: without a current list it would never be used.
    const bool tai_known = leap_file->list && !leap_file->list->expired(unix_seconds_now());
    for (const RefclockConfig& ref : config->refclocks) {
      if (ref.tai && !tai_known) {
        std::fprintf(stderr, "%s:%zu: warning: [[refclock]] '%s' keeps TAI, and no current leap-seconds list gives "
                     "TAI - UTC: its readings will not be used until one does\n",
                     config_path.c_str(), ref.line, ref.name.c_str());
      }
    }
    std::printf("%s: ok (%zu sources%s%s%s%s)\n", config_path.c_str(), config->sources.size(),
                config->refclocks.empty() ? "" : fmt::format(", {} refclocks", config->refclocks.size()).c_str(),
                config->ptp.empty() ? "" : fmt::format(", {} PTP ports", config->ptp.size()).c_str(),
                config->server ? ", NTP server" : "", config->ke_server ? ", NTS-KE server" : "");
    return 0;
  }
  const bool steer = config->steer && !no_steer;
  if (foreground) config->logging.target = "stderr";

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
  std::function<void()> reload;  // set once everything runs (signals are read only then)
  auto signals = loop->handle_signals({SIGTERM, SIGINT, SIGHUP}, [&](int signal) {
    if (signal == SIGHUP) {
      // Synchronous on the loop: a storm of them is so many reloads in a row, never two at once.
      if (reload) {
        reload();
      } else if (service) {
        service->reload();
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
  // The kernel is never handed more than max-drift, through ADJ_FREQUENCY or ADJ_TICK.
  ClockGraph clocks(*config, *loop, KernelClock::system({}, config->system_clock.max_drift_ppm * 1e-6), steer);
  use_leap_seconds_file(clocks, std::move(*leap_file), "");
  // The state directory holds the frequency and NTS files; made here, before the privileges go.
  if (::mkdir(config->state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("cannot create state-dir {}: {}; frequency and NTS state are not kept", config->state_dir,
                 std::strerror(errno));
  }
  const std::string frequency_path = config->state_dir + "/frequency";
  seed_frequency(clocks, frequency_path);
  // The PHCs that take part, opened before the privileges go (read-only when observing).
  // An interface stamping in hardware whose PHC kairosd neither disciplines nor makes follow
  // the system clock takes the direct path (as chrony's hwtimestamp): its stamps reach the
  // system clock through the PHC's time, and the PHC is only read (ptp4l may own it).
  auto direct = [](const InterfaceState& nic) {
    const InterfaceConfig& c = nic.config;
    return !c.discipline_phc && !c.phc_follows_system && c.hw_timestamping != HwTimestampingMode::kOff && nic.hardware();
  };
  HardwareInterfaces hardware;
  bool server_hardware = false;  // some NIC's stamps can be made system time: the server uses them
  std::optional<PhcBinding> stamp_binding;  // [[interface]] phc-vclock: every source's sockets
  for (const InterfaceState& nic : (*interfaces)->states()) {
    const InterfaceConfig& c = nic.config;
    if (c.phc_vclock) {
      auto binding = vclock_binding(nic);
      if (!binding) {
        spdlog::critical("{}", binding.error().message);
        return 1;
      }
      stamp_binding = *binding;
    }
    if (!(c.discipline_phc || c.phc_follows_system || direct(nic)) || !nic.phc_index()) continue;
    const std::string path = "/dev/ptp" + std::to_string(c.phc_vclock ? *c.phc_vclock : *nic.phc_index());
    const PhcAccess access = steer && !direct(nic) ? PhcAccess::kReadWrite : PhcAccess::kReadOnly;
    auto added = clocks.add_phc(PhcPlan{.interface = c.name,
                                        .ifindex = nic.ifindex(),
                                        .discipline = c.discipline_phc,
                                        .follows_system = c.phc_follows_system,
                                        .convert = direct(nic)},
                                [path, access] { return PhcDevice::open(path, {}, access); });
    if (!added) {
      spdlog::critical("{}", added.error().message);
      return 1;
    }
    server_hardware = server_hardware || direct(nic);
    if (c.discipline_phc || direct(nic)) {
      // Client sockets ask for NIC stamps; an exchange uses them when they came from one of
      // these NICs (still stamping in hardware), with that NIC's corrections. A PHC that turns
      // out read-only keeps its NIC's stamps: they take the direct path then (ClockGraph).
      hardware = [&nics = **interfaces, direct](int ifindex) -> std::optional<StampCorrection> {
        const InterfaceState* state = nics.by_ifindex(ifindex);
        if (!state || !state->hardware() || !(state->config.discipline_phc || direct(*state))) return std::nullopt;
        return state->correction;
      };
    }
  }
  // [[refclock]]: PHCs another daemon (ptp4l) disciplines, read as sources of the system clock
  // (chrony's refclock PHC). Opened read-only before the privileges go: never adjusted.
  for (const RefclockConfig& ref : config->refclocks) {
    std::string path = ref.phc;
    if (path.empty()) {
      const std::optional<int> index = phc_of_interface(ref.interface);
      if (!index) {
        spdlog::critical("refclock {}: interface {} has no PTP hardware clock (or no such interface)", ref.name,
                         ref.interface);
        return 1;
      }
      path = "/dev/ptp" + std::to_string(*index);
    }
    auto added = clocks.add_refclock(ref, [path] { return PhcDevice::open(path, {}, PhcAccess::kReadOnly); });
    if (!added) {
      spdlog::critical("{}", added.error().message);
      return 1;
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
  if (shm) {
    publish_system();
    loop->add_repeating(std::chrono::seconds(1), publish_system);
  }
  // The clock log, opened before the privileges go (its directory may be root's).
  std::unique_ptr<TrackingLog> tracking;
  if (!config->logging.tracking.empty()) {
    auto opened = TrackingLog::open(config->logging.tracking);
    if (!opened) {
      spdlog::critical("{}", opened.error().message);
      return 1;
    }
    tracking = std::move(*opened);
    loop->add_repeating(std::chrono::seconds(1), [&] { tracking->write(realtime_now(), clocks.clock_statuses()); });
  }
  // The evidence log and the tiers ([evidence]); the log is opened after the privileges go, so
  // its directory and files belong to [daemon] user.
  std::unique_ptr<EvidenceLog> evidence;
  std::unique_ptr<TierWatch> tiers;
  if (config->evidence) tiers = std::make_unique<TierWatch>(config->evidence->tiers);
  // Under journald each breach and return is also an entry of its own message id, for alerting.
  if (tiers && config->logging.target == "journald") tiers->on_event(journal_tier_event);
  // The sources poll again at once after a foreign step (set once they exist, below).
  std::function<void()> sources_poll_now;
  auto realtime_watch = RealtimeWatch::start(*loop, [&] {
    clocks.on_realtime_set();
    if (sources_poll_now) sources_poll_now();
    publish_system();
    if (evidence) evidence->note_foreign_step(realtime_ms(), clocks.system_status().name);
  });
  if (!realtime_watch) spdlog::warn("clock steps by other processes will go unnoticed: {}", realtime_watch.error().message);
  // After handle_signals: the server's worker threads inherit the blocked signal mask, so every
  // signal still arrives through the loop's signalfd.
  if (config->server || config->ke_server) {
    auto started = TimeService::start(*config, *loop, server_hardware);
    if (!started) {
      spdlog::critical("{}", started.error().message);
      return 1;
    }
    service = std::move(*started);
    // As chrony's hwtimestamp: an interface's hardware stamps serve its server too, through the
    // same PHC-to-system lines as the client's direct path (daemon/server_stamps.hpp).
    if (server_hardware) {
      clocks.on_lines_changed([&clocks, &nics = **interfaces, s = service.get()] {
        ServerHardwareClocks lines;
        for (const auto& [ifindex, line] : clocks.phc_lines()) {
          const InterfaceState* nic = nics.by_ifindex(ifindex);
          if (nic && nic->hardware()) lines.push_back({ifindex, line, nic->correction});
        }
        s->publish_hardware_clocks(lines);
      });
    }
    // Observing, the clock served is not the one the model corrects: only local-stratum or
    // unsynchronized may be announced then.
    if (steer) service->set_clock_source([&clocks] { return clocks.server_state(); });
  }
  std::unique_ptr<Resolver> resolver;    // started after the privilege drop; outlives the sources
  std::list<Association> associations;  // stable addresses: timers capture `this`
  sources_poll_now = [&associations] {
    for (Association& a : associations) a.clock_stepped();
  };
  // [[ptp]]: PTP ports (daemon/ptp_source.hpp), each a guarded source of the system clock. Their
  // sockets (ports 319 and 320) are opened here, before the privileges go; they start below.
  std::vector<std::unique_ptr<PtpSource>> ptp_ports;
  std::vector<std::size_t> ptp_graph_ids;
  for (const PtpConfig& c : config->ptp) {
    const double max_error = c.max_error;
    // The port's place in the clock graph, known once its sockets say whose stamps it gets.
    auto index = std::make_shared<std::size_t>(0);
    auto opened = PtpSource::open(
        *loop,
        PtpSourceOptions{.name = c.name,
                         .interface = c.interface,
                         .domain = static_cast<std::uint8_t>(c.domain),
                         .unicast_masters = c.unicast_masters,
                         .timescale = parse_ptp_timescale(c.timescale).value_or(PtpTimescale::kAuto),
                         .transport = parse_ptp_transport(c.transport).value_or(PtpTransport::kUdpV4),
                         .hardware = hardware},
        [&clocks] { return clocks.elapsed(); },
        [&clocks, &publish_system, index, max_error](const PtpSource&, const Measurement& m, int phc_ifindex) {
          // What the master itself may be off by (its grandmaster, the path) on top of the exchange.
          Measurement with = m;
          with.root_dispersion += max_error;
          clocks.on_system_measurement(*index, with, phc_ifindex);
          publish_system();
        },
        [&clocks] { return clocks.tai_utc_now(); });
    if (!opened) {
      spdlog::critical("{}", opened.error().message);
      return 1;
    }
    *index = clocks.add_guarded_source(
        c.name, SourceOptions{.name = c.name, .preferred = c.prefer, .require_agreement = c.require_agreement},
        0x50545000,  // "PTP", as chrony's PTP refclocks are named
        (*opened)->phc_ifindex() != 0);
    ptp_graph_ids.push_back(*index);
    ptp_ports.push_back(std::move(*opened));
  }
  auto ptp_statuses = [&] {
    std::vector<std::pair<const PtpSource*, SourceStatus>> out;
    for (std::size_t i = 0; i < ptp_ports.size(); ++i) {
      out.emplace_back(ptp_ports[i].get(), clocks.system_source_status(ptp_graph_ids[i]).value_or(SourceStatus{}));
    }
    return out;
  };
  // The control socket is made before the privileges go: its directory is usually root's.
  // One snapshot of the daemon for the control socket and the metrics page alike.
  auto snapshot = [&] {
    DaemonStatus status = collect_status(clocks.system_status(), associations, service.get());
    add_refclocks(status, clocks.refclock_statuses());
    add_ptp_sources(status, ptp_statuses(), clocks.elapsed());
    status.clocks = clocks.clock_statuses();
    status.leap = clocks.leap_status();
    if (tiers) {
      status.system.tiers = tiers->states(status.system.name);
      for (ClockStatus& c : status.clocks) c.tiers = tiers->states(c.name);
    }
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
  if (config->metrics && loop->portable()) {
    // Its HTTP server is a thread of its own, which a one-thread simulator cannot serve.
    spdlog::warn("metrics: not served in portable mode (a simulator); [metrics] ignored");
  } else if (config->metrics) {
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
  // getaddrinfo runs under the same seccomp filter as the loop. Started even without sources:
  // a SIGHUP may add some.
  {
    auto started = Resolver::start(*loop);
    if (!started) {
      spdlog::critical("{}", started.error().message);
      return 1;
    }
    resolver = std::move(*started);
  }
  for (auto& port : ptp_ports) port->start();
  // Every source, at start and added by SIGHUP: its graph index in `graph_ids`, in the order of
  // `associations`; an NTS source takes its saved keys and cookies if any and saves new ones.
  std::vector<std::size_t> graph_ids;
  // The addresses each pool's members use, shared among them (daemon/address_choice.hpp).
  std::map<std::string, std::shared_ptr<AddressClaims>> pools;
  std::function<void(const SourceConfig&)> start_source = [&](const SourceConfig& source) {
    const std::size_t index = clocks.add_source(source_name(source));
    std::shared_ptr<AddressClaims> pool;
    if (source.pool_member != 0) {
      std::shared_ptr<AddressClaims>& claims = pools[source.address];
      if (!claims) claims = std::make_shared<AddressClaims>();
      pool = claims;
    }
    graph_ids.push_back(index);
    Association& association = associations.emplace_back(
        *loop, *resolver, source,
        [&clocks, &publish_system, &service, steer, index](const Association& a, const NtpExchangeResult& r) {
          log_sample(a, r);
          std::optional<PollFeedback> feedback = clocks.on_sample(index, r);
          publish_system();
          if (service && steer) service->clock_updated();
          return feedback;
        },
        hardware, std::move(pool));
    if (stamp_binding) association.bind_stamps(*stamp_binding);
    if (source.nts) {
      auto saved = take_nts_state(config->state_dir, source_name(source));
      if (!saved) {
        spdlog::warn("{}: saved NTS state ignored: {}", source_name(source), saved.error().message);
      } else if (*saved) {
        association.restore_nts(std::move(**saved));
      }
    }
    association.start();
  };
  for (const SourceConfig& source : config->sources) start_source(source);
  reload = [&] {
    reload_configuration(config_path, *config, log_level.has_value(), associations, graph_ids, clocks, service.get(),
                         start_source);
  };
  loop->add_repeating(kFrequencySaveInterval, [&] { save_frequency(clocks, frequency_path); });
  // Every interval: the tiers looked at, and one evidence record per clock appended (a few hundred
  // bytes to the page cache; a failing disk only queues and counts, see evidence_log.hpp).
  if (config->evidence) {
    const EvidenceConfig& e = *config->evidence;
    if (e.enabled) {
      EvidenceLogOptions options;
      options.dir = config->evidence_dir();
      options.interval_ms = std::llround(e.interval * 1000);
      options.retain_days = e.retain_days;
      options.version = std::string("kairosd ") + KAIROS_VERSION;
      auto opened = EvidenceLog::open(options, realtime_ms());
      if (opened) {
        evidence = std::move(*opened);
        spdlog::info("evidence log in {} every {} s, tiers {}", options.dir, e.interval,
                     fmt::join(e.tiers, " s, "));
      } else {
        spdlog::error("{}; running without an evidence log", opened.error().message);
      }
    }
    const auto authentication = association_authentication(associations);
    loop->add_repeating(std::chrono::milliseconds(std::llround(e.interval * 1000)), [&, authentication] {
      const std::vector<ClockStatus> statuses = clocks.clock_statuses();
      for (const ClockStatus& c : statuses) tiers->update(c.name, c.offset, c.error_bound);
      if (!evidence) return;
      evidence->record(realtime_ms(), evidence_snapshots(statuses, authentication));
      evidence->flush();
    });
  }
  // The HTTP thread never reads the daemon's state: the loop renders the page and hands it over.
  if (metrics) {
    auto publish_metrics = [&] { metrics->publish(metrics_text(snapshot(), KAIROS_VERSION)); };
    publish_metrics();
    loop->add_repeating(std::chrono::seconds(1), publish_metrics);
  }
  // `systemctl status` shows the clock's state; a datagram goes out only when the text changes.
  auto status_line = [&] {
    return fmt::format("system clock {} ({}), {} sources{}", to_string(clocks.system_status().state),
                       steer ? "steering" : "observe-only", config->sources.size(), service ? ", serving time" : "");
  };
  notifier->ready(status_line());
  loop->add_repeating(std::chrono::seconds(5), [&] { notifier->status(status_line()); });
  auto ran = loop->run();
  control.reset();
  metrics.reset();
  for (const Association& a : associations) {
    const auto& c = a.counters();
    spdlog::info("{}: {} samples ({} interleaved), {} timeouts, {} rejected responses, {} NAKs, {} kisses, "
                 "NTS-KE {} ok / {} failed",
                 a.name(), c.samples, c.interleaved, c.timeouts, c.rejected, c.naks, c.kisses, c.ke_ok, c.ke_failed);
  }
  if (service) service->log_counters();
  clocks.log_status();
  // A clean exit saves the latest of both; after a crash what is left is the last periodic
  // frequency, and no NTS state: the file is written at a clean exit only (and removed when read
  // at start), so cookies sent since can never be restored and sent twice (RFC 8915 §6: a reused
  // cookie links the client's requests). A crash costs one NTS-KE.
  save_frequency(clocks, frequency_path);
  for (const Association& a : associations) {
    if (a.nts()) save_nts(a, config->state_dir);
  }
  if (evidence) {
    evidence->record(realtime_ms(), evidence_snapshots(clocks.clock_statuses(), association_authentication(associations)));
    evidence.reset();  // flushed and closed
  }
  clocks.on_lines_changed({});  // it publishes to the server
  service.reset();
  if (!ran) {
    spdlog::critical("{}", ran.error().message);
    return 1;
  }
  return 0;
}
