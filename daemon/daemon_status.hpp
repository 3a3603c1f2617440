#pragma once
// What an operator asks kairosd for (kairosctl status/sources/clocks/server), as one plain
// snapshot taken on the loop, and its JSON form for the control socket. Times are seconds as
// doubles, states are words; a bound that is not known is null.
#include <chrono>
#include <cstdint>
#include <list>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/control_server.hpp"
#include "daemon/ptp_source.hpp"

namespace kairos {

class TimeService;

// What the NTS sources say of a guarded source (clock/agreement_guard.hpp).
struct GuardSnapshot {
  GuardState state = GuardState::kNoAuthority;
  std::optional<double> disagreement;  // its time minus the authenticated time (s)
  std::size_t rejected = 0;            // its samples refused while it disagreed
  std::size_t episodes = 0;            // times it began to disagree
  bool alarm() const { return state == GuardState::kDisagrees; }
};

// A [[ptp]] port (mode "ptp"): its state and the master it follows (nts/ptp_port.hpp).
struct PtpSnapshot {
  std::string interface;
  std::string transport;        // udpv4, udpv6, l2
  int domain = 0;
  std::string port_state;       // listening, uncalibrated, slave, faulty
  std::string master;           // the master's port identity, "" without one
  std::string grandmaster;      // its grandmaster's clock identity
  int steps_removed = 0;
  int clock_class = 0;
  std::string timescale;        // the master's: "PTP" (TAI) or "ARB"
  int utc_offset = 0;           // TAI - UTC taken off its time (0 for ARB)
  std::size_t foreign_masters = 0;
  PtpPortCounters port;
  PtpSourceCounters source;
};

struct SourceSnapshot {
  std::string name;     // as configured
  std::string address;  // the NTP address in use; empty until resolved or negotiated
  bool nts = false;
  bool has_keys = false;  // NTS-KE done, keys held
  std::size_t cookies = 0;
  std::uint8_t reach = 0;  // the last eight polls, newest in bit 0
  int poll = 0;            // log2 seconds
  bool selected = false;   // a truechimer in the model's last selection
  SourceState state = SourceState::kNoSample;  // where it stood in it (combined, noselect, too far, ...)
  std::optional<LastSample> last;
  double last_age = 0;  // seconds since `last` was taken
  AssociationCounters counters;
  // A [[refclock]] (mode "refclock"): its PHC, and why its readings are not used now.
  bool refclock = false;
  std::string device;
  std::string problem;
  std::optional<GuardSnapshot> guard;  // guarded sources only (refclocks, PTP ports)
  std::optional<PtpSnapshot> ptp;      // [[ptp]] ports only
};

struct ServerSnapshot {
  bool ntp = false;  // the NTP server runs
  std::uint64_t received = 0;
  std::uint64_t plain = 0;  // plain NTP answers
  std::uint64_t nts = 0;    // authenticated NTS answers
  std::uint64_t naks = 0;
  std::uint64_t rate_limited = 0;  // RATE kisses, plain and NTS
  std::uint64_t dropped = 0;
  std::uint64_t late = 0;  // dropped unanswered: waited longer than max-wait
  // Requests by the stamp their receive timestamp came from: the NIC's (converted to system
  // time), the kernel's software stamp, or the daemon's own reading.
  std::uint64_t rx_hardware = 0;
  std::uint64_t rx_kernel = 0;
  std::uint64_t rx_daemon = 0;
  // Interleaved answers' transmit stamps from the error queue, by kind (used to improve an answer).
  std::uint64_t tx_hardware = 0;
  std::uint64_t tx_kernel = 0;
  // RX stamp to answer handed to the kernel, every answer since the server started (seconds).
  std::uint64_t latency_count = 0;
  double latency_sum = 0;
  double latency_p50 = 0;
  double latency_p99 = 0;
  double latency_max = 0;
  bool nts_ke = false;  // the NTS-KE listener runs
  std::uint64_t ke_ok = 0;       // connections answered with cookies
  std::uint64_t ke_failed = 0;   // handshake failed, no agreement, error record, aborted, timed out, evicted
  std::uint64_t ke_refused = 0;  // closed at once: over the connection or rate limit
};

struct DaemonStatus {
  ClockStatus system;
  std::vector<ClockStatus> clocks;  // every disciplined clock, the system clock first
  std::vector<SourceSnapshot> sources;
  std::optional<ServerSnapshot> server;  // when serving time
  LeapStatus leap;                        // TAI - UTC, the leap-seconds.list, the served smear
};

// `system` is ClockGraph::system_status(), whose sources are the associations in order.
DaemonStatus collect_status(ClockStatus system, const std::list<Association>& associations,
                            const TimeService* service,
                            std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

// The [[refclock]]s as sources, after the associations.
void add_refclocks(DaemonStatus& status, const std::vector<RefclockStatus>& refclocks,
                   std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
// The [[ptp]] ports as sources, each with its part in the system clock's selection.
// `elapsed`: the model's time axis now (ClockGraph::elapsed), which the measurements carry.
void add_ptp_sources(DaemonStatus& status, const std::vector<std::pair<const PtpSource*, SourceStatus>>& ports,
                     double elapsed, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
// A clock or port identity as PTP tools print it: "001122.fffe.334455-1".
std::string ptp_identity_text(const ClockIdentity& clock);
std::string ptp_identity_text(const PortIdentity& port);
// Whether any guarded source disagrees with the authenticated time now (the alarm to page on).
bool guard_alarm(const DaemonStatus& status);

// TAI - UTC and its origin, the list's expiry and next leap, the smear: the "leap" object.
nlohmann::json leap_json(const LeapStatus& leap);
// The whole snapshot.
nlohmann::json to_json(const DaemonStatus& status);
// One control command's answer: status (system clock and a source summary), sources, clocks,
// server (null when not serving).
nlohmann::json answer_json(ControlCommand command, const DaemonStatus& status);

}  // namespace kairos
