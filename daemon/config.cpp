#include "daemon/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "daemon/client/net.hpp"
#include "daemon/ptp_address.hpp"
#include "daemon/state_file.hpp"
#include "daemon/toml_check.hpp"
#include "nts/ke_message.hpp"

namespace kairos {
namespace {

template <class T>
std::optional<T> get(const toml::table& table, std::string_view key, const char* type_name, TomlProblems& problems) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  if (auto value = node->value_exact<T>()) return *value;
  problems.add(node, "'" + std::string(key) + "' must be " + type_name);
  return std::nullopt;
}

void read_daemon(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"steer", "state-dir", "user", "seccomp"}, "[daemon]", problems);
  if (auto v = get<bool>(t, "steer", "true or false", problems)) config.steer = *v;
  if (auto v = get<std::string>(t, "user", "a string (a user name)", problems)) {
    // A name, never a number: getpwnam is what resolves it, and "0" would be a silent root.
    if (v->empty() || v->find_first_of(":/ \t\n") != std::string::npos ||
        v->find_first_not_of("0123456789") == std::string::npos) {
      problems.add(t.get("user"), "'user' must be a user name, like \"kairos\"");
    } else {
      config.user = *v;
    }
  }
  if (auto v = get<bool>(t, "seccomp", "true or false", problems)) config.seccomp = *v;
  if (auto v = get<std::string>(t, "state-dir", "a string", problems)) {
    if (v->empty() || v->front() != '/') {
      problems.add(t.get("state-dir"), "'state-dir' must be an absolute path");
    } else {
      config.state_dir = *v;
    }
  }
}

void read_logging(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"target", "level", "tracking"}, "[logging]", problems);
  if (auto v = get<std::string>(t, "tracking", "a string", problems)) {
    if (v->empty() || v->front() != '/') {
      problems.add(t.get("tracking"), "'tracking' is an absolute path");
    } else {
      config.logging.tracking = *v;
    }
  }
  if (auto v = get<std::string>(t, "target", "a string", problems)) {
    if (*v == "stderr" || *v == "journald" || *v == "syslog") {
      config.logging.target = *v;
    } else {
      problems.add(t.get("target"), "'target' is \"stderr\", \"journald\" or \"syslog\"");
    }
  }
  if (auto v = get<std::string>(t, "level", "a string", problems)) {
    if (*v == "debug" || *v == "info" || *v == "warn" || *v == "error") {
      config.logging.level = *v;
    } else {
      problems.add(t.get("level"), "'level' is \"debug\", \"info\", \"warn\" or \"error\"");
    }
  }
}

