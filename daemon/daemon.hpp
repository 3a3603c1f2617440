#pragma once
// A running kairosd as its components: the loop, the NICs and PHCs, the clock graph, the time
// page and logs, the server, the PTP ports, the control socket and metrics (the status side),
// the sources, the SIGHUP handler and the periodic jobs. start() builds them in the order the
// privileges ask for (what needs root first, then the drop, then the sources); run() runs the
// loop until SIGTERM or SIGINT and does the exit work (counters, saved state, last evidence).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/control_server.hpp"
#include "daemon/daemon_status.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/evidence_log.hpp"
#include "daemon/interfaces.hpp"
#include "daemon/leap_seconds_file.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/ptp_source.hpp"
#include "daemon/realtime_watch.hpp"
#include "daemon/reloader.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/shm_writer.hpp"
#include "daemon/source_set.hpp"
#include "daemon/tier_watch.hpp"
#include "daemon/time_service.hpp"
#include "daemon/tracking_log.hpp"
#include "hwts/linux_clock.hpp"

namespace kairos {

struct DaemonOptions {
  std::string config_path;  // read again on SIGHUP
  bool steer = false;       // [daemon] steer and not --no-steer
  bool level_fixed = false;  // --log-level was given: it wins over the file, on SIGHUP too
  std::string version;      // "1.2.3", for the evidence log and the metrics
};

class Daemon {
 public:
  // Logging is set up already. An error is what stops the start (said once by the caller).
  static Result<std::unique_ptr<Daemon>> start(DaemonConfig config, LeapSecondsFile leap, DaemonOptions options);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  // Runs until SIGTERM or SIGINT, then the exit work.
  Result<void> run();

 private:
  Daemon(EventLoop loop, DaemonConfig config, DaemonOptions options);

  Result<void> handle_signals();
  Result<void> open_hardware();
  Result<void> open_refclocks();
  void open_time_page();
  void publish_time_page();
  Result<void> open_tracking_log();
  void watch_realtime();
  Result<void> start_time_service();
  Result<void> open_ptp_ports();
  // The status side: one snapshot for the control socket and the metrics page alike.
  DaemonStatus snapshot() const;
  Result<void> open_control();
  Result<void> open_metrics();
  Result<void> drop_privileges();
  Result<void> start_sources();
  void open_evidence_log();
  void start_periodic_jobs();
  std::string status_line() const;
  void finish();

  // Declared in the order they are built: destroyed in reverse, the loop last.
  EventLoop loop_;
  DaemonConfig config_;
  const DaemonOptions options_;
  const std::string frequency_path_;
  std::unique_ptr<TimeService> service_;
  std::unique_ptr<SystemdNotifier> notifier_;
  std::optional<Reloader> reloader_;  // set once everything runs (signals are read only then)
  Result<UniqueFd> stamps_on_;
  std::unique_ptr<Interfaces> interfaces_;
  std::unique_ptr<ClockGraph> clocks_;
  bool server_hardware_ = false;  // some NIC's stamps can be made system time: the server uses them
  HardwareInterfaces ptp_hardware_;  // the NICs whose stamps the sources use: PTP ports' too
  std::unique_ptr<ShmWriter> shm_;
  // Only read (its frequency, to know the rate of a steered clock's offset), never adjusted.
  std::unique_ptr<KernelClock> system_reader_;
  std::unique_ptr<TrackingLog> tracking_;
  std::unique_ptr<EvidenceLog> evidence_;
  std::unique_ptr<TierWatch> tiers_;
  std::unique_ptr<RealtimeWatch> realtime_watch_;
  std::unique_ptr<SourceSet> sources_;
  std::vector<std::unique_ptr<PtpSource>> ptp_ports_;
  std::vector<std::size_t> ptp_graph_ids_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;
};

}  // namespace kairos
