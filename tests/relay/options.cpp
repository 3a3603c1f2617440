#include "options.hpp"

#include <CLI/CLI.hpp>
#include <map>

namespace kairos::relay {

void add_options(CLI::App& app, Options& o) {
  Impairments& i = o.impairments;
  app.add_option("--udp-listen", o.udp_listen, "host:port to receive NTP requests on");
  app.add_option("--udp-upstream", o.udp_upstream, "host:port of the NTP server")->needs("--udp-listen");
  app.add_option("--tcp-listen", o.tcp_listen, "host:port to accept NTS-KE connections on");
  app.add_option("--tcp-upstream", o.tcp_upstream, "host:port of the NTS-KE server")->needs("--tcp-listen");
  app.get_option("--udp-listen")->needs("--udp-upstream");
  app.get_option("--tcp-listen")->needs("--tcp-upstream");
  const auto probability = CLI::Range(0.0, 1.0);
  app.add_option("--loss", i.loss, "Probability that a datagram is dropped")->check(probability);
  app.add_option("--delay", i.delay, "Seconds every datagram is held back")->check(CLI::Range(0.0, 10.0));
  app.add_option("--jitter", i.jitter, "Seconds the delay varies by, either way")->check(CLI::Range(0.0, 10.0));
  app.add_option("--reorder", i.reorder, "Probability that a datagram is overtaken by later ones")->check(probability);
  app.add_option("--duplicate", i.duplicate, "Probability that a datagram is sent twice")->check(probability);
  app.add_option("--corrupt", i.corrupt, "Probability that one random byte is flipped")->check(probability);
  app.add_option("--truncate", i.truncate, "Probability that a datagram is cut short")->check(probability);
  app.add_option("--replay", i.replay, "Probability that an older datagram is sent again later")->check(probability);
  app.add_option("--offset", i.offset,
                 "Seconds added to the receive and transmit timestamps of NTP responses (a lying server)")
      ->check(CLI::Range(-1e6, 1e6));
  const std::map<std::string, int> leaps{{"none", 0}, {"insert", 1}, {"delete", 2}};
  app.add_option("--leap", i.leap, "Leap second the NTP responses announce: none, insert or delete")
      ->transform(CLI::CheckedTransformer(leaps, CLI::ignore_case));
  app.add_option("--offset-from", i.offset_from,
                 "Responses relayed honestly before --offset applies: the served time steps then");
  const std::map<std::string, Affected> affected{
      {"both", Affected::kBoth}, {"requests", Affected::kRequests}, {"responses", Affected::kResponses}};
  app.add_option("--affect", i.affected, "Datagrams the impairments touch: both, requests or responses")
      ->transform(CLI::CheckedTransformer(affected, CLI::ignore_case));
  app.add_option("--seed", o.seed, "Seed of the random decisions: the same seed, the same decisions");
}

}  // namespace kairos::relay