std::optional<int> read_poll(const toml::table& t, std::string_view key, TomlProblems& problems) {
  auto v = get<std::int64_t>(t, key, "an integer", problems);
  if (!v) return std::nullopt;
  if (*v < kMinPollLimit || *v > kMaxPollLimit) {
    problems.add(t.get(key), "'" + std::string(key) + "' must be between " + std::to_string(kMinPollLimit) + " and " +
                                 std::to_string(kMaxPollLimit) + " (log2 seconds)");
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<std::vector<std::uint16_t>> read_aeads(const toml::table& t, TomlProblems& problems) {
  const toml::node* node = t.get("aead");
  if (!node) return std::nullopt;
  const toml::array* list = node->as_array();
  std::vector<std::uint16_t> ids;
  bool ok = list && !list->empty();
  if (list) {
    for (const toml::node& item : *list) {
      auto id = item.value_exact<std::int64_t>();
      if (!id || (*id != 15 && *id != 16 && *id != 17) ||
          std::find(ids.begin(), ids.end(), *id) != ids.end()) {
        ok = false;
        break;
      }
      ids.push_back(static_cast<std::uint16_t>(*id));
    }
  }
  if (!ok) {
    problems.add(node, "'aead' must be a non-empty list of distinct 15, 16 and 17 (AES-SIV-CMAC-256/384/512)");
    return std::nullopt;
  }
  return ids;
}

// An integer in [low, high], or nothing (with a problem when present but wrong).
std::optional<std::int64_t> read_int(const toml::table& t, std::string_view key, std::int64_t low, std::int64_t high,
                                     TomlProblems& problems) {
  auto v = get<std::int64_t>(t, key, "an integer", problems);
  if (!v) return std::nullopt;
  if (*v < low || *v > high) {
    problems.add(t.get(key), "'" + std::string(key) + "' must be between " + std::to_string(low) + " and " +
                                 std::to_string(high));
    return std::nullopt;
  }
  return v;
}

// Seconds as an integer or a float, in (0, high].
std::optional<double> read_seconds(const toml::table& t, std::string_view key, double high, TomlProblems& problems) {
  const toml::node* node = t.get(key);
  if (!node) return std::nullopt;
  std::optional<double> v = toml_number(*node);
  if (!v || !NumberRange{.low = 0, .high = high, .low_open = true}.contains(*v)) {
    problems.add(node, "'" + std::string(key) + "' must be a number of seconds above 0 and at most " +
                           fmt::format("{:g}", high));
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> read_path(const toml::table& t, std::string_view key, TomlProblems& problems) {
  auto v = get<std::string>(t, key, "a string", problems);
  if (v && v->empty()) {
    problems.add(t.get(key), "'" + std::string(key) + "' must not be empty");
    return std::nullopt;
  }
  return v;
}

// listen = ["host:port", "[v6]:port"]: every entry needs an explicit port.
std::optional<std::vector<std::string>> read_listen(const toml::table& t, TomlProblems& problems) {
  const toml::node* node = t.get("listen");
  if (!node) return std::nullopt;
  const toml::array* list = node->as_array();
  if (!list || list->empty()) {
    problems.add(node, "'listen' must be a non-empty list of \"address:port\" strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const toml::node& item : *list) {
    auto text = item.value_exact<std::string>();
    auto split = text ? split_host_port(*text, 0) : fail("not a string");
    if (!text || !split || split->second == 0 || split->first.empty()) {
      problems.add(&item, "'listen' entries are \"address:port\" with a port above 0 ([addr]:port for IPv6)");
      return std::nullopt;
    }
    out.push_back(*text);
  }
  return out;
}

// rate-limit = false | { interval = seconds, burst = n, clients = n }
void read_rate_limit(const toml::table& t, std::optional<RateLimitConfig>& out, TomlProblems& problems) {
  const toml::node* node = t.get("rate-limit");
  if (!node) return;
  if (auto flag = node->value_exact<bool>()) {
    if (*flag) {
      problems.add(node, "'rate-limit' is false or a table { interval = seconds, burst = n }");
    } else {
      out.reset();
    }
    return;
  }
  const toml::table* table = node->as_table();
  if (!table) {
    problems.add(node, "'rate-limit' is false or a table { interval = seconds, burst = n }");
    return;
  }
  reject_unknown_keys(*table, {"interval", "burst", "clients"}, "'rate-limit'", problems);
  RateLimitConfig limit = out.value_or(RateLimitConfig{});
  if (auto v = read_seconds(*table, "interval", 3600, problems)) limit.interval = *v;
  if (auto v = read_int(*table, "burst", 1, 1024, problems)) limit.burst = static_cast<std::uint32_t>(*v);
  if (auto v = read_int(*table, "clients", 64, 1 << 24, problems)) limit.entries = static_cast<std::size_t>(*v);
  out = limit;
}

std::optional<double> read_number(const toml::table& t, std::string_view key, double low, double high,
                                  TomlProblems& problems);

// max-distance (s): a microsecond is a hardware reference next door; beyond 16 s a source is
// unsynchronized by NTP's own measure (MAXDISP).
constexpr double kMinMaxDistance = 1e-6;
constexpr double kMaxMaxDistance = 16;

void read_source(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  SourceConfig source;
  source.line = t.source().begin.line;
  reject_unknown_keys(t, {"address", "pool", "max-sources", "nts", "ca", "aead", "minpoll", "maxpoll", "iburst",
                          "xleave", "asymmetry", "max-asymmetry", "trust", "require", "prefer", "noselect",
                          "max-distance"},
                      "[[source]]", problems);
  if (auto v = get<std::string>(t, "address", "a string", problems)) {
    source.address = *v;
  }
  // A pool: every address of one name, up to max-sources of them at a time (chrony's maxsources).
  int members = 0;
  if (auto v = get<std::string>(t, "pool", "a string", problems)) {
    if (!source.address.empty()) {
      problems.add(t.get("pool"), "[[source]] takes 'address' or 'pool', not both");
    } else if (v->empty()) {
      problems.add(t.get("pool"), "'pool' needs a name");
    } else {
      source.address = *v;
      members = 4;
    }
  } else if (source.address.empty()) {
    problems.add(source.line, "[[source]] needs a non-empty 'address' (or a 'pool')");
  }
  if (auto v = read_int(t, "max-sources", 1, 16, problems)) {
    if (members == 0) problems.add(t.get("max-sources"), "'max-sources' only applies to a 'pool'");
    members = static_cast<int>(*v);
  }
  if (auto v = get<bool>(t, "nts", "true or false", problems)) source.nts = *v;
  if (auto v = get<std::string>(t, "ca", "a string", problems)) source.ca = *v;
  if (auto ids = read_aeads(t, problems)) source.aeads = *ids;
  if (auto v = read_poll(t, "minpoll", problems)) source.minpoll = *v;
  if (auto v = read_poll(t, "maxpoll", problems)) source.maxpoll = *v;
  if (source.minpoll > source.maxpoll) problems.add(source.line, "'minpoll' is larger than 'maxpoll'");
  if (auto v = get<bool>(t, "iburst", "true or false", problems)) source.iburst = *v;
  if (auto v = get<bool>(t, "xleave", "true or false", problems)) source.xleave = *v;
  // A second of asymmetry is no calibration but a broken path.
  if (auto v = read_number(t, "asymmetry", -1, 1, problems)) source.asymmetry = *v;
  if (auto v = read_number(t, "max-asymmetry", 0, 1, problems)) source.max_asymmetry = *v;
  if (auto v = get<bool>(t, "trust", "true or false", problems)) source.trust = *v;
  if (auto v = get<bool>(t, "require", "true or false", problems)) source.require = *v;
  if (auto v = get<bool>(t, "prefer", "true or false", problems)) source.prefer = *v;
  if (auto v = get<bool>(t, "noselect", "true or false", problems)) source.noselect = *v;
  if (auto v = read_number(t, "max-distance", kMinMaxDistance, kMaxMaxDistance, problems)) source.max_distance = *v;
  if (source.noselect) {
    // A source that is never selected cannot be the required one, trusted, or preferred.
    for (const char* key : {"require", "trust", "prefer"}) {
      const auto* v = t.get(key);
      if (v && v->value<bool>().value_or(false)) {
        problems.add(v, std::string("'") + key + "' has no meaning for a 'noselect' source (it is never selected)");
      }
    }
  }
  if (source.ca && !source.nts) problems.add(t.get("ca"), "'ca' only applies to NTS sources");
  if (members == 0) {
    config.sources.push_back(std::move(source));
    return;
  }
  for (int k = 1; k <= members; ++k) {
    source.pool_member = k;
    config.sources.push_back(source);
  }
}

void read_key_schedule(const toml::table& t, KeyRingConfig& keys, TomlProblems& problems) {
  if (auto v = read_int(t, "key-rotation-interval", kMinRotationInterval, kMaxRotationInterval, problems)) {
    keys.rotation_interval = static_cast<std::uint32_t>(*v);
  }
  if (auto v = read_int(t, "old-keys", 0, kMaxOldKeys, problems)) keys.old_keys = static_cast<std::uint32_t>(*v);
}

// Seconds from 0 (the bound off) to 1: answers later than that are worth nothing to any client.
void read_max_wait(const toml::table& t, NtpServerConfig& server, TomlProblems& problems) {
  const toml::node* node = t.get("max-wait");
  if (!node) return;
  std::optional<double> v = toml_number(*node);
  if (!v || !NumberRange{.low = 0, .high = 1}.contains(*v)) {
    problems.add(node, "'max-wait' must be a number of seconds from 0 (never drop) to 1");
    return;
  }
  server.max_wait = *v;
}

void read_server(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  NtpServerConfig server;
  server.line = t.source().begin.line;
  reject_unknown_keys(t, {"listen", "workers", "local-stratum", "rate-limit", "key-seed", "key-rotation-interval", "old-keys",
                          "interleaved", "leap-smear", "max-wait"},
                      "[server]", problems);
  if (auto v = read_listen(t, problems)) server.listen = *v;
  if (auto v = read_int(t, "workers", 0, 256, problems)) server.workers = static_cast<unsigned>(*v);
  if (auto v = read_int(t, "local-stratum", 1, 15, problems)) server.local_stratum = static_cast<int>(*v);
  if (auto v = get<bool>(t, "interleaved", "true or false", problems)) server.interleaved = *v;
  read_max_wait(t, server, problems);
  if (auto v = get<std::string>(t, "leap-smear", "a string", problems)) {
    if (*v == "none" || *v == "linear-24h") {
      server.leap_smear = *v;
    } else {
      problems.add(t.get("leap-smear"), "'leap-smear' is \"none\" or \"linear-24h\"");
    }
  }
  read_rate_limit(t, server.rate_limit, problems);
  server.key_seed = read_path(t, "key-seed", problems);
  read_key_schedule(t, server.keys, problems);
  config.server = std::move(server);
}

void read_ke_server(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  KeServerConfig ke;
  ke.line = t.source().begin.line;
  reject_unknown_keys(t,
                      {"listen", "certificate", "private-key", "key-seed", "key-rotation-interval", "old-keys",
                       "ntp-server", "ntp-port", "aead", "max-connections", "timeout", "max-request", "rate-limit",
                       "workers"},
                      "[nts-ke-server]", problems);
  if (auto v = read_listen(t, problems)) ke.listen = *v;
  if (auto v = read_path(t, "certificate", problems)) ke.certificate = *v;
  if (auto v = read_path(t, "private-key", problems)) ke.private_key = *v;
  if (ke.certificate.empty()) problems.add(ke.line, "[nts-ke-server] needs 'certificate' (PEM chain, leaf first)");
  if (ke.private_key.empty()) problems.add(ke.line, "[nts-ke-server] needs 'private-key' (PEM)");
  ke.key_seed = read_path(t, "key-seed", problems);
  read_key_schedule(t, ke.keys, problems);
  if (auto v = get<std::string>(t, "ntp-server", "a string", problems)) {
    if (is_valid_server_name(*v)) {
      ke.ntp_server = *v;
    } else {
      problems.add(t.get("ntp-server"), "'ntp-server' must be a DNS name or an IP address");
    }
  }
  if (auto v = read_int(t, "ntp-port", 1, 65535, problems)) ke.ntp_port = static_cast<std::uint16_t>(*v);
  if (auto ids = read_aeads(t, problems)) ke.aeads = *ids;
  if (auto v = read_int(t, "max-connections", 1, 65536, problems)) ke.max_connections = static_cast<std::size_t>(*v);
  if (auto v = read_seconds(t, "timeout", 60, problems)) ke.timeout = *v;
  if (auto v = read_int(t, "max-request", 64, 65536, problems)) ke.max_request = static_cast<std::size_t>(*v);
  read_rate_limit(t, ke.rate_limit, problems);
  if (auto v = read_int(t, "workers", 0, 256, problems)) ke.workers = static_cast<unsigned>(*v);
  config.ke_server = std::move(ke);
}

// A number (integer or float) in [low, high].
std::optional<double> read_number(const toml::table& t, std::string_view key, double low, double high,
                                  TomlProblems& problems) {
  const toml::node* node = t.get(key);
  if (!node) return std::nullopt;
  std::optional<double> v = toml_number(*node);
  if (!v || !NumberRange{.low = low, .high = high}.contains(*v)) {
    problems.add(node, fmt::format("'{}' must be a number between {:g} and {:g}", key, low, high));
    return std::nullopt;
  }
  return v;
}

void read_interface(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  InterfaceConfig iface;
  iface.line = t.source().begin.line;
  reject_unknown_keys(t, {"name", "hw-timestamping", "discipline-phc", "phc-follows-system", "rx-compensation",
                          "tx-compensation", "phc-vclock"},
                      "[[interface]]", problems);
  if (auto v = read_int(t, "phc-vclock", 0, 1 << 20, problems)) iface.phc_vclock = static_cast<int>(*v);
  if (auto v = get<std::string>(t, "name", "a string", problems)) iface.name = *v;
  // IFNAMSIZ is 16 with the terminating zero; '/' and whitespace never appear in a name.
  if (iface.name.empty() || iface.name.size() > 15 ||
      iface.name.find_first_of("/ \t\n:") != std::string::npos) {
    problems.add(iface.line, "[[interface]] needs a 'name' of 1 to 15 characters, like \"eth0\"");
  }
  if (auto v = get<std::string>(t, "hw-timestamping", "a string", problems)) {
    if (auto mode = parse_hw_timestamping_mode(*v)) {
      iface.hw_timestamping = *mode;
    } else {
      problems.add(t.get("hw-timestamping"), "'hw-timestamping' is \"auto\", \"on\", \"check\" or \"off\"");
    }
  }
  if (auto v = get<bool>(t, "discipline-phc", "true or false", problems)) iface.discipline_phc = *v;
  if (auto v = get<bool>(t, "phc-follows-system", "true or false", problems)) iface.phc_follows_system = *v;
  if (iface.discipline_phc && iface.phc_follows_system) {
    problems.add(iface.line, "an interface's PHC either is disciplined by NTP ('discipline-phc') or follows the "
                             "system clock ('phc-follows-system'), not both");
  }
  if (iface.discipline_phc && iface.hw_timestamping == HwTimestampingMode::kOff) {
    problems.add(t.get("discipline-phc"), "'discipline-phc' needs hardware timestamps: hw-timestamping is \"off\"");
  }
  // "check" is for a NIC another daemon (ptp4l) configures and, as a PTP client, steers the PHC
  // of: two servos on one clock. Without discipline-phc kairosd only reads it (the direct path).
  // (phc-follows-system with "check" stays: ptp4l as a master serves the PHC kairosd keeps.)
  if (iface.phc_vclock && iface.hw_timestamping == HwTimestampingMode::kOff) {
    problems.add(t.get("phc-vclock"), "'phc-vclock' binds hardware stamps: hw-timestamping is \"off\"");
  }
  if (iface.phc_vclock && iface.phc_follows_system) {
    problems.add(t.get("phc-vclock"), "'phc-vclock' with 'phc-follows-system': a vclock serves kairosd's own stamps, "
                                      "it cannot be the PHC ptp4l serves from");
  }
  // With a vclock of its own, kairosd steers that and never the physical PHC ptp4l owns.
  if (iface.discipline_phc && iface.hw_timestamping == HwTimestampingMode::kCheck && !iface.phc_vclock) {
    problems.add(t.get("discipline-phc"),
                 "'discipline-phc' with hw-timestamping \"check\" would steer a PHC another daemon (ptp4l) owns; "
                 "leave discipline-phc out (kairosd then only reads the PHC: the direct path) or give kairosd a "
                 "virtual clock of its own with 'phc-vclock'");
  }
  if (auto v = read_number(t, "rx-compensation", -1e-3, 1e-3, problems)) iface.rx_compensation = *v;
  if (auto v = read_number(t, "tx-compensation", -1e-3, 1e-3, problems)) iface.tx_compensation = *v;
  for (const auto& other : config.interfaces) {
    if (other.name == iface.name && !iface.name.empty()) {
      problems.add(iface.line, "interface '" + iface.name + "' is configured twice");
    }
    // A source's sockets are bound to one NIC: to which, with two, would depend on the route.
    if (other.phc_vclock && iface.phc_vclock) {
      problems.add(t.get("phc-vclock"), "'phc-vclock' on more than one interface (" + other.name + " has one)");
    }
  }
  config.interfaces.push_back(std::move(iface));
}

void read_refclock(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  RefclockConfig ref;
  ref.line = t.source().begin.line;
  reject_unknown_keys(t, {"name", "phc", "interface", "timescale", "poll", "max-error", "prefer", "require-agreement"},
                      "[[refclock]]", problems);
  if (auto v = get<std::string>(t, "phc", "a string (a device path like \"/dev/ptp0\")", problems)) {
    if (v->rfind("/dev/", 0) != 0 || v->size() <= 5) {
      problems.add(t.get("phc"), "'phc' is a PHC's device path, like \"/dev/ptp0\"");
    } else {
      ref.phc = *v;
    }
  }
  if (auto v = get<std::string>(t, "interface", "a string (a NIC name)", problems)) {
    if (v->empty() || v->size() > 15 || v->find_first_of("/ \t\n:") != std::string::npos) {
      problems.add(t.get("interface"), "'interface' is a NIC name of 1 to 15 characters, like \"eth0\"");
    } else {
      ref.interface = *v;
    }
  }
  if (t.get("phc") && t.get("interface")) {
    problems.add(ref.line, "[[refclock]] names its PHC by 'phc' or by 'interface', not both");
  } else if (!t.get("phc") && !t.get("interface")) {
    problems.add(ref.line, "[[refclock]] needs 'phc = \"/dev/ptpN\"' or 'interface = \"eth0\"' (that NIC's PHC)");
  }
  if (auto v = get<std::string>(t, "timescale", "a string", problems)) {
    if (*v == "tai" || *v == "utc") {
      ref.tai = *v == "tai";
    } else {
      problems.add(t.get("timescale"), "'timescale' is \"tai\" (as ptp4l keeps a PHC) or \"utc\"");
    }
  }
  if (auto v = read_int(t, "poll", 0, kMaxRefclockPoll, problems)) ref.poll = static_cast<int>(*v);
  if (auto v = read_number(t, "max-error", 0, 1, problems)) ref.max_error = *v;
  if (auto v = get<bool>(t, "prefer", "true or false", problems)) ref.prefer = *v;
  if (auto v = get<bool>(t, "require-agreement", "true or false", problems)) ref.require_agreement = *v;
  if (auto v = get<std::string>(t, "name", "a string", problems)) {
    if (v->empty()) {
      problems.add(t.get("name"), "'name' must not be empty");
    } else {
      ref.name = *v;
    }
  }
  if (ref.name.empty()) ref.name = !ref.phc.empty() ? ref.phc : "PHC of " + ref.interface;
  for (const auto& other : config.refclocks) {
    if (other.name == ref.name) {
      problems.add(ref.line, "[[refclock]] '" + ref.name + "' is configured twice (give each a 'name')");
    }
  }
  config.refclocks.push_back(std::move(ref));
}

void read_ptp(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  PtpConfig ptp;
  ptp.line = t.source().begin.line;
  reject_unknown_keys(t, {"name", "interface", "domain", "transport", "unicast-masters", "timescale", "max-error",
                          "prefer", "require-agreement"},
                      "[[ptp]]", problems);
  if (auto v = get<std::string>(t, "interface", "a string (a NIC name)", problems)) {
    if (v->empty() || v->size() > 15 || v->find_first_of("/ \t\n:") != std::string::npos) {
      problems.add(t.get("interface"), "'interface' is a NIC name of 1 to 15 characters, like \"eth0\"");
    } else {
      ptp.interface = *v;
    }
  } else if (!t.get("interface")) {
    problems.add(ptp.line, "[[ptp]] needs 'interface = \"eth0\"' (the NIC the PTP port runs on)");
  }
  if (auto v = read_int(t, "domain", 0, 255, problems)) ptp.domain = static_cast<int>(*v);
  PtpTransport transport = PtpTransport::kUdpV4;
  if (auto v = get<std::string>(t, "transport", "a string", problems)) {
    if (auto parsed = parse_ptp_transport(*v)) {
      transport = *parsed;
      ptp.transport = *v;
    } else {
      problems.add(t.get("transport"),
                   "'transport' is \"udpv4\" (UDP over IPv4), \"udpv6\" (UDP over IPv6) or \"l2\" (IEEE 802.3 "
                   "Ethernet)");
    }
  }
  if (const toml::node* masters = t.get("unicast-masters")) {
    const toml::array* list = masters->as_array();
    if (!list) {
      problems.add(masters, std::string("'unicast-masters' must be an array of addresses, each ") +
                                address_kind(transport));
    } else {
      for (const toml::node& node : *list) {
        auto text = node.value_exact<std::string>();
        if (!text || !canonical_ptp_address(transport, *text)) {
          problems.add(&node, std::string("'unicast-masters' over transport \"") + to_string(transport) +
                                  "\" holds addresses, each " + address_kind(transport));
        } else {
          ptp.unicast_masters.push_back(*text);
        }
      }
    }
  }
  if (auto v = get<std::string>(t, "timescale", "a string", problems)) {
    if (*v == "auto" || *v == "tai" || *v == "utc") {
      ptp.timescale = *v;
    } else {
      problems.add(t.get("timescale"),
                   "'timescale' is \"auto\" (the master's PTP timescale flag decides), \"tai\" or \"utc\"");
    }
  }
  if (auto v = read_number(t, "max-error", 0, 1, problems)) ptp.max_error = *v;
  if (auto v = get<bool>(t, "prefer", "true or false", problems)) ptp.prefer = *v;
  if (auto v = get<bool>(t, "require-agreement", "true or false", problems)) ptp.require_agreement = *v;
  if (auto v = get<std::string>(t, "name", "a string", problems)) {
    if (v->empty()) {
      problems.add(t.get("name"), "'name' must not be empty");
    } else {
      ptp.name = *v;
    }
  }
  if (ptp.name.empty()) ptp.name = "ptp:" + ptp.interface;
  for (const auto& other : config.ptp) {
    if (other.name == ptp.name) problems.add(ptp.line, "[[ptp]] '" + ptp.name + "' is configured twice (give each a 'name')");
    if (other.interface == ptp.interface && other.domain == ptp.domain && other.transport == ptp.transport &&
        !ptp.interface.empty()) {
      problems.add(ptp.line, "[[ptp]] on " + ptp.interface + " in domain " + std::to_string(ptp.domain) + " over " +
                                 ptp.transport +
                                 " is configured twice: one port per NIC, domain and transport (they would share "
                                 "its ports)");
    }
  }
  config.ptp.push_back(std::move(ptp));
}

// [clock.system]
void read_clock(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"system"}, "[clock]", problems);
  const toml::node* node = t.get("system");
  if (!node) return;
  const toml::table* sys = node->as_table();
  if (!sys) {
    problems.add(node, "'system' must be a table: [clock.system]");
    return;
  }
  SystemClockConfig& c = config.system_clock;
  reject_unknown_keys(*sys,
                      {"follow", "step", "step-threshold", "panic-threshold", "min-sources", "max-distance",
                       "max-drift", "max-slew", "leap-seconds-list"},
                      "[clock.system]", problems);
  if (auto v = get<std::string>(*sys, "follow", "a string (an [[interface]] name)", problems)) c.follow = *v;
  if (auto v = get<std::string>(*sys, "step", "a string", problems)) {
    if (*v == "start-only" || *v == "always" || *v == "never") {
      c.step = *v;
    } else {
      problems.add(sys->get("step"), "'step' is \"start-only\", \"always\" or \"never\"");
    }
  }
  if (auto v = read_number(*sys, "step-threshold", 1e-6, 1000, problems)) c.step_threshold = *v;
  if (auto v = read_number(*sys, "panic-threshold", 0, 1e9, problems)) c.panic_threshold = *v;
  if (auto v = read_int(*sys, "min-sources", 1, 64, problems)) c.min_sources = static_cast<std::size_t>(*v);
  if (auto v = read_number(*sys, "max-distance", kMinMaxDistance, kMaxMaxDistance, problems)) c.max_distance = *v;
  // ppm, as chrony's maxdrift; up to the 10 % the kernel's tick reaches.
  if (auto v = read_number(*sys, "max-drift", 1, 100000, problems)) c.max_drift_ppm = *v;
  if (auto v = read_number(*sys, "max-slew", 1e-6, 0.1, problems)) c.max_slew = *v;
  if (auto v = get<std::string>(*sys, "leap-seconds-list", "a string (a path, or \"\" for none)", problems)) {
    if (!v->empty() && v->front() != '/') {
      problems.add(sys->get("leap-seconds-list"), "'leap-seconds-list' is an absolute path, or \"\" for none");
    } else {
      c.leap_seconds_list = *v;
    }
  }
}

// [control]
void read_control(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  ControlConfig& c = config.control;
  c.line = t.source().begin.line;
  reject_unknown_keys(t, {"enabled", "socket", "group", "mode"}, "[control]", problems);
  if (auto v = get<bool>(t, "enabled", "true or false", problems)) c.enabled = *v;
  if (auto v = get<std::string>(t, "socket", "a string", problems)) {
    // sun_path holds 108 bytes with the terminating zero.
    if (v->empty() || v->front() != '/' || v->back() == '/' || v->size() > 107) {
      problems.add(t.get("socket"), "'socket' must be an absolute file path of at most 107 bytes");
    } else {
      c.socket = *v;
    }
  }
  if (auto v = get<std::string>(t, "group", "a string", problems)) {
    const bool valid = !v->empty() && v->size() <= 32 && v->front() != '-' &&
                       std::all_of(v->begin(), v->end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
                       });
    if (valid) {
      c.group = *v;
    } else {
      problems.add(t.get("group"), "'group' must be a group name (letters, digits, '_', '-', '.')");
    }
  }
  if (auto v = get<std::string>(t, "mode", "a string of octal digits, like \"0660\"", problems)) {
    // The owner (the daemon) keeps read and write: it probes the socket for a running daemon.
    const bool octal = v->size() >= 3 && v->size() <= 4 && v->find_first_not_of("01234567") == std::string::npos;
    const unsigned long mode = octal ? std::stoul(*v, nullptr, 8) : 0;
    if (!octal || mode > 0777 || (mode & 0600) != 0600) {
      problems.add(t.get("mode"), "'mode' must be octal permission bits up to \"0777\" with owner read and write, "
                                  "like \"0660\"");
    } else {
      c.mode = static_cast<std::uint32_t>(mode);
    }
  }
}

// [shm]
void read_shm(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"enabled", "path", "max-drift"}, "[shm]", problems);
  ShmConfig& c = config.shm;
  if (auto v = get<bool>(t, "enabled", "true or false", problems)) c.enabled = *v;
  if (auto v = get<std::string>(t, "path", "a string", problems)) {
    if (v->size() < 2 || v->front() != '/' || v->back() == '/') {
      problems.add(t.get("path"), "'path' must be an absolute file path");
    } else {
      c.path = *v;
    }
  }
  if (auto v = read_number(t, "max-drift", 0, 1e-3, problems)) c.max_drift = *v;
}

