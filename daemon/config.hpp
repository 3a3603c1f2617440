#pragma once
// kairosd's TOML configuration. Parsing is pure (text in, values or every problem out, each with
// its line), so --check-config, the daemon and the fuzzer run the same code.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"
#include "hwts/nic_timestamping.hpp"
#include "nts/key_ring.hpp"
#include "nts/rate_limiter.hpp"

namespace kairos {

struct SourceConfig {
  std::string address;  // host[:port]; the port is NTS-KE's with nts, NTP's without
  bool nts = true;
  std::optional<std::string> ca;  // extra trust anchor (PEM)
  std::vector<std::uint16_t> aeads{17, 16, 15};  // NTS-KE AEAD preference, most wanted first
  int minpoll = 6;                // log2 seconds (chrony's default: 64 s)
  int maxpoll = 10;
  bool iburst = false;
  bool xleave = false;  // interleaved requests (RFC 9769; chrony's name for it)
  // A calibrated path (kairos.toml(5)): (one-way delay out - one-way delay back) / 2, taken off
  // every measured offset, and what may remain of it as a fraction of half the round trip (1:
  // nothing is assumed, the maximum error counts the whole half round trip).
  double asymmetry = 0;
  double max_asymmetry = 1.0;
  // Selection (chrony's trust and require): a trusted source's interval bounds the majority
  // (it may outvote the others when they disagree with it); while any source is required, the
  // clock is synchronized only if one of those is among the truechimers.
  bool trust = false;
  bool require = false;
  // chrony's prefer: while a preferred source is among the truechimers, only the preferred
  // ones steer the clock; the others still vote in the selection.
  bool prefer = false;
  // chrony's noselect: polled, measured and shown, never selected nor voting.
  bool noselect = false;
  // s; this source's own [clock.system] max-distance (its root distance beyond it: not selectable).
  std::optional<double> max_distance = std::nullopt;
  // `pool = "name"` (chrony's pool): the entry is read as `max-sources` members, numbered from 1,
  // each using a different address of the name (daemon/address_choice.hpp); 0 for a source.
  int pool_member = 0;
  std::size_t line = 0;
};

// How a source is named in logs, status, the clock graph and its NTS state file: the address as
// configured, and "name#k" for a pool's k-th member.
std::string source_name(const SourceConfig& source);

// [server]: the NTP responder (plain NTPv4 and NTS).
struct NtpServerConfig {
  std::vector<std::string> listen{"0.0.0.0:123", "[::]:123"};  // host:port, IPv6 in brackets
  std::optional<unsigned> workers;          // threads with their own socket; unset: one per core; 0: the loop
  std::optional<int> local_stratum;         // serve the local clock as this stratum (labs, demos)
  bool interleaved = true;                  // answer interleaved requests (RFC 9769), kernel TX stamps
  // Seconds a request may wait between its kernel RX stamp and its turn: older ones are dropped
  // (an answer that late is one every client discards). 0: never drop.
  double max_wait = 0.005;
  // "none" or "linear-24h": served time smeared over the 24 h around a leap second (Google's
  // public smear), and the leap not announced to clients.
  std::string leap_smear = "none";
  std::optional<RateLimitConfig> rate_limit = RateLimitConfig{};  // nullopt: `rate-limit = false`
  // For an NTP-only host of a fleet whose NTS-KE runs elsewhere: the shared seed (and schedule)
  // its cookies are sealed with. With a local [nts-ke-server] the keys are configured there.
  std::optional<std::string> key_seed;
  KeyRingConfig keys;
  std::size_t line = 0;
};

// [nts-ke-server]: the NTS-KE listener (RFC 8915 §4) and the cookie master keys.
struct KeServerConfig {
  std::vector<std::string> listen{"0.0.0.0:4460", "[::]:4460"};
  std::string certificate;                  // PEM chain, leaf first
  std::string private_key;                  // PEM
  std::optional<std::string> key_seed;      // hex seed file shared by a fleet; else random keys
  KeyRingConfig keys;                       // rotation-interval, old-keys
  std::optional<std::string> ntp_server;    // NTPv4 Server Negotiation record
  std::optional<std::uint16_t> ntp_port;    // NTPv4 Port Negotiation record
  std::vector<std::uint16_t> aeads{15, 16, 17};  // offered; the client's first supported one wins
  std::size_t max_connections = 256;        // concurrent; more are closed at once
  double timeout = 2.0;                     // seconds a connection may take from accept to close
  std::size_t max_request = 1024;           // bytes of NTS-KE request accepted
  std::optional<RateLimitConfig> rate_limit = RateLimitConfig{.interval = 0.1, .burst = 32, .entries = 16384};
  // Handshake threads (daemon/ke_workers.hpp); nullopt: one per CPU the process may run on;
  // 0: on the daemon's loop, no thread.
  std::optional<unsigned> workers;
  std::size_t line = 0;
};

// hw-timestamping (hwts/nic_timestamping.hpp): `auto` uses the NIC's stamps when it has them and
// falls back to software, `on` refuses to start without them, `check` never reprograms the NIC
// (one shared with ptp4l) and uses it only if already configured for NTP, `off` leaves it.
// [[interface]]: a NIC whose packets carry hardware timestamps, and what happens to its PHC.
struct InterfaceConfig {
  std::string name;
  HwTimestampingMode hw_timestamping = HwTimestampingMode::kAuto;
  bool discipline_phc = false;      // NTP through this NIC, hardware-stamped, disciplines its PHC
  bool phc_follows_system = false;  // the PHC follows the system clock (to serve ptp4l, stamp captures)
  // Added to hardware stamps (s): the NIC's fixed stamping delays (cables, PHY), as measured by
  // the operator. RX stamps are also moved from the frame's preamble to its end by link speed.
  double rx_compensation = 0;
  double tx_compensation = 0;
  // A PTP virtual clock (/dev/ptpN) built on this NIC's PHC: kairosd's sockets get hardware
  // stamps in its time (SOF_TIMESTAMPING_BIND_PHC) and kairosd uses it as this NIC's PHC, so
  // it and ptp4l stamp on one NIC, each with its own clock.
  std::optional<int> phc_vclock;
  std::size_t line = 0;
};

// [[refclock]]: a PHC another daemon (ptp4l) disciplines, read through cross-timestamps as a
// source of the system clock: the phc2sys role, chrony's `refclock PHC /dev/ptp0`. kairosd only
// ever reads it. It is an unauthenticated precise source: NTS sources guard it
// (clock/agreement_guard.hpp).
struct RefclockConfig {
  std::string name;               // as shown; default: the device path, or "PHC of <interface>"
  std::string phc;                // /dev/ptpN; or
  std::string interface;          // the PHC of this NIC
  bool tai = true;                // timescale = "tai" (as ptp4l keeps PHCs) or "utc"
  int poll = 0;                   // log2 seconds between readings (0: every second, as chrony)
  // s: how far the PHC may be from true time by the operator's account (what PTP's path and
  // grandmaster leave), added to every reading's bound.
  double max_error = 1e-6;
  bool prefer = true;             // while selectable it steers, NTP sources only vote
  bool require_agreement = false;  // never used before the NTS sources have confirmed it once
  std::size_t line = 0;
};
inline constexpr int kMaxRefclockPoll = 10;

// [[ptp]]: a PTP port (IEEE 1588, slave only, E2E, UDPv4) on one NIC, a source of the system
// clock with kernel software stamps. Like a refclock it is unauthenticated and precise: NTS
// sources guard it (clock/agreement_guard.hpp).
struct PtpConfig {
  std::string name;                          // as shown; default "ptp:<interface>"
  std::string interface;                     // the NIC (multicast is joined there)
  int domain = 0;                            // domainNumber, 0..255
  std::string transport = "udpv4";           // "udpv4", "udpv6" or "l2" (IEEE 1588 Annex C, D, E)
  std::vector<std::string> unicast_masters;  // the transport's addresses: unicast negotiation; empty: multicast
  std::string timescale = "auto";            // "auto" (the master's PTP timescale flag), "tai", "utc"
  double max_error = 1e-6;                   // s the master may be off by the operator's account
  bool prefer = true;                        // while selectable it steers, NTP sources only vote
  bool require_agreement = false;            // never used before the NTS sources have confirmed it once
  std::size_t line = 0;
};

// [clock.system]: how the system clock is disciplined.
struct SystemClockConfig {
  std::optional<std::string> follow;  // an [[interface]] whose PHC it follows; else NTP directly
  std::string step = "start-only";    // start-only | always | never
  double step_threshold = 0.01;       // s
  double panic_threshold = 1000;      // s, once synchronized; 0: never panic
  std::size_t min_sources = 1;        // usable sources before the clock is steered (chrony's minsources)
  double max_distance = 3;            // s: a source's root distance beyond it is not selectable (chrony's maxdistance)
  // ppm: the largest frequency set on any clock kairosd disciplines, slews included (chrony's
  // maxdrift). Not [shm] max-drift, which is how fast a bound grows (s/s).
  double max_drift_ppm = 500;
  double max_slew = 500e-6;           // s/s
  // The leap-seconds.list (chrony's leapseclist): unset, kDefaultLeapSecondsList if it exists;
  // "" none; else that file, which must be readable and sound (checked at start, not here).
  std::optional<std::string> leap_seconds_list;
};
inline constexpr const char* kDefaultLeapSecondsList = "/usr/share/zoneinfo/leap-seconds.list";

// [control]: the Unix socket kairosctl asks for status on (daemon/control_server.hpp).
inline constexpr const char* kDefaultControlSocket = "/run/kairos/control.sock";
struct ControlConfig {
  bool enabled = true;
  std::string socket = kDefaultControlSocket;
  std::optional<std::string> group;  // owner group of the socket file; else the daemon's
  std::uint32_t mode = 0660;         // permission bits of the socket file
  std::size_t line = 0;
};

// [shm]: the page applications read the time and its error bound from (tools/kairos_now).
struct ShmConfig {
  bool enabled = true;
  std::string path = "/run/kairos/time.shm";
  double max_drift = 1e-6;  // s/s the bound grows by besides the model's frequency uncertainty
};

// [metrics]: the Prometheus endpoint (daemon/metrics_server.hpp). No section: no endpoint.
struct MetricsConfig {
  std::string listen;  // host:port, IPv6 in brackets; meant for loopback or a management network
  std::size_t line = 0;
};

// [logging]: where kairosd's lines go and from which level on.
struct LoggingConfig {
  std::string target = "stderr";  // stderr | journald | syslog
  std::string level = "info";     // debug | info | warn | error
  std::string tracking;           // the clock log's path (daemon/tracking_log.hpp); empty: none
};

// [evidence]: the evidence log for regulated clocks (daemon/evidence_log.hpp) and its tiers. No
// section: no log and no tier alarms.
struct EvidenceConfig {
  bool enabled = true;                      // the section is there: on unless told otherwise
  std::string path;                         // the directory; empty: <state-dir>/evidence
  double interval = 1;                      // s between records of each clock
  int retain_days = 0;                      // files older are removed; 0: never
  std::vector<double> tiers{100e-6, 1e-3};  // s, ascending: MiFID II RTS 25's 100 µs and 1 ms
  std::size_t line = 0;
};

struct DaemonConfig {
  bool steer = false;  // observe only unless set
  std::string state_dir = "/var/lib/kairos";
  // Started as root: the user it becomes once sockets are bound and NICs set up (daemon/privileges.hpp).
  std::optional<std::string> user;
  bool seccomp = false;  // a syscall allow-list (daemon/seccomp_filter.hpp)
  LoggingConfig logging;
  std::vector<SourceConfig> sources;
  std::optional<NtpServerConfig> server;
  std::optional<KeServerConfig> ke_server;
  std::vector<InterfaceConfig> interfaces;
  std::vector<RefclockConfig> refclocks;
  std::vector<PtpConfig> ptp;
  SystemClockConfig system_clock;
  ControlConfig control;
  ShmConfig shm;
  std::optional<MetricsConfig> metrics;
  std::optional<EvidenceConfig> evidence;
  // The evidence directory in use: [evidence] path, else <state-dir>/evidence.
  std::string evidence_dir() const {
    return evidence && !evidence->path.empty() ? evidence->path : state_dir + "/evidence";
  }
  const InterfaceConfig* interface(std::string_view name) const {
    for (const auto& i : interfaces) {
      if (i.name == name) return &i;
    }
    return nullptr;
  }
  // The cookie keys the NTP server opens and the KE server seals with, if any.
  bool has_cookie_keys() const { return ke_server || (server && server->key_seed); }
  std::optional<std::string> cookie_key_seed() const { return ke_server ? ke_server->key_seed : server ? server->key_seed : std::nullopt; }
  KeyRingConfig cookie_key_schedule() const { return ke_server ? ke_server->keys : server ? server->keys : KeyRingConfig{}; }
};

inline constexpr int kMinPollLimit = -6;  // 1/64 s, for labs and tests
inline constexpr int kMaxPollLimit = 17;  // 36 h

// `origin` names the text in messages (usually the file path).
Result<DaemonConfig> parse_config(std::string_view text, std::string_view origin);
Result<DaemonConfig> load_config(const std::string& path);

}  // namespace kairos
