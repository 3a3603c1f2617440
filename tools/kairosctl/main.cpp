// kairosctl: talk to kairosd and measure time servers.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "control.hpp"
#include "query.hpp"
#include "report.hpp"

int main(int argc, char** argv) {
  CLI::App app{"kairosctl — status and queries for the kairos time daemon"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kairosctl ") + KAIROS_VERSION);
  // `kairosctl --socket PATH status` as well as `kairosctl status --socket PATH` (that one wins).
  std::string socket_before;
  auto* socket_option = app.add_option("--socket", socket_before, "kairosd's control socket (for every command)");

  kairos::QueryOptions query;
  bool no_nts = false;
  bool nts = false;
  bool no_system_trust = false;
  auto* q = app.add_subcommand("query", "Measure a server once (NTS by default)");
  q->add_option("server", query.target, "HOST[:PORT]: NTS-KE port (default 4460), or NTP port with --no-nts")
      ->required();
  q->add_flag("--nts", nts, "Use NTS (the default)");
  q->add_flag("--no-nts", no_nts, "Plain unauthenticated NTP");
  q->add_option("--ca", query.ca_file, "Extra trusted CA certificates (PEM)")->check(CLI::ExistingFile);
  q->add_flag("--no-system-ca", no_system_trust, "Trust only --ca, not the system store");
  q->add_option("-c,--count", query.count, "Number of samples")->check(CLI::Range(1, 1000));
  q->add_option("--timeout", query.timeout_seconds, "Seconds to wait for each step")->check(CLI::Range(0.05, 60.0));
  q->add_option("--interval", query.interval_seconds, "Seconds between samples")->check(CLI::Range(0.0, 3600.0));
  q->add_option("--aead", query.aeads, "AEAD algorithms to offer, in order (15, 16, 17)")->delimiter(',');
  q->add_flag("--json", query.json, "Print a JSON object");

  // Commands answered by a running kairosd over its control socket.
  kairos::ControlOptions control;
  std::vector<CLI::Option*> socket_after;
  const auto add_control_options = [&control, &socket_after](CLI::App* command) {
    command->add_flag("--json", control.json, "Print kairosd's JSON answer");
    socket_after.push_back(command->add_option("--socket", control.socket, "kairosd's control socket")->capture_default_str());
  };
  std::vector<std::pair<std::string, CLI::App*>> asks;
  for (const auto& [name, help] : {std::pair{"status", "The system clock: state, offset and error bound"},
                                   std::pair{"sources", "Each source: reach, poll, last sample, NTS state"},
                                   std::pair{"clocks", "Every clock kairosd disciplines"},
                                   std::pair{"server", "What kairosd's NTP and NTS-KE servers have done"}}) {
    CLI::App* command = app.add_subcommand(name, help);
    add_control_options(command);
    asks.emplace_back(name, command);
  }
  kairos::WaitsyncOptions wait;
  auto* w = app.add_subcommand("waitsync", "Wait until the system clock is synchronized (exit 0), "
                                           "1 on timeout, 2 if kairosd is unreachable");
  add_control_options(w);
  w->add_option("--max-error", wait.max_error, "Largest error bound accepted, seconds (0: any)")
      ->check(CLI::Range(0.0, 1e6));
  w->add_option("--timeout", wait.timeout, "Seconds to wait in all")->capture_default_str()->check(CLI::Range(0.0, 1e7));
  w->add_option("--interval", wait.interval, "Seconds between tries")->capture_default_str()->check(CLI::Range(0.01, 3600.0));

  kairos::ReportCommandOptions report;
  auto* r = app.add_subcommand("report", "Compliance report from an evidence log directory (no daemon needed); "
                                         "exit 1 when its hash chain is broken");
  r->add_option("--dir", report.dir, "The evidence directory ([evidence] path)")->capture_default_str();
  r->add_option("--from", report.from, "Start: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds (default: the log's start)");
  r->add_option("--to", report.to, "End, excluded (default: the log's end)");
  r->add_option("--tier", report.tiers, "A tier like 100us, 1ms, 50ms (repeat for more; default 100us and 1ms)");
  r->add_option("--format", report.format, "text, json or html")
      ->check(CLI::IsMember({"text", "json", "html"}))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  const bool socket_given_after =
      std::any_of(socket_after.begin(), socket_after.end(), [](const CLI::Option* o) { return o->count() > 0; });
  if (socket_option->count() > 0 && !socket_given_after) control.socket = socket_before;
  if (nts && no_nts) {
    std::fprintf(stderr, "kairosctl: --nts and --no-nts exclude each other\n");
    return 2;
  }
  query.nts = !no_nts;
  query.system_trust = !no_system_trust;
  if (q->parsed()) return kairos::run_query(query);
  for (const auto& [name, command] : asks) {
    if (command->parsed()) return kairos::run_control(name, control);
  }
  if (w->parsed()) return kairos::run_waitsync(control, wait);
  if (r->parsed()) return kairos::run_report(report);
  return 2;
}