// [metrics]
void read_metrics(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"listen"}, "[metrics]", problems);
  MetricsConfig m;
  m.line = t.source().begin.line;
  const toml::node* node = t.get("listen");
  if (!node) {
    problems.add(m.line, "[metrics] needs 'listen = \"address:port\"' (remove the section for no endpoint)");
    return;
  }
  auto text = node->value_exact<std::string>();
  auto split = text ? split_host_port(*text, 0) : fail("not a string");
  if (!text || !split || split->second == 0 || split->first.empty()) {
    problems.add(node, "'listen' is one \"address:port\" string with a port above 0 ([addr]:port for IPv6)");
    return;
  }
  m.listen = *text;
  config.metrics = std::move(m);
}

// [evidence]
void read_evidence(const toml::table& t, DaemonConfig& config, TomlProblems& problems) {
  reject_unknown_keys(t, {"enabled", "path", "interval", "retain-days", "tiers"}, "[evidence]", problems);
  EvidenceConfig e;
  e.line = t.source().begin.line;
  if (auto v = get<bool>(t, "enabled", "true or false", problems)) e.enabled = *v;
  if (auto v = get<std::string>(t, "path", "a string", problems)) {
    if (v->size() < 2 || v->front() != '/') {
      problems.add(t.get("path"), "'path' must be an absolute directory path");
    } else {
      e.path = *v;
    }
  }
  // Whole milliseconds: the records' times are kept to the ms.
  if (auto v = read_number(t, "interval", 0.01, 3600, problems)) {
    if (std::abs(*v * 1000 - std::round(*v * 1000)) > 1e-6) {
      problems.add(t.get("interval"), "'interval' must be a whole number of milliseconds (like 1 or 0.25)");
    } else {
      e.interval = *v;
    }
  }
  if (auto v = read_int(t, "retain-days", 0, 36500, problems)) e.retain_days = static_cast<int>(*v);
  if (const toml::node* node = t.get("tiers")) {
    const toml::array* list = node->as_array();
    std::vector<double> tiers;
    bool ok = list != nullptr;
    if (list) {
      for (const toml::node& item : *list) {
        std::optional<double> v = toml_number(item);
        if (!v || !NumberRange{.low = 1e-9, .high = 1000}.contains(*v) || (!tiers.empty() && *v <= tiers.back())) {
          ok = false;
          break;
        }
        tiers.push_back(*v);
      }
    }
    if (!ok) {
      problems.add(node, "'tiers' must be a list of ascending seconds between 1e-9 and 1000, like [100e-6, 1e-3]");
    } else {
      e.tiers = std::move(tiers);
    }
  }
  config.evidence = std::move(e);
}

