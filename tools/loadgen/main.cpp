// kairos-loadgen: drives an NTP/NTS server or an NTS-KE server with measured load, for the
// server benchmark (scripts/bench_server.sh). Loopback labs only: it sends as fast as asked.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/ke_fetch.hpp"
#include "daemon/net.hpp"
#include "ke_load.hpp"
#include "ntp_load.hpp"
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
  bool json = false;
};

struct KeCommand {
  std::string server;
  std::string ca;
  std::vector<std::uint16_t> aeads{17, 16, 15};
  std::size_t concurrency = 8;
  double duration = 3.0;
  double timeout = 5.0;
  bool json = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kairos-loadgen: %s\n", message.c_str());
  return 2;
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
                         .drain = std::chrono::milliseconds(static_cast<long>(cmd.drain * 1000))};
  auto report = run_ntp_load(options, *requests);
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
  out["sent"] = r.sent;
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
  KeLoadOptions options{.fetch = fetch_options(target->first, target->second, cmd.ca, cmd.aeads, cmd.timeout),
                        .concurrency = cmd.concurrency, .duration = cmd.duration};
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

}  // namespace
}  // namespace kairos

int main(int argc, char** argv) {
  CLI::App app{"kairos-loadgen — NTP, NTS and NTS-KE load for server benchmarks (loopback labs only)"};
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
  n->add_flag("--json", ntp.json, "Print a JSON object");

  kairos::KeCommand ke;
  auto* k = app.add_subcommand("ke", "Back-to-back NTS-KE exchanges, --concurrency at a time");
  k->add_option("--server", ke.server, "NTS-KE server HOST:PORT")->required();
  k->add_option("--ca", ke.ca, "CA certificate(s) trusted (PEM)")->required()->check(CLI::ExistingFile);
  k->add_option("--aead", ke.aeads, "AEAD algorithms to offer, in order (15, 16, 17)")->delimiter(',');
  k->add_option("--concurrency", ke.concurrency, "Exchanges in flight")->check(CLI::Range(1, 1000));
  k->add_option("--duration", ke.duration, "Seconds during which exchanges start")->check(CLI::Range(0.01, 3600.0));
  k->add_option("--timeout", ke.timeout, "Seconds one exchange may take")->check(CLI::Range(0.05, 60.0));
  k->add_flag("--json", ke.json, "Print a JSON object");

  CLI11_PARSE(app, argc, argv);
  if (n->parsed()) return kairos::run_ntp(ntp);
  if (k->parsed()) return kairos::run_ke(ke);
  return 2;
}
