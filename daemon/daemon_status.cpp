#include "daemon/daemon_status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "daemon/leap_seconds_file.hpp"
#include "daemon/time_service.hpp"

namespace kairos {
namespace {

using nlohmann::json;

// JSON has no infinity: an unknown bound is null.
json seconds_or_null(double s) { return std::isfinite(s) ? json(s) : json(nullptr); }

ServerSnapshot server_snapshot(const TimeService& service) {
  ServerSnapshot s;
  if (auto c = service.ntp_counters()) {
    s.ntp = true;
    s.received = c->received;
    s.plain = c->responses.plain;
    s.nts = c->responses.nts;
    s.naks = c->responses.naks_total();
    s.rate_limited = c->responses.rate_kisses_plain + c->responses.rate_kisses_nts;
    s.dropped = c->responses.dropped_total();
    s.late = c->late;
    s.rx_hardware = c->hardware_stamps;
    s.rx_kernel = c->kernel_stamps;
    s.rx_daemon = c->daemon_stamps;
    s.tx_hardware = c->tx_hardware_used;
    s.tx_kernel = c->tx_stamps_used - c->tx_hardware_used;
    s.latency_count = c->latency.count();
    s.latency_sum = c->latency.sum_seconds();
    s.latency_p50 = c->latency.quantile_seconds(0.5);
    s.latency_p99 = c->latency.quantile_seconds(0.99);
    s.latency_max = c->latency.max_seconds();
  }
  if (const auto k = service.ke_counters()) {
    s.nts_ke = true;
    s.ke_ok = k->responses;
    s.ke_failed = k->handshakes_failed + k->no_agreement + k->error_records + k->aborted + k->timed_out +
                  k->evicted;
    s.ke_refused = k->over_limit + k->rate_limited;
  }
  return s;
}

json clock_json(const ClockStatus& c) {
  std::size_t selected = 0;
  for (const auto& s : c.sources) selected += s.selected ? 1 : 0;
  json tiers = json::array();
  for (const TierState& t : c.tiers) tiers.push_back(json{{"tier", t.tier}, {"within", t.within}, {"breaches", t.breaches}});
  return json{{"tiers", tiers},
              {"name", c.name},
              {"state", to_string(c.state)},
              {"steered", c.steered},
              {"offset", c.offset},
              {"error_bound", seconds_or_null(c.error_bound)},  // the maximum error
              {"estimate_error", seconds_or_null(c.estimate_error)},
              {"frequency_ppm", c.frequency * 1e6},
              {"frequency_sd_ppm", c.frequency_sd * 1e6},
              {"steps", c.steps},
              {"follows", c.follows.empty() ? json(nullptr) : json(c.follows)},
              {"last_update_age", c.last_update_age ? json(*c.last_update_age) : json(nullptr)},
              {"leap", to_string(c.leap)},
              {"leap_armed", c.leap_armed == Leap::kInsert || c.leap_armed == Leap::kDelete},
              {"sources", c.sources.size()},
              {"sources_selected", selected}};
}

json date_or_null(std::optional<std::int64_t> unix_seconds) {
  return unix_seconds ? json(utc_date(*unix_seconds)) : json(nullptr);
}

json counters_json(const AssociationCounters& c) {
  return json{{"samples", c.samples},     {"timeouts", c.timeouts}, {"rejected", c.rejected},
              {"naks", c.naks},           {"ke_ok", c.ke_ok},       {"ke_failed", c.ke_failed},
              {"kisses", c.kisses},       {"interleaved", c.interleaved}};
}

json source_json(const SourceSnapshot& s) {
  json last = nullptr;
  if (s.last) {
    // Without knowing where in the round trip the server read its clock, the true offset is
    // anywhere within half the delay of the measured one.
    last = json{{"offset", s.last->offset}, {"error", s.last->delay / 2}, {"delay", s.last->delay}, {"age", s.last_age}};
  }
  json guard = nullptr;
  if (s.guard) {
    guard = json{{"state", to_string(s.guard->state)},
                 {"alarm", s.guard->alarm()},
                 {"disagreement", s.guard->disagreement ? json(*s.guard->disagreement) : json(nullptr)},
                 {"rejected", s.guard->rejected},
                 {"episodes", s.guard->episodes}};
  }
  json out{{"name", s.name},
              {"address", s.refclock ? s.device : s.address},
              {"mode", s.refclock ? "refclock" : s.nts ? "nts" : "plain"},
              {"has_keys", s.has_keys},
              {"cookies", s.cookies},
              {"reach", s.reach},
              {"poll", s.poll},
              {"selected", s.selected},
              {"state", to_string(s.state)},
              {"last_sample", last},
              {"counters", counters_json(s.counters)},
              {"guard", guard}};
  if (s.refclock) out["problem"] = s.problem.empty() ? json(nullptr) : json(s.problem);
  if (s.ptp) {
    const PtpSnapshot& p = *s.ptp;
    out["address"] = s.address;
    out["mode"] = "ptp";
    out["ptp"] = json{{"interface", p.interface},
                      {"transport", p.transport},
                      {"domain", p.domain},
                      {"port_state", p.port_state},
                      {"master", p.master.empty() ? json(nullptr) : json(p.master)},
                      {"grandmaster", p.grandmaster.empty() ? json(nullptr) : json(p.grandmaster)},
                      {"steps_removed", p.steps_removed},
                      {"clock_class", p.clock_class},
                      {"timescale", p.timescale},
                      {"utc_offset", p.utc_offset},
                      {"foreign_masters", p.foreign_masters},
                      {"measurements", p.port.measurements},
                      {"announce_timeouts", p.port.announce_timeouts},
                      {"master_changes", p.port.master_changes},
                      {"unicast_grants", p.port.grants},
                      {"malformed", p.port.malformed},
                      {"lost_follow_ups", p.port.lost_follow_ups},
                      {"lost_delay_resps", p.port.lost_delay_resps},
                      {"no_utc_offset", p.source.no_utc_offset},
                      {"utc_offset_mismatch", p.source.utc_offset_mismatch},
                      {"daemon_stamps", p.source.daemon_stamps}};
  }
  return out;
}

json server_json(const std::optional<ServerSnapshot>& server) {
  if (!server) return nullptr;
  const ServerSnapshot& s = *server;
  json out = json::object();
  out["ntp"] = s.ntp ? json{{"received", s.received},
                            {"served", s.plain + s.nts},
                            {"plain", s.plain},
                            {"nts", s.nts},
                            {"naks", s.naks},
                            {"rate_limited", s.rate_limited},
                            {"dropped", s.dropped},
                            {"late", s.late},
                            {"rx_stamps", json{{"hardware", s.rx_hardware}, {"kernel", s.rx_kernel}, {"daemon", s.rx_daemon}}},
                            {"tx_stamps", json{{"hardware", s.tx_hardware}, {"kernel", s.tx_kernel}}},
                            // RX stamp to answer handed to the kernel (s), every answer since start.
                            {"latency", json{{"count", s.latency_count},
                                             {"p50", s.latency_p50},
                                             {"p99", s.latency_p99},
                                             {"max", s.latency_max}}}}
                     : json(nullptr);
  out["nts_ke"] = s.nts_ke ? json{{"ok", s.ke_ok}, {"failed", s.ke_failed}, {"refused", s.ke_refused}} : json(nullptr);
  return out;
}

json sources_json(const std::vector<SourceSnapshot>& sources) {
  json list = json::array();
  for (const auto& s : sources) list.push_back(source_json(s));
  return list;
}

json clocks_json(const std::vector<ClockStatus>& clocks) {
  json list = json::array();
  for (const auto& c : clocks) list.push_back(clock_json(c));
  return list;
}

}  // namespace

DaemonStatus collect_status(ClockStatus system, const std::list<Association>& associations, const TimeService* service,
                            std::chrono::steady_clock::time_point now) {
  DaemonStatus status;
  for (const Association& a : associations) {
    SourceSnapshot s;
    s.name = a.name();
    s.address = a.ntp_address();
    s.nts = a.nts();
    s.has_keys = a.has_keys();
    s.cookies = a.cookies();
    s.reach = a.reach();
    s.poll = a.poll_exponent();
    s.counters = a.counters();
    s.last = a.last_sample();
    if (s.last) s.last_age = std::chrono::duration<double>(now - s.last->when).count();
    // By name: refclocks are sources of the clock model too, and SIGHUP adds sources later.
    for (const SourceStatus& model : system.sources) {
      if (model.name != s.name) continue;
      s.selected = model.selected;
      s.state = model.state;
    }
    status.sources.push_back(std::move(s));
  }
  if (service) status.server = server_snapshot(*service);
  status.clocks.push_back(system);
  status.system = std::move(system);
  return status;
}

namespace {

// What the NTS sources say of a guarded source, as its model's status has it.
GuardSnapshot guard_snapshot(const SourceStatus& model) {
  return GuardSnapshot{.state = model.guard,
                       .disagreement = model.disagreement,
                       .rejected = model.guard_rejected,
                       .episodes = model.guard_episodes};
}

}  // namespace

void add_refclocks(DaemonStatus& status, const std::vector<RefclockStatus>& refclocks,
                   std::chrono::steady_clock::time_point now) {
  for (const RefclockStatus& r : refclocks) {
    SourceSnapshot s;
    s.name = r.name;
    s.refclock = true;
    s.device = r.device;
    s.problem = r.problem;
    s.selected = r.source.selected;
    s.state = r.source.state;
    // Read every second (2^poll): reachable while its readings are used.
    s.reach = r.readings > r.unused && r.problem.empty() ? 0xff : 0;
    s.counters.samples = r.readings - r.unused;
    if (r.last_offset) {
      s.last = LastSample{.offset = *r.last_offset, .delay = r.last_window.value_or(0), .when = now, .stratum = 0,
                          .reference = "PHC0"};
      s.last_age = r.last_age.value_or(0);
    }
    if (r.source.guarded) {
      s.guard = guard_snapshot(r.source);
    }
    status.sources.push_back(std::move(s));
  }
}

std::string ptp_identity_text(const ClockIdentity& c) {
  return fmt::format("{:02x}{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}{:02x}", c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
}

std::string ptp_identity_text(const PortIdentity& port) { return ptp_identity_text(port.clock) + "-" + std::to_string(port.port); }

void add_ptp_sources(DaemonStatus& status, const std::vector<std::pair<const PtpSource*, SourceStatus>>& ports,
                     double elapsed, std::chrono::steady_clock::time_point now) {
  for (const auto& [source, model] : ports) {
    const PtpPort& port = source->port();
    SourceSnapshot s;
    s.name = source->name();
    s.selected = model.selected;
    s.state = model.state;
    PtpSnapshot p;
    p.interface = source->options().interface;
    p.transport = to_string(source->options().transport);
    p.domain = source->options().domain;
    p.port_state = to_string(port.state());
    p.foreign_masters = port.foreign_masters().size();
    p.port = port.counters();
    p.source = source->counters();
    p.utc_offset = source->utc_offset_used();
    if (const auto master = port.master()) {
      s.address = master->address;
      p.master = ptp_identity_text(master->port);
      p.grandmaster = ptp_identity_text(master->grandmaster);
      p.steps_removed = master->steps_removed;
      p.clock_class = master->quality.clock_class;
      p.timescale = master->ptp_timescale ? "PTP" : "ARB";
    }
    // Reachable while it follows a master that gives measurements.
    s.reach = port.state() == PtpPortState::kSlave ? 0xff : 0;
    s.counters.samples = source->counters().measurements;
    if (const auto& last = source->last()) {
      s.last = LastSample{.offset = last->offset, .delay = last->delay, .when = now, .stratum = 0, .reference = "PTP"};
      s.last_age = std::max(0.0, elapsed - last->time);
    }
    if (model.guarded) {
      s.guard = guard_snapshot(model);
    }
    s.ptp = std::move(p);
    status.sources.push_back(std::move(s));
  }
}

bool guard_alarm(const DaemonStatus& status) {
  return std::any_of(status.sources.begin(), status.sources.end(),
                     [](const SourceSnapshot& s) { return s.guard && s.guard->alarm(); });
}

json leap_json(const LeapStatus& leap) {
  json next = nullptr;
  if (leap.next_leap) {
    // The leap second is the last of the day before the change.
    next = json{{"date", utc_date(leap.next_leap->utc - 1)}, {"kind", to_string(leap.next_leap->leap)},
                {"tai_utc_after", leap.next_leap->tai_utc_after}};
  }
  return json{{"tai_utc", leap.tai_utc ? json(*leap.tai_utc) : json(nullptr)},
              {"tai_utc_origin", leap.tai_utc ? json("leap-seconds.list") : json(nullptr)},
              {"list", leap.list.empty() ? json(nullptr) : json(leap.list)},
              {"list_expiry", date_or_null(leap.list_expiry)},
              {"list_expired", leap.list_expired},
              {"next_leap", next},
              {"smear", leap.smear},
              {"smear_active", leap.smear_active},
              {"smear_offset", leap.smear_offset}};
}

json to_json(const DaemonStatus& status) {
  return json{{"system", clock_json(status.system)},
              {"guard_alarm", guard_alarm(status)},
              {"clocks", clocks_json(status.clocks)},
              {"sources", sources_json(status.sources)},
              {"server", server_json(status.server)},
              {"leap", leap_json(status.leap)}};
}

json answer_json(ControlCommand command, const DaemonStatus& status) {
  switch (command) {
    case ControlCommand::kStatus: {
      std::size_t reachable = 0;
      for (const auto& s : status.sources) reachable += s.reach ? 1 : 0;
      json clock = clock_json(status.system);
      clock["sources_reachable"] = reachable;
      return json{{"system", clock},
                  {"serving", status.server.has_value()},
                  {"leap", leap_json(status.leap)},
                  {"guard_alarm", guard_alarm(status)}};
    }
    case ControlCommand::kSources: return json{{"sources", sources_json(status.sources)}};
    case ControlCommand::kClocks: return json{{"clocks", clocks_json(status.clocks)}};
    case ControlCommand::kServer: return json{{"server", server_json(status.server)}};
  }
  return json{{"error", "unknown command"}};
}

}  // namespace kairos
