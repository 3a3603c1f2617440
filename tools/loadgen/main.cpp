// kairos-loadgen: drives an NTP/NTS server or an NTS-KE server with measured load, for the
// server benchmark (scripts/bench_server.sh), and floods them, for the hardening tests
// (tests/hardening/floods.sh). Loopback labs only: it sends as fast as asked.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/client/ke_fetch.hpp"
#include "daemon/client/net.hpp"
#include "hold_load.hpp"
#include "ke_load.hpp"
#include "ntp_load.hpp"
#include "ntpperf_key.hpp"
#include "request_set.hpp"

namespace kairos {
namespace {

using Json = nlohmann::ordered_json;

struct NtpCommand {
  std::string server;
  double rate = 10000;
  double duration = 2.0;
  std::size_t sockets = 64;
  std::size_t batch = 32;
  bool no_gso = false;
  std::size_t requests = 4096;  // distinct plain requests; NTS: per_cookie × cookies
  bool nts = false;
  std::string ke;
  std::string ca;
  std::vector<std::uint16_t> aeads{17, 16, 15};
  std::size_t ke_exchanges = 8;
  std::size_t per_cookie = 64;
  std::size_t verify_every = 64;
  double drain = 0.2;
  std::vector<std::string> bind;
  double junk = 0;
  bool json = false;
};

struct KeCommand {
  std::string server;
  std::string ca;
  std::vector<std::uint16_t> aeads{17, 16, 15};
  std::size_t concurrency = 8;
  double duration = 3.0;
  double timeout = 5.0;
  std::vector<std::string> bind;
  bool json = false;
};

struct CookieCommand {
  std::string server;
  std::string ca;
  std::vector<std::uint16_t> aeads{15};
};

struct HoldCommand {
  std::string server;
  std::vector<std::string> bind;
  std::size_t connections = 100;
  double rate = 100;
  double duration = 10;
  double trickle = 0;
  std::size_t garbage = 0;
  bool json = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kairos-loadgen: %s\n", message.c_str());
  return 2;
}

// --bind: addresses (no port) to send from, each resolved to one socket address of port 0.
Result<std::vector<SocketAddress>> source_addresses(const std::vector<std::string>& names, int socktype) {
  std::vector<SocketAddress> out;
  for (const std::string& name : names) {
    auto resolved = resolve(name, 0, socktype);
    if (!resolved) return fail("--bind " + name + ": " + resolved.error().message);
    out.push_back(resolved->front());
  }
  return out;
}

Json address_list(const std::vector<SocketAddress>& addresses) {
  Json out = Json::array();
  for (const SocketAddress& a : addresses) out.push_back(a.to_string());
  return out;
}

KeFetchOptions fetch_options(const std::string& host, std::uint16_t port, const std::string& ca,
                             const std::vector<std::uint16_t>& aeads, double timeout) {
  // Only the given CA: loading the system store for every exchange would cost the generator
  // more CPU than the handshake itself.
  return {.host = host, .port = port, .ca_file = ca, .system_trust = false, .aeads = aeads,
          .timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000))};
}