// A [section] that must be a table; calls read when it is.
template <class Reader>
void read_section(const toml::table& root, std::string_view name, Reader read, DaemonConfig& config,
                  TomlProblems& problems) {
  const toml::node* node = root.get(name);
  if (!node) return;
  if (const toml::table* t = node->as_table()) {
    read(*t, config, problems);
  } else {
    problems.add(node, "'" + std::string(name) + "' must be a table: [" + std::string(name) + "]");
  }
}

}  // namespace

Result<DaemonConfig> parse_config(std::string_view text, std::string_view origin) {
  TomlProblems problems(origin, TomlProblems::Style::kCompiler);
  std::optional<toml::table> parsed = parse_toml(text, origin, problems);
  if (!parsed) return fail(problems.text());
  const toml::table& root = *parsed;

  DaemonConfig config;
  reject_unknown_keys(root,
                      {"daemon", "logging", "source", "server", "nts-ke-server", "interface", "refclock", "ptp", "clock",
                       "control", "shm", "metrics", "evidence"},
                      "the top level", problems);
  read_section(root, "daemon", read_daemon, config, problems);
  read_section(root, "logging", read_logging, config, problems);
  read_section(root, "clock", read_clock, config, problems);
  read_section(root, "control", read_control, config, problems);
  read_section(root, "shm", read_shm, config, problems);
  read_section(root, "metrics", read_metrics, config, problems);
  read_section(root, "evidence", read_evidence, config, problems);
  if (const toml::node* interfaces = root.get("interface")) {
    const toml::array* list = interfaces->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems.add(interfaces, "interfaces are written as [[interface]] tables");
    } else {
      for (const toml::node& node : *list) read_interface(*node.as_table(), config, problems);
    }
  }
  if (const auto& follow = config.system_clock.follow) {
    const InterfaceConfig* iface = config.interface(*follow);
    const toml::node* at = root.at_path("clock.system.follow").node();
    if (!iface) {
      problems.add(at, "[clock.system] follows '" + *follow + "', which is not an [[interface]]");
    } else if (!iface->discipline_phc) {
      problems.add(at, "[clock.system] follows '" + *follow +
                           "', whose PHC is not disciplined: set discipline-phc = true on that interface, or, "
                           "if another daemon (ptp4l) disciplines it, read it as a reference instead: "
                           "[[refclock]] interface = \"" + *follow + "\" (and no follow)");
    }
  } else {
    // Samples through a disciplining NIC are in its PHC's time: without following a PHC the
    // system clock would get none of them.
    for (const InterfaceConfig& iface : config.interfaces) {
      if (iface.discipline_phc) {
        problems.add(iface.line, "[[interface]] " + iface.name +
                                     " disciplines its PHC, so NTP through it is measured in PHC time: set "
                                     "[clock.system] follow = \"" + iface.name + "\" (the system clock follows that PHC)");
        break;
      }
    }
  }
  if (const toml::node* refclocks = root.get("refclock")) {
    const toml::array* list = refclocks->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems.add(refclocks, "reference clocks are written as [[refclock]] tables");
    } else {
      for (const toml::node& node : *list) read_refclock(*node.as_table(), config, problems);
    }
  }
  if (const toml::node* ports = root.get("ptp")) {
    const toml::array* list = ports->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems.add(ports, "PTP ports are written as [[ptp]] tables");
    } else {
      for (const toml::node& node : *list) read_ptp(*node.as_table(), config, problems);
    }
  }
  // A port with kernel stamps measures the system clock, which then takes no sources of its own;
  // with the NIC's stamps it measures that PHC, which kairosd disciplines (ptp4l + phc2sys's roles).
  for (const PtpConfig& port : config.ptp) {
    if (!config.system_clock.follow) break;
    const auto nic = std::find_if(config.interfaces.begin(), config.interfaces.end(),
                                  [&](const InterfaceConfig& i) { return i.name == port.interface; });
    if (nic == config.interfaces.end() || !nic->discipline_phc || nic->hw_timestamping == HwTimestampingMode::kOff) {
      problems.add(port.line, "[[ptp]] on " + (port.interface.empty() ? std::string("no interface") : port.interface) +
                                  ": the system clock follows a PHC ([clock.system] follow), so the port must discipline "
                                  "its NIC's PHC with hardware stamps: an [[interface]] of that name with "
                                  "discipline-phc = true");
    }
  }
  if (config.system_clock.follow && !config.refclocks.empty()) {
    problems.add(config.refclocks.front().line,
                 "[[refclock]] is a source of the system clock, which follows a PHC ([clock.system] follow): use "
                 "one or the other");
  }
  read_section(root, "server", read_server, config, problems);
  read_section(root, "nts-ke-server", read_ke_server, config, problems);
  if (const toml::node* sources = root.get("source")) {
    const toml::array* list = sources->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems.add(sources, "sources are written as [[source]] tables");
    } else {
      for (const toml::node& node : *list) read_source(*node.as_table(), config, problems);
    }
  }
  if (config.sources.empty() && config.refclocks.empty() && config.ptp.empty() && !config.server && problems.empty()) {
    problems.add(std::size_t{0}, "nothing to do: no [[source]], no [[refclock]], no [[ptp]] and no [server] configured");
  }
  // Only NTS sources can confirm a reference (clock/agreement_guard.hpp).
  const bool any_nts = std::any_of(config.sources.begin(), config.sources.end(), [](const SourceConfig& c) { return c.nts; });
  for (const RefclockConfig& ref : config.refclocks) {
    if (ref.require_agreement && !any_nts) {
      problems.add(ref.line, "[[refclock]] '" + ref.name + "' has require-agreement, but no [[source]] uses NTS: "
                             "nothing could ever confirm it");
    }
    for (const SourceConfig& c : config.sources) {
      if (source_name(c) == ref.name) problems.add(ref.line, "[[refclock]] '" + ref.name + "' has a [[source]]'s name");
    }
  }
  for (const PtpConfig& ptp : config.ptp) {
    if (ptp.require_agreement && !any_nts) {
      problems.add(ptp.line, "[[ptp]] '" + ptp.name + "' has require-agreement, but no [[source]] uses NTS: "
                             "nothing could ever confirm it");
    }
    for (const SourceConfig& c : config.sources) {
      if (source_name(c) == ptp.name) problems.add(ptp.line, "[[ptp]] '" + ptp.name + "' has a [[source]]'s name");
    }
    for (const RefclockConfig& ref : config.refclocks) {
      if (ref.name == ptp.name) problems.add(ptp.line, "[[ptp]] '" + ptp.name + "' has a [[refclock]]'s name");
    }
  }
  if (config.ke_server && config.server) {
    const toml::table* server = root.get("server")->as_table();
    for (const char* key : {"key-seed", "key-rotation-interval", "old-keys"}) {
      if (server->get(key)) {
        problems.add(server->get(key), std::string("'") + key + "' belongs in [nts-ke-server] when there is one "
                                       "(the local NTP server uses its keys)");
      }
    }
  }
  if (config.ke_server && !config.server && !config.ke_server->ntp_server && problems.empty()) {
    // Cookies are only useful to an NTP server that shares the master keys: here, or named.
    problems.add(config.ke_server->line,
                 "[nts-ke-server] without a local [server] needs 'ntp-server' (and usually 'key-seed') "
                 "naming the NTP servers that share its keys");
  }
  if (!problems.empty()) return fail(problems.text());
  return config;
}

Result<DaemonConfig> load_config(const std::string& path) {
  auto bytes = read_file_bounded(path, 1 << 20);
  if (!bytes) return std::unexpected(bytes.error());
  return parse_config(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), path);
}

std::string source_name(const SourceConfig& source) {
  return source.pool_member == 0 ? source.address : source.address + "#" + std::to_string(source.pool_member);
}

}  // namespace kairos
