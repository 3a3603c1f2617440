#include "report.hpp"

#include <fmt/format.h>
#include <sys/timex.h>

#include <algorithm>
#include <cmath>
#include <ctime>

namespace kairos::phcstat {
namespace {

// 2000-01-01T00:00:00Z: no PHC that keeps time reads earlier; many read 1970 after a reset.
constexpr time_t kSaneEpoch = 946684800;
// TAI - UTC since 2017-01-01, for PHCs in TAI when the kernel was never told the offset.
constexpr int kDefaultTaiOffset = 37;

double to_seconds(const timespec& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9; }

std::string utc_text(const timespec& t) {
  std::tm tm{};
  const time_t s = t.tv_sec;
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string duration_text(double s) {
  const double a = std::abs(s);
  if (a < 1e-6) return fmt::format("{:.1f} ns", s * 1e9);
  if (a < 1e-3) return fmt::format("{:.3f} µs", s * 1e6);
  if (a < 1.0) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.9f} s", s);
}

// The PHC's offset to the system clock with the TAI-UTC offset taken out when the PHC keeps TAI
// (as ptp4l's PHCs do): the smaller of the two readings, and which one it was.
std::pair<double, bool> utc_or_tai(double offset, int tai) {
  const int t = tai != 0 ? tai : kDefaultTaiOffset;
  const double as_tai = offset - t;
  if (std::abs(as_tai) < std::abs(offset)) return {as_tai, true};
  return {offset, false};
}

std::string caps_text(const PhcCaps& c) {
  return fmt::format("max_adj {} ppb, pins {}, pps {}, alarms {}, external timestamps {}, periodic outputs {}, "
                     "cross-timestamping {}, adjust_phase {}{}",
                     c.max_adj, c.n_pins, c.pps ? "yes" : "no", c.n_alarm, c.n_ext_ts, c.n_per_out,
                     c.cross_timestamping ? "precise" : "no", c.adjust_phase ? "yes" : "no",
                     c.max_phase_adj ? fmt::format(" (max {} ns)", c.max_phase_adj) : std::string());
}

}  // namespace

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk: return "OK";
    case Verdict::kWarn: return "WARN";
    case Verdict::kFail: return "FAIL";
  }
  return "?";
}

int Report::failures() const {
  return static_cast<int>(std::count_if(checks.begin(), checks.end(), [](const Check& c) { return c.verdict == Verdict::kFail; }));
}

int Report::warnings() const {
  return static_cast<int>(std::count_if(checks.begin(), checks.end(), [](const Check& c) { return c.verdict == Verdict::kWarn; }));
}

const KairosdClock* KairosdView::clock_for(const std::string& device_path) const {
  // kairosd names a PHC clock "<interface> PHC (<device>)".
  const std::string suffix = "(" + device_path + ")";
  for (const KairosdClock& c : clocks) {
    if (c.name.size() >= suffix.size() && c.name.ends_with(suffix)) return &c;
  }
  return nullptr;
}