int run_ntp(const NtpCommand& cmd) {
  auto target = split_host_port(cmd.server, kNtpDefaultPort);
  if (!target) return usage_error(target.error().message);
  auto addresses = resolve(target->first, target->second, SOCK_DGRAM);
  if (!addresses) return usage_error(addresses.error().message);
  auto sources = source_addresses(cmd.bind, SOCK_DGRAM);
  if (!sources) return usage_error(sources.error().message);

  const RandomFill random = system_random();
  Json out;
  out["mode"] = cmd.nts ? "nts" : "plain";
  out["server"] = addresses->front().to_string();
  std::optional<RequestSet> requests;
  if (cmd.nts) {
    if (cmd.ke.empty() || cmd.ca.empty()) return usage_error("--nts needs --ke HOST:PORT and --ca FILE");
    auto ke_target = split_host_port(cmd.ke, kNtsKeDefaultPort);
    if (!ke_target) return usage_error(ke_target.error().message);
    // Cookies from real NTS-KE exchanges, each with its own keys.
    std::vector<KeClientResult> sessions;
    for (std::size_t i = 0; i < cmd.ke_exchanges; ++i) {
      auto result = fetch_nts_ke(fetch_options(ke_target->first, ke_target->second, cmd.ca, cmd.aeads, 5.0));
      if (!result) {
        std::fprintf(stderr, "kairos-loadgen: NTS-KE with %s failed: %s\n", cmd.ke.c_str(), result.error().message.c_str());
        return 1;
      }
      sessions.push_back(std::move(*result));
    }
    std::size_t cookies = 0;
    for (const auto& s : sessions) cookies += s.cookies.size();
    out["aead"] = sessions.front().keys.aead_id();
    out["ke_exchanges"] = sessions.size();
    out["cookies"] = cookies;
    out["cookie_length"] = sessions.front().cookies.empty() ? 0 : sessions.front().cookies.front().size();
    auto built = RequestSet::nts(sessions, cmd.per_cookie, cmd.verify_every, random);
    if (!built) return usage_error(built.error().message);
    requests.emplace(std::move(*built));
  } else {
    requests.emplace(RequestSet::plain(cmd.requests, random));
  }
  out["request_length"] = requests->request(0).size();

  NtpLoadOptions options{.server = addresses->front(), .rate = cmd.rate, .duration = cmd.duration,
                         .sockets = cmd.sockets, .batch = cmd.batch, .gso = !cmd.no_gso,
                         .drain = std::chrono::milliseconds(static_cast<long>(cmd.drain * 1000)),
                         .tick = std::chrono::microseconds(100), .bind = *sources, .junk = cmd.junk};
  // A few hundred datagrams of every kind, reused round-robin like the requests.
  JunkSet junk(cmd.junk > 0 ? 64 * kJunkKindCount : 0, random);
  auto report = run_ntp_load(options, *requests, &junk);
  if (!report) {
    std::fprintf(stderr, "kairos-loadgen: %s\n", report.error().message.c_str());
    return 1;
  }
  const NtpLoadReport& r = *report;
  out["target_rate"] = cmd.rate;
  out["duration"] = cmd.duration;
  out["sockets"] = cmd.sockets;
  out["gso"] = r.gso;
  out["planned"] = r.planned;
  out["bind"] = address_list(*sources);
  out["sent"] = r.sent;
  out["junk_fraction"] = cmd.junk;
  out["junk_sent"] = r.junk_sent;
  out["answered_junk"] = r.answered_junk;
  out["send_failed"] = r.send_failed;
  out["received"] = r.received;
  out["served"] = r.served();
  out["naks"] = r.count(Verdict::kNak);
  out["kisses"] = r.count(Verdict::kKiss);
  out["auth_failed"] = r.count(Verdict::kAuthFailed);
  out["unmatched"] = r.count(Verdict::kUnmatched);
  out["malformed"] = r.count(Verdict::kMalformed);
  out["verified"] = r.verified;
  out["client_drops"] = r.client_drops;
  out["loss_percent"] = r.loss_percent();
  out["achieved_rate"] = r.achieved_rate();
  out["served_rate"] = r.send_seconds > 0 ? static_cast<double>(r.served()) / r.send_seconds : 0.0;
  out["send_seconds"] = r.send_seconds;
  out["wall_seconds"] = r.wall_seconds;
  out["client_cpu_seconds"] = r.client_cpu_seconds;
  out["client_cpu_utilization"] = r.wall_seconds > 0 ? r.client_cpu_seconds / r.wall_seconds : 0.0;

  if (cmd.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%s load on %s: target %.0f/s for %.1f s over %zu sockets\n", cmd.nts ? "NTS" : "plain NTP",
                out["server"].get<std::string>().c_str(), cmd.rate, cmd.duration, cmd.sockets);
    std::printf("sent            %llu (%.0f/s achieved; %llu refused by the kernel)\n",
                static_cast<unsigned long long>(r.sent), r.achieved_rate(),
                static_cast<unsigned long long>(r.send_failed));
    std::printf("served          %llu valid answers\n", static_cast<unsigned long long>(r.served()));
    std::printf("loss            %.3f %%\n", r.loss_percent());
    if (cmd.junk > 0) {
      std::printf("junk            %llu sent, %llu answered (any answer is a finding)\n",
                  static_cast<unsigned long long>(r.junk_sent), static_cast<unsigned long long>(r.answered_junk));
    }
    std::printf("naks            %llu\n", static_cast<unsigned long long>(r.count(Verdict::kNak)));
    std::printf("other           %llu kisses, %llu failed authentication (of %llu checked), %llu unmatched, "
                "%llu malformed\n",
                static_cast<unsigned long long>(r.count(Verdict::kKiss)),
                static_cast<unsigned long long>(r.count(Verdict::kAuthFailed)),
                static_cast<unsigned long long>(r.verified),
                static_cast<unsigned long long>(r.count(Verdict::kUnmatched)),
                static_cast<unsigned long long>(r.count(Verdict::kMalformed)));
    std::printf("generator       %.2f CPU-s in %.2f s, %llu dropped in its own receive queues\n",
                r.client_cpu_seconds, r.wall_seconds, static_cast<unsigned long long>(r.client_drops));
  }
  return 0;
}

