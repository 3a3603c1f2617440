#include "daemon/reload.hpp"

#include <fmt/format.h>

namespace kairos {
namespace {

// Collects the keys that differ; `line` members are never compared (an edit above a section
// moves it without changing it).
class Differences {
 public:
  template <class T>
  void compare(std::string key, const T& before, const T& after) {
    if (!(before == after)) keys_.push_back(std::move(key));
  }
  void add(std::string key) { keys_.push_back(std::move(key)); }
  std::vector<std::string> take() { return std::move(keys_); }

 private:
  std::vector<std::string> keys_;
};

void compare_key_ring(Differences& d, const std::string& section, const KeyRingConfig& a, const KeyRingConfig& b) {
  d.compare(section + ".key-rotation-interval", a.rotation_interval, b.rotation_interval);
  d.compare(section + ".old-keys", a.old_keys, b.old_keys);
}

void compare_server(Differences& d, const std::optional<NtpServerConfig>& before,
                    const std::optional<NtpServerConfig>& after) {
  if (before.has_value() != after.has_value()) return d.add("server");
  if (!before) return;
  const NtpServerConfig& a = *before;
  const NtpServerConfig& b = *after;
  d.compare("server.listen", a.listen, b.listen);
  d.compare("server.workers", a.workers, b.workers);
  d.compare("server.local-stratum", a.local_stratum, b.local_stratum);
  d.compare("server.interleaved", a.interleaved, b.interleaved);
  d.compare("server.leap-smear", a.leap_smear, b.leap_smear);
  d.compare("server.rate-limit", a.rate_limit, b.rate_limit);
  d.compare("server.key-seed", a.key_seed, b.key_seed);
  compare_key_ring(d, "server", a.keys, b.keys);
}

void compare_ke_server(Differences& d, const std::optional<KeServerConfig>& before,
                       const std::optional<KeServerConfig>& after) {
  if (before.has_value() != after.has_value()) return d.add("nts-ke-server");
  if (!before) return;
  const KeServerConfig& a = *before;
  const KeServerConfig& b = *after;
  d.compare("nts-ke-server.listen", a.listen, b.listen);
  // The files named are read again on every SIGHUP; other files need the restart.
  d.compare("nts-ke-server.certificate", a.certificate, b.certificate);
  d.compare("nts-ke-server.private-key", a.private_key, b.private_key);
  d.compare("nts-ke-server.key-seed", a.key_seed, b.key_seed);
  compare_key_ring(d, "nts-ke-server", a.keys, b.keys);
  d.compare("nts-ke-server.ntp-server", a.ntp_server, b.ntp_server);
  d.compare("nts-ke-server.ntp-port", a.ntp_port, b.ntp_port);
  d.compare("nts-ke-server.aead", a.aeads, b.aeads);
  d.compare("nts-ke-server.max-connections", a.max_connections, b.max_connections);
  d.compare("nts-ke-server.timeout", a.timeout, b.timeout);
  d.compare("nts-ke-server.max-request", a.max_request, b.max_request);
  d.compare("nts-ke-server.rate-limit", a.rate_limit, b.rate_limit);
}

const InterfaceConfig* find_interface(const std::vector<InterfaceConfig>& list, const std::string& name) {
  for (const InterfaceConfig& i : list) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

// Interfaces are named by their `name`: "interface.eth0" when one comes or goes, else the key.
void compare_interfaces(Differences& d, const std::vector<InterfaceConfig>& before,
                        const std::vector<InterfaceConfig>& after) {
  for (const InterfaceConfig& a : before) {
    const std::string section = "interface." + a.name;
    const InterfaceConfig* b = find_interface(after, a.name);
    if (!b) {
      d.add(section);
      continue;
    }
    d.compare(section + ".hw-timestamping", a.hw_timestamping, b->hw_timestamping);
    d.compare(section + ".discipline-phc", a.discipline_phc, b->discipline_phc);
    d.compare(section + ".phc-follows-system", a.phc_follows_system, b->phc_follows_system);
    d.compare(section + ".rx-compensation", a.rx_compensation, b->rx_compensation);
    d.compare(section + ".tx-compensation", a.tx_compensation, b->tx_compensation);
  }
  for (const InterfaceConfig& b : after) {
    if (!find_interface(before, b.name)) d.add("interface." + b.name);
  }
}

// Sections made only at start, matched by `name` (refclocks and PTP ports: their devices and
// ports are opened before the privileges go): one added or removed is KIND.NAME, a changed key
// KIND.NAME.KEY (`fields` compares the keys of one pair).
template <class Config, class Fields>
void compare_named(Differences& d, const std::string& kind, const std::vector<Config>& before,
                   const std::vector<Config>& after, Fields fields) {
  auto find = [](const std::vector<Config>& list, const std::string& name) -> const Config* {
    for (const Config& c : list) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  for (const Config& a : before) {
    const Config* b = find(after, a.name);
    if (b) {
      fields(kind + "." + a.name, a, *b);
    } else {
      d.add(kind + "." + a.name);
    }
  }
  for (const Config& b : after) {
    if (!find(before, b.name)) d.add(kind + "." + b.name);
  }
}

void compare_refclocks(Differences& d, const std::vector<RefclockConfig>& before,
                       const std::vector<RefclockConfig>& after) {
  compare_named(d, "refclock", before, after,
                [&d](const std::string& section, const RefclockConfig& a, const RefclockConfig& b) {
                  d.compare(section + ".phc", a.phc, b.phc);
                  d.compare(section + ".interface", a.interface, b.interface);
                  d.compare(section + ".timescale", a.tai, b.tai);
                  d.compare(section + ".poll", a.poll, b.poll);
                  d.compare(section + ".max-error", a.max_error, b.max_error);
                  d.compare(section + ".prefer", a.prefer, b.prefer);
                  d.compare(section + ".require-agreement", a.require_agreement, b.require_agreement);
                });
}

void compare_ptp(Differences& d, const std::vector<PtpConfig>& before, const std::vector<PtpConfig>& after) {
  compare_named(d, "ptp", before, after, [&d](const std::string& section, const PtpConfig& a, const PtpConfig& b) {
    d.compare(section + ".interface", a.interface, b.interface);
    d.compare(section + ".domain", a.domain, b.domain);
    d.compare(section + ".transport", a.transport, b.transport);
    d.compare(section + ".unicast-masters", a.unicast_masters, b.unicast_masters);
    d.compare(section + ".timescale", a.timescale, b.timescale);
    d.compare(section + ".max-error", a.max_error, b.max_error);
    d.compare(section + ".prefer", a.prefer, b.prefer);
    d.compare(section + ".require-agreement", a.require_agreement, b.require_agreement);
  });
}

std::vector<std::string> restart_keys(const DaemonConfig& a, const DaemonConfig& b) {
  Differences d;
  d.compare("daemon.steer", a.steer, b.steer);
  d.compare("daemon.state-dir", a.state_dir, b.state_dir);
  d.compare("daemon.user", a.user, b.user);
  d.compare("daemon.seccomp", a.seccomp, b.seccomp);
  d.compare("logging.target", a.logging.target, b.logging.target);
  compare_server(d, a.server, b.server);
  compare_ke_server(d, a.ke_server, b.ke_server);
  compare_interfaces(d, a.interfaces, b.interfaces);
  compare_refclocks(d, a.refclocks, b.refclocks);
  compare_ptp(d, a.ptp, b.ptp);
  d.compare("clock.system.follow", a.system_clock.follow, b.system_clock.follow);
  d.compare("clock.system.step", a.system_clock.step, b.system_clock.step);
  d.compare("clock.system.step-threshold", a.system_clock.step_threshold, b.system_clock.step_threshold);
  d.compare("clock.system.max-slew", a.system_clock.max_slew, b.system_clock.max_slew);
  d.compare("clock.system.panic-threshold", a.system_clock.panic_threshold, b.system_clock.panic_threshold);
  d.compare("clock.system.min-sources", a.system_clock.min_sources, b.system_clock.min_sources);
  d.compare("clock.system.max-distance", a.system_clock.max_distance, b.system_clock.max_distance);
  d.compare("clock.system.max-drift", a.system_clock.max_drift_ppm, b.system_clock.max_drift_ppm);
  d.compare("control.enabled", a.control.enabled, b.control.enabled);
  d.compare("control.socket", a.control.socket, b.control.socket);
  d.compare("control.group", a.control.group, b.control.group);
  d.compare("control.mode", a.control.mode, b.control.mode);
  d.compare("shm.enabled", a.shm.enabled, b.shm.enabled);
  d.compare("shm.path", a.shm.path, b.shm.path);
  d.compare("shm.max-drift", a.shm.max_drift, b.shm.max_drift);
  if (a.metrics.has_value() != b.metrics.has_value()) {
    d.add("metrics");
  } else if (a.metrics) {
    d.compare("metrics.listen", a.metrics->listen, b.metrics->listen);
  }
  if (a.evidence.has_value() != b.evidence.has_value()) {
    d.add("evidence");
  } else if (a.evidence) {
    d.compare("evidence.enabled", a.evidence->enabled, b.evidence->enabled);
    d.compare("evidence.path", a.evidence->path, b.evidence->path);
    d.compare("evidence.interval", a.evidence->interval, b.evidence->interval);
    d.compare("evidence.retain-days", a.evidence->retain_days, b.evidence->retain_days);
    d.compare("evidence.tiers", a.evidence->tiers, b.evidence->tiers);
  }
  return d.take();
}

std::string count(std::size_t n, const char* sign) {
  return fmt::format("{}{} source{}", sign, n, n == 1 ? "" : "s");
}

}  // namespace

bool same_source(const SourceConfig& a, const SourceConfig& b) {
  return a.address == b.address && a.nts == b.nts && a.ca == b.ca && a.aeads == b.aeads && a.minpoll == b.minpoll &&
         a.maxpoll == b.maxpoll && a.iburst == b.iburst && a.xleave == b.xleave && a.asymmetry == b.asymmetry &&
         a.max_asymmetry == b.max_asymmetry && a.trust == b.trust && a.require == b.require && a.prefer == b.prefer &&
         a.noselect == b.noselect && a.max_distance == b.max_distance && a.pool_member == b.pool_member;
}

ReloadPlan plan_reload(const DaemonConfig& running, const DaemonConfig& next) {
  ReloadPlan plan;
  // Each new entry takes the first old one alike that no other took: the same server listed
  // twice stays twice, and an entry that only moved in the file keeps its association.
  std::vector<bool> kept(running.sources.size(), false);
  for (const SourceConfig& wanted : next.sources) {
    bool found = false;
    for (std::size_t i = 0; i < running.sources.size() && !found; ++i) {
      if (!kept[i] && same_source(running.sources[i], wanted)) {
        kept[i] = true;
        found = true;
      }
    }
    if (!found) plan.add.push_back(wanted);
  }
  for (std::size_t i = 0; i < running.sources.size(); ++i) {
    if (!kept[i]) plan.remove.push_back(i);
  }
  if (running.logging.level != next.logging.level) plan.log_level = next.logging.level;
  plan.reload_certificates = running.ke_server.has_value();
  plan.restart_needed = restart_keys(running, next);
  return plan;
}

std::string reload_summary(const ReloadPlan& plan) {
  std::vector<std::string> parts;
  if (!plan.add.empty()) parts.push_back(count(plan.add.size(), "+"));
  if (!plan.remove.empty()) parts.push_back(count(plan.remove.size(), "-"));
  if (plan.log_level) parts.push_back("level " + *plan.log_level);
  if (!plan.restart_needed.empty()) {
    parts.push_back(fmt::format("{} key{} kept until a restart", plan.restart_needed.size(),
                                plan.restart_needed.size() == 1 ? "" : "s"));
  }
  if (parts.empty()) return "reloaded: no changes";
  std::string text = "reloaded: ";
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : "") + parts[i];
  return text;
}

}  // namespace kairos
