#include "status_format.hpp"

#include "daemon/tier_watch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

namespace kairos {
namespace {

using nlohmann::json;

// A field of an object, or null when the object or the field is missing.
const json& field(const json& object, const char* key) {
  static const json null_value;  // a constant, not state: the answer for every missing field
  if (!object.is_object()) return null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

double number(const json& value, double otherwise = 0) { return value.is_number() ? value.get<double>() : otherwise; }

std::uint64_t count(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() > 0) return static_cast<std::uint64_t>(value.get<std::int64_t>());
  return 0;
}

std::string label(const char* name, const std::string& value) { return fmt::format("{:<16}: {}\n", name, value); }

std::string clock_state(const json& clock) {
  std::string state = text(field(clock, "state"));
  if (field(clock, "steered").is_boolean() && !field(clock, "steered").get<bool>()) state += " (observed, not steered)";
  return state;
}

std::string frequency(const json& clock) {
  return fmt::format("{:+.3f} ppm ± {:.3f} ppm", number(field(clock, "frequency_ppm")),
                     number(field(clock, "frequency_sd_ppm")));
}

// Columns padded to their widest cell; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string format_offset(double offset, const json& bound) {
  if (!bound.is_number()) return fmt::format("{:+.9f} s ± unknown", offset);
  return fmt::format("{:+.9f} s ± {:.9f} s", offset, bound.get<double>());
}

std::string format_reach(unsigned reach) { return fmt::format("{:o}", reach & 0xffu); }

std::string format_leap(const json& leap) {
  std::string out;
  const std::string list = text(field(leap, "list"));
  const std::string expiry = text(field(leap, "list_expiry"));
  const bool expired = field(leap, "list_expired").is_boolean() && field(leap, "list_expired").get<bool>();
  if (field(leap, "tai_utc").is_number()) {
    out += label("TAI - UTC", fmt::format("{} s (from {}, expires {})", count(field(leap, "tai_utc")), list, expiry));
  } else if (expired) {
    out += label("TAI - UTC", fmt::format("unknown ({} expired {})", list, expiry));
  } else {
    out += label("TAI - UTC", "unknown (no leap-seconds.list)");
  }
  if (const json& next = field(leap, "next_leap"); next.is_object()) {
    out += label("Next leap", fmt::format("{} at the end of {}", text(field(next, "kind")), text(field(next, "date"))));
  }
  const std::string smear = text(field(leap, "smear"));
  if (smear != "none" && smear != "-") {
    const bool active = field(leap, "smear_active").is_boolean() && field(leap, "smear_active").get<bool>();
    out += label("Leap smear", active ? fmt::format("{} active, offset {:+.9f} s", smear, number(field(leap, "smear_offset")))
                                      : smear + ", not active");
  }
  return out;
}

std::string format_status(const json& answer) {
  const json& clock = field(answer, "system");
  std::string out;
  out += label("System clock", clock_state(clock));
  // ± the maximum error (where the true time is); the estimate error is the model's own sd.
  out += label("Offset", format_offset(number(field(clock, "offset")), field(clock, "error_bound")));
  if (const json& sd = field(clock, "estimate_error"); sd.is_number()) {
    out += label("Estimate error", fmt::format("{:.9f} s (1 sd)", sd.get<double>()));
  }
  out += label("Frequency", frequency(clock));
  out += label("Sources", fmt::format("{} selected of {} ({} reachable)", count(field(clock, "sources_selected")),
                                      count(field(clock, "sources")), count(field(clock, "sources_reachable"))));
  out += label("Clock steps", std::to_string(count(field(clock, "steps"))));
  const std::string leap = text(field(clock, "leap"));
  if (leap == "insert" || leap == "delete") {
    const bool armed = field(clock, "leap_armed").is_boolean() && field(clock, "leap_armed").get<bool>();
    out += label("Leap second", fmt::format("{} announced; {}", leap,
                                            armed ? "armed for midnight UTC" : "armed on the month's last day"));
  }
  if (const json& leap_seconds = field(answer, "leap"); leap_seconds.is_object()) out += format_leap(leap_seconds);
  // [evidence] tiers: within or not, judged on |offset| + maximum error.
  if (const json& tiers = field(clock, "tiers"); tiers.is_array() && !tiers.empty()) {
    std::string list;
    for (const json& t : tiers) {
      const bool within = field(t, "within").is_boolean() && field(t, "within").get<bool>();
      list += fmt::format("{}{} {} ({} breaches)", list.empty() ? "" : ", ", tier_text(number(field(t, "tier"))),
                          within ? "within" : "OUTSIDE", count(field(t, "breaches")));
    }
    out += label("Tiers", list);
  }
  const json& serving = field(answer, "serving");
  out += label("Serving time", serving.is_boolean() && serving.get<bool>() ? "yes" : "no");
  if (const json& alarm = field(answer, "guard_alarm"); alarm.is_boolean() && alarm.get<bool>()) {
    out += label("NTS guard", "ALARM: a refclock disagrees with authenticated time (kairosctl sources)");
  }
  return out;
}

namespace {

// The S column: chrony's sources symbols where they mean the same.
std::string source_symbol(const std::string& state, bool selected) {
  if (state == "combined") return "*";
  if (state == "selected") return "+";
  if (state == "noselect") return "N";
  if (state == "too far") return "d";
  if (state == "disagrees") return "x";
  if (state == "unconfirmed") return "u";
  if (state == "no sample") return "?";
  if (state.empty()) return selected ? "*" : "-";  // a kairosd from before source states
  return "-";
}

}  // namespace

std::string format_sources(const json& answer) {
  const json& sources = field(answer, "sources");
  if (!sources.is_array() || sources.empty()) return "no sources\n";
  std::vector<std::vector<std::string>> rows{
      {"S", "NAME", "ADDRESS", "NTS", "REACH", "POLL", "LAST OFFSET ± ERROR", "DELAY", "AGE", "SAMPLES", "TIMEOUTS"}};
  for (const json& s : sources) {
    const json& last = field(s, "last_sample");
    const bool selected = field(s, "selected").is_boolean() && field(s, "selected").get<bool>();
    std::string nts = "plain";
    if (text(field(s, "mode")) == "refclock") {
      nts = "refclock";
    } else if (text(field(s, "mode")) == "ptp") {
      nts = "ptp " + text(field(field(s, "ptp"), "port_state"));
    } else if (text(field(s, "mode")) == "nts") {
      const bool keys = field(s, "has_keys").is_boolean() && field(s, "has_keys").get<bool>();
      nts = keys ? fmt::format("keys, {} cookies", count(field(s, "cookies"))) : "no keys";
    }
    const json& counters = field(s, "counters");
    const json& state = field(s, "state");
    rows.push_back({last.is_null() ? "?" : source_symbol(state.is_string() ? state.get<std::string>() : "", selected),
                    text(field(s, "name")),
                    text(field(s, "address")).empty() ? "-" : text(field(s, "address")), nts,
                    format_reach(static_cast<unsigned>(count(field(s, "reach")))),
                    fmt::format("{} s", std::ldexp(1.0, static_cast<int>(number(field(s, "poll"))))),
                    last.is_null() ? "-" : format_offset(number(field(last, "offset")), field(last, "error")),
                    last.is_null() ? "-" : fmt::format("{:.9f} s", number(field(last, "delay"))),
                    last.is_null() ? "-" : fmt::format("{:.1f} s", number(field(last, "age"))),
                    std::to_string(count(field(counters, "samples"))), std::to_string(count(field(counters, "timeouts")))});
  }
  // What the NTS sources say of each refclock, and why a refclock's readings are not used.
  std::string notes;
  for (const json& s : sources) {
    const json& guard = field(s, "guard");
    if (guard.is_object()) {
      const json& by = field(guard, "disagreement");
      const std::string state = text(field(guard, "state"));
      if (state == "disagrees") {
        notes += fmt::format("{}: ALARM: disagrees with authenticated time by {:+.9f} s ({} samples refused, {} "
                             "times)\n",
                             text(field(s, "name")), number(by), count(field(guard, "rejected")),
                             count(field(guard, "episodes")));
      } else if (state == "agrees") {
        notes += fmt::format("{}: agrees with authenticated time ({:+.9f} s apart)\n", text(field(s, "name")),
                             number(by));
      } else {
        notes += fmt::format("{}: {}\n", text(field(s, "name")),
                             state == "unconfirmed" ? "not used until authenticated time confirms it"
                                                    : "no authenticated time to check it against");
      }
    }
    if (field(s, "problem").is_string()) notes += fmt::format("{}: {}\n", text(field(s, "name")), text(field(s, "problem")));
    // A PTP port: the master it follows, as pmc would name it.
    const json& ptp = field(s, "ptp");
    if (ptp.is_object()) {
      if (field(ptp, "master").is_string()) {
        notes += fmt::format("{}: {} on {} domain {}: master {}, grandmaster {} (class {}, {} steps removed), {} "
                             "timescale{}\n",
                             text(field(s, "name")), text(field(ptp, "port_state")), text(field(ptp, "interface")),
                             count(field(ptp, "domain")), text(field(ptp, "master")), text(field(ptp, "grandmaster")),
                             count(field(ptp, "clock_class")), count(field(ptp, "steps_removed")),
                             text(field(ptp, "timescale")),
                             count(field(ptp, "utc_offset")) != 0
                                 ? fmt::format(" (TAI - UTC {} s taken off)", count(field(ptp, "utc_offset")))
                                 : std::string());
      } else {
        notes += fmt::format("{}: {} on {} domain {}: no master ({} foreign masters heard)\n", text(field(s, "name")),
                             text(field(ptp, "port_state")), text(field(ptp, "interface")), count(field(ptp, "domain")),
                             count(field(ptp, "foreign_masters")));
      }
    }
  }
  return table(rows) + notes +
         "S: * steers the clock, + selected (voted; a preferred source steers), - not selected, N noselect,\n"
         "   d root distance beyond max-distance, x disagrees with authenticated (NTS) time, u unconfirmed by it,\n"
         "   ? no sample yet\n";
}

std::string format_clocks(const json& answer) {
  const json& clocks = field(answer, "clocks");
  if (!clocks.is_array() || clocks.empty()) return "no clocks\n";
  std::vector<std::vector<std::string>> rows{{"CLOCK", "STATE", "OFFSET ± BOUND", "FREQUENCY", "SOURCES", "STEPS"}};
  for (const json& c : clocks) {
    rows.push_back({text(field(c, "name")), clock_state(c),
                    format_offset(number(field(c, "offset")), field(c, "error_bound")), frequency(c),
                    field(c, "follows").is_string()
                        ? "follows " + text(field(c, "follows"))
                        : fmt::format("{}/{} selected", count(field(c, "sources_selected")), count(field(c, "sources"))),
                    std::to_string(count(field(c, "steps")))});
  }
  return table(rows);
}

std::string format_server(const json& answer) {
  const json& server = field(answer, "server");
  if (!server.is_object()) return "kairosd serves no time (no [server] or [nts-ke-server] configured)\n";
  std::string out;
  const json& ntp = field(server, "ntp");
  if (ntp.is_object()) {
    out += label("NTP served", fmt::format("{} ({} plain, {} NTS)", count(field(ntp, "served")),
                                           count(field(ntp, "plain")), count(field(ntp, "nts"))));
    out += label("NTP received", std::to_string(count(field(ntp, "received"))));
    out += label("NTS NAKs", std::to_string(count(field(ntp, "naks"))));
    out += label("Rate-limited", fmt::format("{} (RATE kisses)", count(field(ntp, "rate_limited"))));
    out += label("Dropped", std::to_string(count(field(ntp, "dropped"))));
    out += label("Late, dropped", fmt::format("{} (waited longer than max-wait)", count(field(ntp, "late"))));
    if (const json& rx = field(ntp, "rx_stamps"); rx.is_object()) {
      out += label("RX stamps", fmt::format("{} hardware, {} kernel, {} daemon", count(field(rx, "hardware")),
                                            count(field(rx, "kernel")), count(field(rx, "daemon"))));
    }
    if (const json& tx = field(ntp, "tx_stamps"); tx.is_object()) {
      out += label("TX stamps", fmt::format("{} hardware, {} kernel (interleaved answers)", count(field(tx, "hardware")),
                                            count(field(tx, "kernel"))));
    }
    if (const json& latency = field(ntp, "latency"); latency.is_object() && count(field(latency, "count")) > 0) {
      const auto us = [&](const char* key) { return 1e6 * number(field(latency, key)); };
      out += label("RX to TX", fmt::format("p50 {:.1f} µs, p99 {:.1f} µs, max {:.1f} µs", us("p50"), us("p99"), us("max")));
    }
  } else {
    out += label("NTP server", "off");
  }
  const json& ke = field(server, "nts_ke");
  if (ke.is_object()) {
    out += label("NTS-KE", fmt::format("{} ok, {} failed, {} refused (over a limit)", count(field(ke, "ok")),
                                       count(field(ke, "failed")), count(field(ke, "refused"))));
  } else {
    out += label("NTS-KE server", "off");
  }
  return out;
}

SyncCheck check_sync(const json& status, double max_error) {
  const json& clock = field(status, "system");
  SyncCheck check;
  check.summary = fmt::format("{}, offset {}", text(field(clock, "state")),
                              format_offset(number(field(clock, "offset")), field(clock, "error_bound")));
  const json& bound = field(clock, "error_bound");
  check.synchronized = text(field(clock, "state")) == "synchronized" && bound.is_number() &&
                       bound.get<double>() <= max_error;
  return check;
}

}  // namespace kairos