int run_ke(const KeCommand& cmd) {
  auto target = split_host_port(cmd.server, kNtsKeDefaultPort);
  if (!target) return usage_error(target.error().message);
  auto sources = source_addresses(cmd.bind, SOCK_STREAM);
  if (!sources) return usage_error(sources.error().message);
  KeLoadOptions options{.fetch = fetch_options(target->first, target->second, cmd.ca, cmd.aeads, cmd.timeout),
                        .concurrency = cmd.concurrency, .duration = cmd.duration, .bind = *sources};
  auto report = run_ke_load(options);
  if (!report) {
    std::fprintf(stderr, "kairos-loadgen: %s\n", report.error().message.c_str());
    return 1;
  }
  const KeLoadReport& r = *report;
  if (cmd.json) {
    Json out;
    out["mode"] = "nts-ke";
    out["server"] = cmd.server;
    out["concurrency"] = cmd.concurrency;
    out["duration"] = cmd.duration;
    out["bind"] = address_list(*sources);
    out["completed"] = r.completed;
    out["failed"] = r.failed;
    out["rate"] = r.rate();
    out["wall_seconds"] = r.wall_seconds;
    out["client_cpu_seconds"] = r.client_cpu_seconds;
    out["client_cpu_utilization"] = r.wall_seconds > 0 ? r.client_cpu_seconds / r.wall_seconds : 0.0;
    Json errors = Json::object();
    for (const auto& [message, count] : r.errors) errors[message] = count;
    out["errors"] = errors;
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("NTS-KE load on %s: %zu at a time for %.1f s\n", cmd.server.c_str(), cmd.concurrency, cmd.duration);
    std::printf("completed       %llu (%.1f/s)\n", static_cast<unsigned long long>(r.completed), r.rate());
    std::printf("failed          %llu\n", static_cast<unsigned long long>(r.failed));
    for (const auto& [message, count] : r.errors) {
      std::printf("  %6llu × %s\n", static_cast<unsigned long long>(count), message.c_str());
    }
    std::printf("generator       %.2f CPU-s in %.2f s\n", r.client_cpu_seconds, r.wall_seconds);
  }
  return r.completed > 0 ? 0 : 1;
}

// One NTS-KE exchange; prints ntpperf's -S argument (C2S key and a cookie, in hex).
int run_cookie(const CookieCommand& cmd) {
  auto target = split_host_port(cmd.server, kNtsKeDefaultPort);
  if (!target) return usage_error(target.error().message);
  auto result = fetch_nts_ke(fetch_options(target->first, target->second, cmd.ca, cmd.aeads, 5.0));
  if (!result) {
    std::fprintf(stderr, "kairos-loadgen: NTS-KE with %s failed: %s\n", cmd.server.c_str(), result.error().message.c_str());
    return 1;
  }
  const std::string argument = ntpperf_nts_argument(*result);
  if (argument.empty()) {
    std::fprintf(stderr, "kairos-loadgen: NTS-KE with %s gave no cookie\n", cmd.server.c_str());
    return 1;
  }
  std::printf("%s\n", argument.c_str());
  return 0;
}

