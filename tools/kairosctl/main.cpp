// kairosctl: talk to kairosd and measure time servers.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "query.hpp"

int main(int argc, char** argv) {
  CLI::App app{"kairosctl — status and queries for the kairos time daemon"};
  app.require_subcommand(1);

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

  CLI11_PARSE(app, argc, argv);
  if (nts && no_nts) {
    std::fprintf(stderr, "kairosctl: --nts and --no-nts exclude each other\n");
    return 2;
  }
  query.nts = !no_nts;
  query.system_trust = !no_system_trust;
  if (q->parsed()) return kairos::run_query(query);
  return 2;
}
