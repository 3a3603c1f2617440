#include "daemon/daemon.hpp"

#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "daemon/clock_evidence.hpp"
#include "daemon/frequency_file.hpp"
#include "daemon/metrics_text.hpp"
#include "daemon/privileges.hpp"
#include "daemon/seccomp_filter.hpp"
#include "hwts/interface_info.hpp"

namespace kairos {
namespace {

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

Daemon::Daemon(EventLoop loop, DaemonConfig config, DaemonOptions options)
    : loop_(std::move(loop)),
      config_(std::move(config)),
      options_(std::move(options)),
      frequency_path_(config_.state_dir + "/frequency") {}

Result<std::unique_ptr<Daemon>> Daemon::start(DaemonConfig config, LeapSecondsFile leap, DaemonOptions options) {
  auto loop = EventLoop::create();
  if (!loop) return std::unexpected(loop.error());
  std::unique_ptr<Daemon> d(new Daemon(std::move(*loop), std::move(config), std::move(options)));
  if (auto ok = d->handle_signals(); !ok) return std::unexpected(ok.error());
  d->stamps_on_ = hold_rx_timestamping();
  if (!d->stamps_on_) {
    spdlog::warn("kernel timestamps unavailable ({}); using user-space stamps", d->stamps_on_.error().message);
  }
  spdlog::info("kairosd starting: {} sources, {}", d->config_.sources.size(),
               d->options_.steer ? "steering the system clock" : "observe-only (no clock is steered)");
  // NICs first: an interface that must have hardware stamps and cannot stops the start here,
  // before anything is served or measured. Their old setup comes back when they go.
  auto interfaces = Interfaces::start(d->config_, d->loop_);
  if (!interfaces) return std::unexpected(interfaces.error());
  d->interfaces_ = std::move(*interfaces);
  // The kernel is never handed more than max-drift, through ADJ_FREQUENCY or ADJ_TICK.
  d->clocks_ = std::make_unique<ClockGraph>(
      d->config_, d->loop_, KernelClock::system({}, d->config_.system_clock.max_drift_ppm * 1e-6), d->options_.steer);
  use_leap_seconds_file(*d->clocks_, std::move(leap), "");
  // The state directory holds the frequency and NTS files; made here, before the privileges go.
  if (::mkdir(d->config_.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("cannot create state-dir {}: {}; frequency and NTS state are not kept", d->config_.state_dir,
                 std::strerror(errno));
  }
  seed_frequency(*d->clocks_, d->frequency_path_);
  d->sources_ = std::make_unique<SourceSet>(d->loop_, *d->clocks_, d->config_.state_dir, [s = d.get()] {
    s->publish_time_page();
    if (s->service_ && s->options_.steer) s->service_->clock_updated();
  });
  if (auto ok = d->open_hardware(); !ok) return std::unexpected(ok.error());
  if (auto ok = d->open_refclocks(); !ok) return std::unexpected(ok.error());
  d->open_time_page();
  if (auto ok = d->open_tracking_log(); !ok) return std::unexpected(ok.error());
  // The tiers ([evidence]); the evidence log is opened after the privileges go, so its directory
  // and files belong to [daemon] user.
  if (d->config_.evidence) d->tiers_ = std::make_unique<TierWatch>(d->config_.evidence->tiers);
  // Under journald each breach and return is also an entry of its own message id, for alerting.
  if (d->tiers_ && d->config_.logging.target == "journald") d->tiers_->on_event(journal_tier_event);
  d->watch_realtime();
  if (auto ok = d->start_time_service(); !ok) return std::unexpected(ok.error());
  if (auto ok = d->open_ptp_ports(); !ok) return std::unexpected(ok.error());
  if (auto ok = d->open_control(); !ok) return std::unexpected(ok.error());
  if (auto ok = d->open_metrics(); !ok) return std::unexpected(ok.error());
  if (auto ok = d->drop_privileges(); !ok) return std::unexpected(ok.error());
  d->notifier_ = std::make_unique<SystemdNotifier>(d->loop_);
  if (auto ok = d->start_sources(); !ok) return std::unexpected(ok.error());
  d->reloader_.emplace(d->options_.config_path, d->config_, d->options_.level_fixed, *d->sources_, *d->clocks_,
                       d->service_.get());
  d->start_periodic_jobs();
  return d;
}

Daemon::~Daemon() = default;

Result<void> Daemon::handle_signals() {
  return loop_.handle_signals({SIGTERM, SIGINT, SIGHUP}, [this](int signal) {
    if (signal == SIGHUP) {
      // Synchronous on the loop: a storm of them is so many reloads in a row, never two at once.
      if (reloader_) {
        reloader_->reload();
      } else if (service_) {
        service_->reload();
      }
      return;
    }
    spdlog::info("signal {}: exiting", signal);
    if (notifier_) notifier_->stopping();
    loop_.stop();
  });
}

// The PHCs that take part, opened before the privileges go (read-only when observing).
// An interface stamping in hardware whose PHC kairosd neither disciplines nor makes follow
// the system clock takes the direct path (as chrony's hwtimestamp): its stamps reach the
// system clock through the PHC's time, and the PHC is only read (ptp4l may own it).
Result<void> Daemon::open_hardware() {
  auto direct = [](const InterfaceState& nic) {
    const InterfaceConfig& c = nic.config;
    return !c.discipline_phc && !c.phc_follows_system && c.hw_timestamping != HwTimestampingMode::kOff && nic.hardware();
  };
  HardwareInterfaces hardware;
  std::optional<PhcBinding> stamp_binding;  // [[interface]] phc-vclock: every source's sockets
  for (const InterfaceState& nic : interfaces_->states()) {
    const InterfaceConfig& c = nic.config;
    if (c.phc_vclock) {
      auto binding = vclock_binding(nic);
      if (!binding) return std::unexpected(binding.error());
      stamp_binding = *binding;
    }
    if (!(c.discipline_phc || c.phc_follows_system || direct(nic)) || !nic.phc_index()) continue;
    const std::string path = "/dev/ptp" + std::to_string(c.phc_vclock ? *c.phc_vclock : *nic.phc_index());
    const PhcAccess access = options_.steer && !direct(nic) ? PhcAccess::kReadWrite : PhcAccess::kReadOnly;
    auto added = clocks_->add_phc(PhcPlan{.interface = c.name,
                                          .ifindex = nic.ifindex(),
                                          .discipline = c.discipline_phc,
                                          .follows_system = c.phc_follows_system,
                                          .convert = direct(nic)},
                                  [path, access] { return PhcDevice::open(path, {}, access); });
    if (!added) return std::unexpected(added.error());
    server_hardware_ = server_hardware_ || direct(nic);
    if (c.discipline_phc || direct(nic)) {
      // Client sockets ask for NIC stamps; an exchange uses them when they came from one of
      // these NICs (still stamping in hardware), with that NIC's corrections. A PHC that turns
      // out read-only keeps its NIC's stamps: they take the direct path then (ClockGraph).
      hardware = [&nics = *interfaces_, direct](int ifindex) -> std::optional<StampCorrection> {
        const InterfaceState* state = nics.by_ifindex(ifindex);
        if (!state || !state->hardware() || !(state->config.discipline_phc || direct(*state))) return std::nullopt;
        return state->correction;
      };
    }
  }
  ptp_hardware_ = hardware;  // PTP ports stamp on the same NICs
  sources_->use_hardware(std::move(hardware), std::move(stamp_binding));
  return {};
}

// [[refclock]]: PHCs another daemon (ptp4l) disciplines, read as sources of the system clock
// (chrony's refclock PHC). Opened read-only before the privileges go: never adjusted.
Result<void> Daemon::open_refclocks() {
  for (const RefclockConfig& ref : config_.refclocks) {
    std::string path = ref.phc;
    if (path.empty()) {
      const std::optional<int> index = phc_of_interface(ref.interface);
      if (!index) {
        return fail(fmt::format("refclock {}: interface {} has no PTP hardware clock (or no such interface)", ref.name,
                                ref.interface));
      }
      path = "/dev/ptp" + std::to_string(*index);
    }
    auto added = clocks_->add_refclock(ref, [path] { return PhcDevice::open(path, {}, PhcAccess::kReadOnly); });
    if (!added) return std::unexpected(added.error());
  }
  return {};
}

// The time page for applications (tools/kairos_now): refreshed every second and after every
// sample. Without it kairosd still works, so a failure is only a warning.
void Daemon::open_time_page() {
  if (!config_.shm.enabled) return;
  auto created = ShmWriter::create(config_.shm.path);
  if (!created) {
    spdlog::warn("{}; applications get no time bound from kairosd", created.error().message);
    return;
  }
  shm_ = std::move(*created);
  system_reader_ = KernelClock::system();
  publish_time_page();
  loop_.add_repeating(std::chrono::seconds(1), [this] { publish_time_page(); });
}

void Daemon::publish_time_page() {
  if (!shm_) return;
  const ShmOptions shm_options{.max_drift = config_.shm.max_drift,
                               .max_slew = config_.system_clock.max_slew,
                               .max_age = std::chrono::seconds(3)};  // 3 updates missed
  const auto t0 = EventLoop::Clock::now();
  const ClockStatus status = clocks_->system_status();
  std::optional<double> kernel_frequency;
  if (status.steered) {
    if (auto f = system_reader_->frequency()) kernel_frequency = *f;
  }
  const ShmClock record = shm_clock_from_status(status, kernel_frequency, shm_options, t0);
  if (auto published = shm_->publish(std::span(&record, 1)); !published) {
    spdlog::warn("{}", published.error().message);
  }
}

// The clock log, opened before the privileges go (its directory may be root's).
Result<void> Daemon::open_tracking_log() {
  if (config_.logging.tracking.empty()) return {};
  auto opened = TrackingLog::open(config_.logging.tracking);
  if (!opened) return std::unexpected(opened.error());
  tracking_ = std::move(*opened);
  loop_.add_repeating(std::chrono::seconds(1), [this] { tracking_->write(realtime_now(), clocks_->clock_statuses()); });
  return {};
}

void Daemon::watch_realtime() {
  auto watch = RealtimeWatch::start(loop_, [this] {
    clocks_->on_realtime_set();
    // Its offset is unknown until measured again: the sources poll now (SourceCore::clock_stepped).
    if (sources_) sources_->clock_stepped();
    publish_time_page();
    if (evidence_) evidence_->note_foreign_step(realtime_ms(), clocks_->system_status().name);
  });
  if (!watch) {
    spdlog::warn("clock steps by other processes will go unnoticed: {}", watch.error().message);
    return;
  }
  realtime_watch_ = std::move(*watch);
}

// After handle_signals: the server's worker threads inherit the blocked signal mask, so every
// signal still arrives through the loop's signalfd.
Result<void> Daemon::start_time_service() {
  if (!config_.server && !config_.ke_server) return {};
  auto started = TimeService::start(config_, loop_, server_hardware_);
  if (!started) return std::unexpected(started.error());
  service_ = std::move(*started);
  // As chrony's hwtimestamp: an interface's hardware stamps serve its server too, through the
  // same PHC-to-system lines as the client's direct path (daemon/server_stamps.hpp).
  if (server_hardware_) {
    clocks_->on_lines_changed([&clocks = *clocks_, &nics = *interfaces_, s = service_.get()] {
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
  if (options_.steer) service_->set_clock_source([&clocks = *clocks_] { return clocks.server_state(); });
  return {};
}

// [[ptp]]: PTP ports (daemon/ptp_source.hpp), each a guarded source of the system clock. Their
// sockets (ports 319 and 320) are opened here, before the privileges go; they start with the
// sources.
Result<void> Daemon::open_ptp_ports() {
  ClockGraph& clocks = *clocks_;
  for (const PtpConfig& c : config_.ptp) {
    const double max_error = c.max_error;
    // The port's place in the clock graph, known once its sockets say whose stamps it gets.
    auto index = std::make_shared<std::size_t>(0);
    auto opened = PtpSource::open(
        loop_,
        PtpSourceOptions{.name = c.name,
                         .interface = c.interface,
                         .domain = static_cast<std::uint8_t>(c.domain),
                         .unicast_masters = c.unicast_masters,
                         .timescale = parse_ptp_timescale(c.timescale).value_or(PtpTimescale::kAuto),
                         .transport = parse_ptp_transport(c.transport).value_or(PtpTransport::kUdpV4),
                         .hardware = ptp_hardware_},
        [&clocks] { return clocks.elapsed(); },
        [this, &clocks, index, max_error](const PtpSource&, const Measurement& m, int phc_ifindex) {
          // What the master itself may be off by (its grandmaster, the path) on top of the exchange.
          Measurement with = m;
          with.root_dispersion += max_error;
          clocks.on_system_measurement(*index, with, phc_ifindex);
          publish_time_page();
        },
        [&clocks] { return clocks.tai_utc_now(); });
    if (!opened) return std::unexpected(opened.error());
    *index = clocks.add_guarded_source(
        c.name, SourceOptions{.name = c.name, .preferred = c.prefer, .require_agreement = c.require_agreement},
        0x50545000,  // "PTP", as chrony's PTP refclocks are named
        (*opened)->phc_ifindex() != 0);
    ptp_graph_ids_.push_back(*index);
    ptp_ports_.push_back(std::move(*opened));
  }
  return {};
}

DaemonStatus Daemon::snapshot() const {
  std::vector<std::pair<const PtpSource*, SourceStatus>> ptp;
  for (std::size_t i = 0; i < ptp_ports_.size(); ++i) {
    ptp.emplace_back(ptp_ports_[i].get(), clocks_->system_source_status(ptp_graph_ids_[i]).value_or(SourceStatus{}));
  }
  DaemonStatus status = collect_status(clocks_->system_status(), sources_->associations(), service_.get());
  add_refclocks(status, clocks_->refclock_statuses());
  add_ptp_sources(status, ptp, clocks_->elapsed());
  status.clocks = clocks_->clock_statuses();
  status.leap = clocks_->leap_status();
  if (tiers_) {
    status.system.tiers = tiers_->states(status.system.name);
    for (ClockStatus& c : status.clocks) c.tiers = tiers_->states(c.name);
  }
  return status;
}

// The control socket is made before the privileges go: its directory is usually root's.
Result<void> Daemon::open_control() {
  if (!config_.control.enabled) return {};
  auto started = start_control(config_.control, loop_, [this](ControlCommand command) {
    return answer_json(command, snapshot()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  });
  if (started) {
    control_ = std::move(*started);
    spdlog::info("control socket {}", config_.control.socket);
  } else if (config_.control.line != 0) {
    return std::unexpected(started.error());
  } else {
    spdlog::warn("running without a control socket: {}", started.error().message);
  }
  return {};
}

// The Prometheus endpoint, bound before the drop too: a port it cannot have stops the start.
Result<void> Daemon::open_metrics() {
  if (!config_.metrics) return {};
  if (loop_.portable()) {
    // Its HTTP server is a thread of its own, which a one-thread simulator cannot serve.
    spdlog::warn("metrics: not served in portable mode (a simulator); [metrics] ignored");
    return {};
  }
  auto started = MetricsServer::start(*config_.metrics);
  if (!started) return std::unexpected(started.error());
  metrics_ = std::move(*started);
  spdlog::info("metrics on http://{}/metrics", config_.metrics->listen);
  return {};
}

// Everything that needed root is held now (ports, NICs, PHCs, the control socket): become
// [daemon] user with only the capabilities the configuration needs, then the syscall filter.
// Failing either must not leave a daemon running with more than it was told to keep.
Result<void> Daemon::drop_privileges() {
  if (auto dropped = kairos::drop_privileges(plan_privileges(config_, options_.steer)); !dropped) {
    return fail("cannot drop privileges: " + dropped.error().message);
  }
  if (config_.seccomp) {
    if (auto filtered = install_seccomp_filter(); !filtered) return filtered;
  }
  return {};
}

Result<void> Daemon::start_sources() {
  // The resolver's thread starts here, after the drop and the filter: it never holds a
  // capability and getaddrinfo runs under the same seccomp filter as the loop. Started even
  // without sources: a SIGHUP may add some.
  if (auto ok = sources_->start_resolver(); !ok) return ok;
  for (auto& port : ptp_ports_) port->start();
  for (const SourceConfig& source : config_.sources) sources_->add(source);
  return {};
}

// [evidence] enabled: the log, opened once the privileges are gone.
void Daemon::open_evidence_log() {
  const EvidenceConfig& e = *config_.evidence;
  if (!e.enabled) return;
  EvidenceLogOptions options;
  options.dir = config_.evidence_dir();
  options.interval_ms = std::llround(e.interval * 1000);
  options.retain_days = e.retain_days;
  options.version = "kairosd " + options_.version;
  auto opened = EvidenceLog::open(options, realtime_ms());
  if (!opened) {
    spdlog::error("{}; running without an evidence log", opened.error().message);
    return;
  }
  evidence_ = std::move(*opened);
  spdlog::info("evidence log in {} every {} s, tiers {}", options.dir, e.interval, fmt::join(e.tiers, " s, "));
}

void Daemon::start_periodic_jobs() {
  loop_.add_repeating(kFrequencySaveInterval, [this] { save_frequency(*clocks_, frequency_path_); });
  // Every interval: the tiers looked at, and one evidence record per clock appended (a few hundred
  // bytes to the page cache; a failing disk only queues and counts, see evidence_log.hpp).
  if (config_.evidence) {
    open_evidence_log();
    const auto authentication = association_authentication(sources_->associations());
    loop_.add_repeating(std::chrono::milliseconds(std::llround(config_.evidence->interval * 1000)),
                        [this, authentication] {
                          const std::vector<ClockStatus> statuses = clocks_->clock_statuses();
                          for (const ClockStatus& c : statuses) tiers_->update(c.name, c.offset, c.error_bound);
                          if (!evidence_) return;
                          evidence_->record(realtime_ms(), evidence_snapshots(statuses, authentication));
                          evidence_->flush();
                        });
  }
  // The HTTP thread never reads the daemon's state: the loop renders the page and hands it over.
  if (metrics_) {
    auto publish_metrics = [this] { metrics_->publish(metrics_text(snapshot(), options_.version)); };
    publish_metrics();
    loop_.add_repeating(std::chrono::seconds(1), publish_metrics);
  }
  // `systemctl status` shows the clock's state; a datagram goes out only when the text changes.
  notifier_->ready(status_line());
  loop_.add_repeating(std::chrono::seconds(5), [this] { notifier_->status(status_line()); });
}

std::string Daemon::status_line() const {
  return fmt::format("system clock {} ({}), {} sources{}", to_string(clocks_->system_status().state),
                     options_.steer ? "steering" : "observe-only", config_.sources.size(),
                     service_ ? ", serving time" : "");
}

Result<void> Daemon::run() {
  auto ran = loop_.run();
  finish();
  return ran;
}

void Daemon::finish() {
  control_.reset();
  metrics_.reset();
  sources_->log_counters();
  if (service_) service_->log_counters();
  clocks_->log_status();
  // A clean exit saves the latest of both; after a crash what is left is the last periodic
  // frequency, and no NTS state: the file is written at a clean exit only (and removed when read
  // at start), so cookies sent since can never be restored and sent twice (RFC 8915 §6: a reused
  // cookie links the client's requests). A crash costs one NTS-KE.
  save_frequency(*clocks_, frequency_path_);
  sources_->save_nts_state();
  if (evidence_) {
    evidence_->record(realtime_ms(), evidence_snapshots(clocks_->clock_statuses(),
                                                        association_authentication(sources_->associations())));
    evidence_.reset();  // flushed and closed
  }
  clocks_->on_lines_changed({});  // it publishes to the server
  service_.reset();
}

}  // namespace kairos