// Each held connection is a descriptor here: the soft limit goes up to the hard one.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run_hold_command(const HoldCommand& cmd) {
  auto target = split_host_port(cmd.server, kNtsKeDefaultPort);
  if (!target) return usage_error(target.error().message);
  auto addresses = resolve(target->first, target->second, SOCK_STREAM);
  if (!addresses) return usage_error(addresses.error().message);
  auto sources = source_addresses(cmd.bind, SOCK_STREAM);
  if (!sources) return usage_error(sources.error().message);
  if (cmd.trickle > 0 && cmd.garbage > 0) return usage_error("--trickle and --garbage exclude each other");
  raise_descriptor_limit();
  const HoldOptions options{.server = addresses->front(), .bind = *sources, .connections = cmd.connections,
                            .rate = cmd.rate, .duration = cmd.duration, .trickle = cmd.trickle, .garbage = cmd.garbage};
  auto report = run_hold(options);
  if (!report) {
    std::fprintf(stderr, "kairos-loadgen: %s\n", report.error().message.c_str());
    return 1;
  }
  const HoldReport& r = *report;
  const char* mode = cmd.trickle > 0 ? "trickle" : cmd.garbage > 0 ? "garbage" : "silent";
  if (cmd.json) {
    Json out;
    out["mode"] = mode;
    out["server"] = addresses->front().to_string();
    out["bind"] = address_list(*sources);
    out["connections"] = cmd.connections;
    out["rate"] = cmd.rate;
    out["duration"] = cmd.duration;
    out["trickle"] = cmd.trickle;
    out["garbage"] = cmd.garbage;
    out["attempted"] = r.attempted;
    out["opened"] = r.opened;
    out["connect_failed"] = r.connect_failed;
    out["closed_by_server"] = r.closed_by_server;
    out["still_open"] = r.still_open;
    out["peak_open"] = r.peak_open;
    out["bytes_sent"] = r.bytes_sent;
    out["bytes_received"] = r.bytes_received;
    out["longest_lifetime"] = r.longest_lifetime;
    out["median_lifetime"] = r.median_lifetime;
    out["wall_seconds"] = r.wall_seconds;
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("held connections to %s (%s): %zu at %.0f/s for at most %.1f s\n",
                addresses->front().to_string().c_str(), mode, cmd.connections, cmd.rate, cmd.duration);
    std::printf("opened          %llu of %llu (%llu failed to connect), at most %llu at once\n",
                static_cast<unsigned long long>(r.opened), static_cast<unsigned long long>(r.attempted),
                static_cast<unsigned long long>(r.connect_failed), static_cast<unsigned long long>(r.peak_open));
    std::printf("closed          %llu by the server, %llu still open at the end\n",
                static_cast<unsigned long long>(r.closed_by_server), static_cast<unsigned long long>(r.still_open));
    std::printf("lifetime        longest %.3f s, median %.3f s\n", r.longest_lifetime, r.median_lifetime);
    std::printf("bytes           %llu sent, %llu received, in %.2f s\n", static_cast<unsigned long long>(r.bytes_sent),
                static_cast<unsigned long long>(r.bytes_received), r.wall_seconds);
  }
  return 0;
}

}  // namespace
}  // namespace kairos

