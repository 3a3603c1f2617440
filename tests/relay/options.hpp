#pragma once
// What kairos-relay is told on its command line: where to listen, where to relay to, and how
// badly to treat the datagrams on the way.
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace kairos::relay {

// Which datagrams the impairments touch. The --offset lie always applies to responses only.
enum class Affected { kBoth, kRequests, kResponses };

// Probabilities are per datagram, in [0, 1]; times are seconds.
struct Impairments {
  double loss = 0;
  double delay = 0;
  double jitter = 0;     // the delay is uniform in [delay - jitter, delay + jitter], never below 0
  double reorder = 0;    // held back long enough for later datagrams to overtake it
  double duplicate = 0;  // sent twice
  double corrupt = 0;    // one random byte flipped
  double truncate = 0;   // cut to a random shorter length
  double replay = 0;     // an older datagram of the same direction sent again, later
  double offset = 0;     // added to the receive and transmit timestamps of NTP responses
  std::uint64_t offset_from = 0;  // responses relayed honestly before the lie starts (a step)
  int leap = -1;  // leap indicator written into NTP responses (1 insert, 2 delete); -1 untouched
  Affected affected = Affected::kBoth;
};

struct Options {
  std::string udp_listen;  // host:port, empty for no UDP relay
  std::string udp_upstream;
  std::string tcp_listen;  // host:port, empty for no TCP relay
  std::string tcp_upstream;
  Impairments impairments;
  std::uint64_t seed = 1;
};

// Declares every option on app, writing into options.
void add_options(CLI::App& app, Options& options);

}  // namespace kairos::relay
