#pragma once
// phcstat's report: every PTP hardware clock with its interfaces, caps, timestamping modes,
// offsets to the system clocks and frequency; the kernel's view of the system clock; and checks
// with OK / WARN / FAIL. Gathering takes its kernel through injected seams (sysfs root, PHC
// syscalls, NIC ioctls, adjtimex), so tests run it on a simulated PHC and a fake sysfs tree.
// Everything is read-only: devices are opened O_RDONLY, adjtimex is called with modes 0 and the
// NICs' timestamping is only read (the "check" mode never writes).
#include <nlohmann/json.hpp>

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hwts/linux_clock.hpp"
#include "hwts/cross_timestamp.hpp"
#include "hwts/interface_info.hpp"
#include "hwts/nic_timestamping.hpp"
#include "hwts/phc_device.hpp"
#include "phc_holders.hpp"

namespace kairos::phcstat {

enum class Verdict { kOk, kWarn, kFail };
const char* to_string(Verdict verdict);

struct Check {
  std::string name;
  Verdict verdict = Verdict::kOk;
  std::string detail;
};

struct Thresholds {
  double warn_offset = 1e-3;   // PHC vs system clock (s), modulo the TAI-UTC offset
  double fail_offset = 10.0;   // beyond this the PHC keeps neither UTC nor TAI: unset or broken
  double warn_read_delay = 50e-6;  // a cross-timestamp window wider than this is a slow path
  double warn_frequency = 0.9;     // |frequency| as a fraction of max_adj
};

struct InterfaceReport {
  std::string name;
  std::optional<TimestampingInfo> info;
  std::string info_error;
  // What the NIC does now (SIOCGHWTSTAMP), read without writing.
  bool hardware_active = false;
  bool hardware_tx = false;
  std::optional<int> rx_filter;
  std::string enabled_error;
};

struct PhcReport {
  PhcEntry entry;
  std::optional<PhcCaps> caps;
  std::string error;  // opening or reading the device failed
  std::optional<CrossTimestamp> realtime;
  std::string realtime_error;
  std::optional<CrossTimestamp> monotonic_raw;
  std::optional<double> frequency_ppb;
  std::vector<InterfaceReport> interfaces;
  std::vector<PhcHolder> holders;  // processes holding it open (phc_holders.hpp)
};

struct SystemClockReport {
  bool read = false;
  std::string error;
  int state = 0;  // adjtimex's return: TIME_OK, TIME_INS, ...
  int status = 0;
  bool unsynchronized = true;
  double max_error = 0;  // s
  double est_error = 0;  // s
  int tai = 0;           // TAI - UTC (s), 0 when the kernel was never told
  double frequency_ppm = 0;
  long tick = 0;
  std::string leap = "none";  // none | insert | delete
};

// One clock as kairosd reports it over its control socket (`kairosctl clocks --json`).
struct KairosdClock {
  std::string name;  // "system" or "eth0 PHC (/dev/ptp0)"
  std::string state;
  bool steered = false;
  double offset = 0;
  std::optional<double> error_bound;  // none while unknown
  std::string follows;
  std::optional<double> last_update_age;
};

struct KairosdView {
  bool reached = false;
  std::string error;  // why not, when not reached
  std::vector<KairosdClock> clocks;
  // The clock kairosd keeps for this PHC device path, if any.
  const KairosdClock* clock_for(const std::string& device_path) const;
};

// Reads the answer to {"command":"clocks"}; an {"error":…} or malformed answer is an error.
std::expected<std::vector<KairosdClock>, std::string> parse_kairosd_clocks(std::string_view answer);

struct Report {
  SystemClockReport system;
  std::vector<PhcReport> phcs;
  KairosdView kairosd;
  std::string ptp_dir;  // where PHCs were looked for, for the "none found" line
  std::size_t unreadable_processes = 0;  // whose descriptors we could not read (not root)
  std::vector<Check> checks;
  int failures() const;
  int warnings() const;
};

struct Environment {
  std::string sysfs = "/sys";
  PhcSyscalls phc;
  NicIoctl nic = NicIoctl::system();
  // clock_adjtime; phcstat only ever passes modes 0.
  AdjtimeFn adjtime = ::clock_adjtime;
  std::vector<std::string> devices;  // only these /dev/ptpN (default: every PHC in sysfs)
  int readings = 9;
  std::string proc = "/proc";  // where the processes holding each PHC open are looked for
  int self = 0;                // our own pid, left out of them
  // Asks kairosd's control socket for its clocks: the answer line, or why it could not. Unset:
  // kairosd is not asked.
  std::function<std::expected<std::string, std::string>()> ask_kairosd;
};

SystemClockReport read_system_clock(const AdjtimeFn& adjtime);
Report build_report(const Environment& env, const Thresholds& thresholds);
// The checks of a report (kept apart from gathering so their rules are tested on made-up data).
std::vector<Check> evaluate(const Report& report, const Thresholds& thresholds);

std::string to_text(const Report& report);
nlohmann::json to_json(const Report& report);
// One line for --watch: time and, per PHC, offset to CLOCK_REALTIME, read delay and frequency.
std::string watch_line(const Report& report);

}  // namespace kairos::phcstat