int main(int argc, char** argv) {
  CLI::App app{"kairos-loadgen — NTP, NTS and NTS-KE load and floods for server benchmarks and tests (loopback labs only)"};
  app.require_subcommand(1);

  kairos::NtpCommand ntp;
  auto* n = app.add_subcommand("ntp", "Paced NTPv4 (or NTS with --nts) requests from many source ports");
  n->add_option("--server", ntp.server, "NTP server HOST:PORT")->required();
  n->add_option("--rate", ntp.rate, "Requests per second")->check(CLI::Range(1.0, 1e8));
  n->add_option("--duration", ntp.duration, "Seconds of sending")->check(CLI::Range(0.01, 3600.0));
  n->add_option("--sockets", ntp.sockets, "UDP sockets (source ports), used round-robin")->check(CLI::Range(1, 4096));
  n->add_option("--batch", ntp.batch, "Most requests per send call")->check(CLI::Range(1, 64));
  n->add_flag("--no-gso", ntp.no_gso, "One datagram per sendmmsg entry instead of UDP GSO batches");
  n->add_option("--requests", ntp.requests, "Distinct plain requests, reused round-robin")->check(CLI::Range(1, 1 << 20));
  n->add_flag("--nts", ntp.nts, "NTS requests with cookies from real NTS-KE exchanges");
  n->add_option("--ke", ntp.ke, "NTS-KE server HOST:PORT (with --nts)");
  n->add_option("--ca", ntp.ca, "CA certificate(s) trusted for NTS-KE (PEM)")->check(CLI::ExistingFile);
  n->add_option("--aead", ntp.aeads, "AEAD algorithms to offer, in order (15, 16, 17)")->delimiter(',');
  n->add_option("--ke-exchanges", ntp.ke_exchanges, "NTS-KE exchanges for the cookie pool")->check(CLI::Range(1, 1024));
  n->add_option("--per-cookie", ntp.per_cookie, "Sealed requests per cookie")->check(CLI::Range(1, 4096));
  n->add_option("--verify-every", ntp.verify_every, "Check every Nth NTS answer with the S2C key")->check(CLI::Range(1, 1 << 20));
  n->add_option("--drain", ntp.drain, "Seconds of receiving after the last send")->check(CLI::Range(0.0, 10.0));
  n->add_option("--bind", ntp.bind, "Source addresses, used round-robin over the sockets")->delimiter(',');
  n->add_option("--junk", ntp.junk, "Fraction of datagrams that are malformed or oversize")->check(CLI::Range(0.0, 1.0));
  n->add_flag("--json", ntp.json, "Print a JSON object");

  kairos::KeCommand ke;
  auto* k = app.add_subcommand("ke", "Back-to-back NTS-KE exchanges, --concurrency at a time");
  k->add_option("--server", ke.server, "NTS-KE server HOST:PORT")->required();
  k->add_option("--ca", ke.ca, "CA certificate(s) trusted (PEM)")->required()->check(CLI::ExistingFile);
  k->add_option("--aead", ke.aeads, "AEAD algorithms to offer, in order (15, 16, 17)")->delimiter(',');
  k->add_option("--concurrency", ke.concurrency, "Exchanges in flight")->check(CLI::Range(1, 1000));
  k->add_option("--duration", ke.duration, "Seconds during which exchanges start")->check(CLI::Range(0.01, 3600.0));
  k->add_option("--timeout", ke.timeout, "Seconds one exchange may take")->check(CLI::Range(0.05, 60.0));
  k->add_option("--bind", ke.bind, "Source addresses, used round-robin over the exchanges")->delimiter(',');
  k->add_flag("--json", ke.json, "Print a JSON object");

  kairos::CookieCommand cookie;
  auto* c = app.add_subcommand("cookie", "One NTS-KE exchange; prints C2SKEY,COOKIE in hex (ntpperf's -S)");
  c->add_option("--server", cookie.server, "NTS-KE server HOST:PORT")->required();
  c->add_option("--ca", cookie.ca, "CA certificate(s) trusted (PEM)")->required()->check(CLI::ExistingFile);
  c->add_option("--aead", cookie.aeads, "AEAD algorithms to offer, in order (ntpperf knows 15 only)")->delimiter(',');

  kairos::HoldCommand hold;
  auto* h = app.add_subcommand("hold", "Connections held open against an NTS-KE server (connection flood, slowloris)");
  h->add_option("--server", hold.server, "NTS-KE server HOST:PORT")->required();
  h->add_option("--bind", hold.bind, "Source addresses, used round-robin over the connections")->delimiter(',');
  h->add_option("--connections", hold.connections, "Connections to open")->check(CLI::Range(1, 100000));
  h->add_option("--rate", hold.rate, "Connections opened per second")->check(CLI::Range(0.01, 1e6));
  h->add_option("--duration", hold.duration, "Seconds the run may take at most")->check(CLI::Range(0.01, 3600.0));
  h->add_option("--trickle", hold.trickle, "Send one byte every this many seconds (slowloris)")->check(CLI::Range(0.001, 3600.0));
  h->add_option("--garbage", hold.garbage, "Send this many random bytes once connected")->check(CLI::Range(1, 1 << 20));
  h->add_flag("--json", hold.json, "Print a JSON object");

  CLI11_PARSE(app, argc, argv);
  if (n->parsed()) return kairos::run_ntp(ntp);
  if (k->parsed()) return kairos::run_ke(ke);
  if (h->parsed()) return kairos::run_hold_command(hold);
  if (c->parsed()) return kairos::run_cookie(cookie);
  return 2;
}