std::expected<std::vector<KairosdClock>, std::string> parse_kairosd_clocks(std::string_view answer) {
  using nlohmann::json;
  const json j = json::parse(answer, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("kairosd's answer is not a JSON object");
  if (auto e = j.find("error"); e != j.end()) {
    return std::unexpected("kairosd: " + (e->is_string() ? e->get<std::string>() : e->dump()));
  }
  auto list = j.find("clocks");
  if (list == j.end() || !list->is_array()) return std::unexpected("kairosd's answer has no clocks list");
  std::vector<KairosdClock> clocks;
  for (const json& c : *list) {
    if (!c.is_object()) return std::unexpected("kairosd's clocks list holds a non-object");
    KairosdClock k;
    auto text = [&c](const char* key) {
      auto it = c.find(key);
      return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto number = [&c](const char* key) -> std::optional<double> {
      auto it = c.find(key);
      if (it == c.end() || !it->is_number()) return std::nullopt;
      return it->get<double>();
    };
    k.name = text("name");
    if (k.name.empty()) return std::unexpected("kairosd's clocks list holds a clock without a name");
    k.state = text("state");
    auto steered = c.find("steered");
    k.steered = steered != c.end() && steered->is_boolean() && steered->get<bool>();
    k.offset = number("offset").value_or(0.0);
    k.error_bound = number("error_bound");
    k.follows = text("follows");
    k.last_update_age = number("last_update_age");
    clocks.push_back(std::move(k));
  }
  return clocks;
}

SystemClockReport read_system_clock(const AdjtimeFn& adjtime) {
  SystemClockReport r;
  timex tx{};
  tx.modes = 0;  // read only: never changes the clock
  const int state = adjtime(CLOCK_REALTIME, &tx);
  if (state < 0) {
    r.error = std::string("clock_adjtime(CLOCK_REALTIME) failed: ") + std::strerror(errno);
    return r;
  }
  r.read = true;
  r.state = state;
  r.status = tx.status;
  r.unsynchronized = (tx.status & STA_UNSYNC) != 0;
  r.max_error = static_cast<double>(tx.maxerror) * 1e-6;
  r.est_error = static_cast<double>(tx.esterror) * 1e-6;
  r.tai = tx.tai;
  r.frequency_ppm = static_cast<double>(tx.freq) / 65536.0;
  r.tick = tx.tick;
  r.leap = (tx.status & STA_INS) ? "insert" : (tx.status & STA_DEL) ? "delete" : "none";
  return r;
}

Report build_report(const Environment& env, const Thresholds& thresholds) {
  Report report;
  report.ptp_dir = env.sysfs + "/class/ptp";
  report.system = read_system_clock(env.adjtime);
  std::vector<PhcEntry> entries;
  if (auto listed = list_phcs(env.sysfs)) entries = std::move(*listed);
  if (!env.devices.empty()) {
    std::vector<PhcEntry> chosen;
    for (const std::string& path : env.devices) {
      auto it = std::find_if(entries.begin(), entries.end(), [&](const PhcEntry& e) { return e.path == path; });
      if (it != entries.end()) {
        chosen.push_back(*it);
      } else {
        PhcEntry bare;
        bare.path = path;
        chosen.push_back(bare);
      }
    }
    entries = std::move(chosen);
  }
  const ProcScan scan = scan_phc_holders(env.proc, env.self);
  report.unreadable_processes = scan.unreadable;
  for (const PhcEntry& entry : entries) {
    PhcReport p;
    p.entry = entry;
    if (auto held = scan.holders.find(entry.path); held != scan.holders.end()) p.holders = held->second;
    auto device = PhcDevice::open(entry.path, env.phc, PhcAccess::kReadOnly);
    if (!device) {
      p.error = device.error().message;
    } else {
      p.caps = device->caps();
      if (auto cross = device->cross_timestamp(env.readings)) {
        p.realtime = *cross;
      } else {
        p.realtime_error = cross.error().message;
      }
      if (auto raw = device->read_offset_to(CLOCK_MONOTONIC_RAW, env.readings)) p.monotonic_raw = *raw;
      if (auto f = device->frequency_ppb()) p.frequency_ppb = *f;
    }
    for (const std::string& name : entry.interfaces) {
      InterfaceReport i;
      i.name = name;
      if (auto info = query_timestamping(name, TsinfoPath::kAuto, env.sysfs)) {
        i.info = std::move(*info);
      } else {
        i.info_error = info.error().message;
      }
      // "check" only reads: a NIC shared with ptp4l is never reprogrammed by a status tool.
      if (auto nic = NicTimestamping::configure(name, HwTimestampingMode::kCheck, env.nic)) {
        i.hardware_active = nic->hardware_active();
        i.hardware_tx = nic->hardware_tx();
        i.rx_filter = nic->rx_filter();
      } else {
        i.enabled_error = nic.error().message;
      }
      p.interfaces.push_back(std::move(i));
    }
    report.phcs.push_back(std::move(p));
  }
  if (env.ask_kairosd) {
    auto answer = env.ask_kairosd();
    auto clocks = answer ? parse_kairosd_clocks(*answer) : std::unexpected(answer.error());
    if (clocks) {
      report.kairosd.reached = true;
      report.kairosd.clocks = std::move(*clocks);
    } else {
      report.kairosd.error = clocks.error();
    }
  }
  report.checks = evaluate(report, thresholds);
  return report;
}

std::vector<Check> evaluate(const Report& report, const Thresholds& th) {
  std::vector<Check> checks;
  const SystemClockReport& sys = report.system;
  if (!sys.read) {
    checks.push_back({"system clock readable", Verdict::kFail, sys.error});
  } else if (sys.unsynchronized) {
    checks.push_back({"system clock synchronized", Verdict::kWarn,
                      "STA_UNSYNC is set: no time daemon vouches for the system clock"});
  } else if (sys.max_error >= 16.0) {
    checks.push_back({"system clock synchronized", Verdict::kWarn,
                      "synchronized, but maxerror is at the kernel's 16 s cap: its bound is not kept up"});
  } else {
    checks.push_back({"system clock synchronized", Verdict::kOk,
                      fmt::format("maxerror {}, esterror {}", duration_text(sys.max_error), duration_text(sys.est_error))});
  }
  if (sys.read && sys.leap != "none") {
    checks.push_back({"leap second", Verdict::kOk, "a leap second (" + sys.leap + ") is armed for the end of this UTC day"});
  }
  for (const PhcReport& p : report.phcs) {
    const std::string& dev = p.entry.path;
    // Two servos on one clock fight: each undoes the other's corrections.
    if (const std::vector<std::string> steering = steering_holders(p.holders); steering.size() >= 2) {
      std::string names;
      for (const std::string& s : steering) names += (names.empty() ? "" : ", ") + s;
      checks.push_back({dev + " steered once", Verdict::kWarn,
                        "more than one process holds it open for writing and may steer it: " + names +
                            " (phc2sys reading ptp4l's PHC looks the same: check which clock each adjusts)"});
    } else if (steering.size() == 1) {
      checks.push_back({dev + " steered once", Verdict::kOk, "steered by " + steering.front() + " at most"});
    }
    if (!p.error.empty()) {
      checks.push_back({dev + " readable", Verdict::kFail, p.error});
      continue;
    }
    if (!p.realtime) {
      checks.push_back({dev + " cross-timestamp", Verdict::kFail, p.realtime_error});
    } else {
      const CrossTimestamp& c = *p.realtime;
      if (c.phc_time.tv_sec < kSaneEpoch) {
        checks.push_back({dev + " time", Verdict::kFail,
                          "reads " + utc_text(c.phc_time) + ": reset (a link reset restarts many PHCs at 1970) or never set"});
      } else {
        const auto [off, tai] = utc_or_tai(c.offset, sys.tai);
        const std::string what = fmt::format("{} from CLOCK_REALTIME{}", duration_text(off), tai ? " (PHC keeps TAI)" : "");
        const Verdict v = std::abs(off) < th.warn_offset ? Verdict::kOk
                          : std::abs(off) < th.fail_offset ? Verdict::kWarn
                                                           : Verdict::kFail;
        checks.push_back({dev + " offset", v,
                          v == Verdict::kOk ? what
                                            : what + ": the PHC and the system clock follow different references, or one "
                                                     "of them is not disciplined"});
      }
      checks.push_back({dev + " read delay", c.window <= th.warn_read_delay ? Verdict::kOk : Verdict::kWarn,
                        fmt::format("{} by {}", duration_text(c.window), to_string(c.method))});
    }
    if (p.frequency_ppb && p.caps && p.caps->max_adj > 0) {
      const double fraction = std::abs(*p.frequency_ppb) / p.caps->max_adj;
      checks.push_back({dev + " frequency", fraction <= th.warn_frequency ? Verdict::kOk : Verdict::kWarn,
                        fmt::format("{:+.1f} ppb, {:.1f} % of max_adj", *p.frequency_ppb, 100 * fraction)});
    }
    for (const InterfaceReport& i : p.interfaces) {
      if (!i.info) continue;
      const bool can = i.info->hardware_rx() && i.info->hardware_tx() && i.info->can_filter_ntp();
      checks.push_back({i.name + " hardware timestamps for NTP", can ? Verdict::kOk : Verdict::kWarn,
                        can ? (i.hardware_active ? "supported and enabled (rx " + rx_filter_name(i.rx_filter.value_or(0)) + ")"
                                                 : "supported, not enabled now")
                            : "the NIC cannot stamp NTP packets (rx filters: " +
                                  rx_filters_to_string(i.info->rx_filters) + ")"});
    }
  }
  // kairosd's own view: a clock it keeps but cannot vouch for is worth a warning, not a failure
  // (it may still be starting).
  for (const KairosdClock& c : report.kairosd.clocks) {
    if (c.state == "synchronized") {
      checks.push_back({"kairosd " + c.name, Verdict::kOk,
                        c.error_bound ? "synchronized, error bound " + duration_text(*c.error_bound) : "synchronized"});
    } else {
      checks.push_back({"kairosd " + c.name, Verdict::kWarn, "kairosd reports it " + c.state});
    }
  }
  return checks;
}

namespace {

std::string kairosd_clock_text(const KairosdClock& c) {
  std::string out = fmt::format("{}, {}", c.state, c.steered ? "steered" : "observed only");
  if (c.error_bound) out += fmt::format(", offset {:+.9f} s ± {}", c.offset, duration_text(*c.error_bound));
  if (!c.follows.empty()) out += ", follows " + c.follows;
  out += c.last_update_age ? ", updated " + duration_text(*c.last_update_age) + " ago" : ", no update yet";
  return out;
}

}  // namespace

std::string to_text(const Report& r) {
  std::string out;
  const SystemClockReport& s = r.system;
  out += "System clock (CLOCK_REALTIME, kernel view)\n";
  if (!s.read) {
    out += "  " + s.error + "\n";
  } else {
    out += fmt::format("  status        {}, leap {}, TAI offset {} s\n",
                       s.unsynchronized ? "unsynchronized (STA_UNSYNC)" : "synchronized", s.leap, s.tai);
    out += fmt::format("  error         maxerror {}, esterror {}\n", duration_text(s.max_error), duration_text(s.est_error));
    out += fmt::format("  frequency     {:+.3f} ppm, tick {} µs\n", s.frequency_ppm, s.tick);
  }
  if (r.phcs.empty()) {
    out += "PTP hardware clocks: none on this machine (" + r.ptp_dir + " lists none)\n";
  }
  for (const PhcReport& p : r.phcs) {
    std::string ifaces;
    for (const auto& i : p.entry.interfaces) ifaces += (ifaces.empty() ? "" : ", ") + i;
    out += fmt::format("{}{}{}\n", p.entry.path, p.entry.clock_name.empty() ? "" : " (" + p.entry.clock_name + ")",
                       ifaces.empty() ? "" : ", interfaces " + ifaces);
    if (!p.entry.vclocks.empty()) {
      std::string v;
      for (int n : p.entry.vclocks) v += fmt::format("{}/dev/ptp{}", v.empty() ? "" : " ", n);
      out += "  vclocks       " + v + "\n";
    }
    if (const KairosdClock* k = r.kairosd.clock_for(p.entry.path)) out += "  kairosd       " + kairosd_clock_text(*k) + "\n";
    if (!p.holders.empty()) {
      std::string held;
      for (const PhcHolder& h : p.holders) {
        held += fmt::format("{}{} (pid {}, {})", held.empty() ? "" : ", ", h.comm, h.pid, h.write ? "read-write" : "read-only");
      }
      out += "  held open by  " + held + "\n";
    }
    if (r.unreadable_processes != 0) {
      out += fmt::format("  held open by  (the descriptors of {} processes could not be read: run as root)\n",
                         r.unreadable_processes);
    }
    if (!p.error.empty()) {
      out += "  " + p.error + "\n";
      continue;
    }
    if (p.caps) out += "  caps          " + caps_text(*p.caps) + "\n";
    if (p.realtime) {
      const CrossTimestamp& c = *p.realtime;
      out += fmt::format("  vs REALTIME   {:+.9f} s, read delay {} ({}), PHC reads {}\n", c.offset,
                         duration_text(c.window), to_string(c.method), utc_text(c.phc_time));
    } else {
      out += "  vs REALTIME   " + p.realtime_error + "\n";
    }
    if (p.monotonic_raw) {
      out += fmt::format("  vs MONO_RAW   {:+.9f} s, read delay {} ({})\n", p.monotonic_raw->offset,
                         duration_text(p.monotonic_raw->window), to_string(p.monotonic_raw->method));
    }
    if (p.frequency_ppb) {
      out += fmt::format("  frequency     {:+.1f} ppb{}\n", *p.frequency_ppb,
                         p.caps && p.caps->max_adj > 0
                             ? fmt::format(" ({:.2f} % of max_adj)", 100 * std::abs(*p.frequency_ppb) / p.caps->max_adj)
                             : std::string());
    }
    for (const InterfaceReport& i : p.interfaces) {
      if (!i.info) {
        out += "  " + i.name + "          " + i.info_error + "\n";
        continue;
      }
      const TimestampingInfo& t = *i.info;
      out += fmt::format("  {} (driver {}, via {})\n", i.name, t.driver.empty() ? "?" : t.driver, t.via);
      out += "    capabilities  " + so_timestamping_to_string(t.so_timestamping) + "\n";
      out += "    tx types      " + tx_types_to_string(t.tx_types) + "\n";
      out += "    rx filters    " + rx_filters_to_string(t.rx_filters) + "\n";
      if (i.enabled_error.empty()) {
        out += fmt::format("    enabled       rx {}, tx {}\n", i.rx_filter ? rx_filter_name(*i.rx_filter) : "unknown",
                           i.hardware_tx ? "on" : "off");
      } else {
        out += "    enabled       " + i.enabled_error + "\n";
      }
    }
  }
  if (r.kairosd.reached) {
    out += "kairosd\n";
    for (const KairosdClock& c : r.kairosd.clocks) out += fmt::format("  {:<13} {}\n", c.name, kairosd_clock_text(c));
    for (const PhcReport& p : r.phcs) {
      if (!r.kairosd.clock_for(p.entry.path)) out += fmt::format("  {:<13} not kept by kairosd\n", p.entry.path);
    }
  } else if (!r.kairosd.error.empty()) {
    out += "kairosd        not reached: " + r.kairosd.error + "\n";
  }
  out += "Checks\n";
  for (const Check& c : r.checks) out += fmt::format("  {:<5} {}: {}\n", to_string(c.verdict), c.name, c.detail);
  out += fmt::format("{} failed, {} warnings\n", r.failures(), r.warnings());
  return out;
}

nlohmann::json to_json(const Report& r) {
  using nlohmann::json;
  json j;
  const SystemClockReport& s = r.system;
  j["system"] = s.read ? json{{"synchronized", !s.unsynchronized}, {"status", s.status}, {"state", s.state},
                              {"max_error", s.max_error},        {"est_error", s.est_error}, {"tai_offset", s.tai},
                              {"frequency_ppm", s.frequency_ppm}, {"tick", s.tick},        {"leap", s.leap}}
                       : json{{"error", s.error}};
  j["unreadable_processes"] = r.unreadable_processes;
  j["phcs"] = json::array();
  for (const PhcReport& p : r.phcs) {
    json x{{"path", p.entry.path}, {"clock_name", p.entry.clock_name}, {"interfaces", p.entry.interfaces},
           {"vclocks", p.entry.vclocks}};
    if (!p.error.empty()) x["error"] = p.error;
    x["holders"] = json::array();
    for (const PhcHolder& h : p.holders) x["holders"].push_back({{"pid", h.pid}, {"comm", h.comm}, {"write", h.write}});
    if (p.caps) {
      const PhcCaps& c = *p.caps;
      x["caps"] = {{"max_adj_ppb", c.max_adj}, {"pins", c.n_pins},           {"pps", c.pps},
                   {"alarms", c.n_alarm},      {"external_timestamps", c.n_ext_ts}, {"periodic_outputs", c.n_per_out},
                   {"cross_timestamping", c.cross_timestamping}, {"adjust_phase", c.adjust_phase},
                   {"max_phase_adj_ns", c.max_phase_adj}};
    }
    auto cross = [](const CrossTimestamp& c) {
      return json{{"offset", c.offset}, {"read_delay", c.window}, {"method", std::string(to_string(c.method))},
                  {"phc_time", to_seconds(c.phc_time)}};
    };
    if (p.realtime) x["realtime"] = cross(*p.realtime);
    if (!p.realtime_error.empty()) x["realtime_error"] = p.realtime_error;
    if (p.monotonic_raw) x["monotonic_raw"] = cross(*p.monotonic_raw);
    if (p.frequency_ppb) x["frequency_ppb"] = *p.frequency_ppb;
    x["timestamping"] = json::array();
    for (const InterfaceReport& i : p.interfaces) {
      json t{{"interface", i.name}};
      if (i.info) {
        t["driver"] = i.info->driver;
        t["via"] = i.info->via;
        t["capabilities"] = so_timestamping_to_string(i.info->so_timestamping);
        t["tx_types"] = tx_types_to_string(i.info->tx_types);
        t["rx_filters"] = rx_filters_to_string(i.info->rx_filters);
      } else {
        t["error"] = i.info_error;
      }
      t["hardware_enabled"] = i.hardware_active;
      t["tx_enabled"] = i.hardware_tx;
      if (i.rx_filter) t["rx_filter"] = rx_filter_name(*i.rx_filter);
      x["timestamping"].push_back(t);
    }
    j["phcs"].push_back(x);
  }
  if (r.kairosd.reached) {
    json clocks = json::array();
    for (const KairosdClock& c : r.kairosd.clocks) {
      clocks.push_back({{"name", c.name},
                        {"state", c.state},
                        {"steered", c.steered},
                        {"offset", c.offset},
                        {"error_bound", c.error_bound ? json(*c.error_bound) : json(nullptr)},
                        {"follows", c.follows.empty() ? json(nullptr) : json(c.follows)},
                        {"last_update_age", c.last_update_age ? json(*c.last_update_age) : json(nullptr)}});
    }
    j["kairosd"] = {{"clocks", clocks}};
  } else {
    j["kairosd"] = {{"error", r.kairosd.error.empty() ? json(nullptr) : json(r.kairosd.error)}};
  }
  j["checks"] = json::array();
  for (const Check& c : r.checks) {
    j["checks"].push_back({{"name", c.name}, {"verdict", to_string(c.verdict)}, {"detail", c.detail}});
  }
  j["failures"] = r.failures();
  j["warnings"] = r.warnings();
  return j;
}

std::string watch_line(const Report& r) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  std::string line = utc_text(now);
  line += fmt::format(" system {} maxerror {}", r.system.unsynchronized ? "unsync" : "sync",
                      duration_text(r.system.max_error));
  for (const PhcReport& p : r.phcs) {
    if (p.realtime) {
      line += fmt::format(" | {} {:+.9f} s delay {}", p.entry.path, p.realtime->offset, duration_text(p.realtime->window));
    } else {
      line += " | " + p.entry.path + " unreadable";
    }
    if (p.frequency_ppb) line += fmt::format(" {:+.1f} ppb", *p.frequency_ppb);
  }
  if (r.phcs.empty()) line += " | no PHC";
  return line;
}

}  // namespace kairos::phcstat
