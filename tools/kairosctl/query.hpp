#pragma once
// `kairosctl query`: one-shot NTP or NTS measurement of a server.
#include <optional>
#include <string>
#include <vector>

namespace kairos {

struct QueryOptions {
  std::string target;  // HOST[:PORT]
  bool nts = true;
  std::optional<std::string> ca_file;
  bool system_trust = true;
  int count = 1;
  double timeout_seconds = 5.0;
  double interval_seconds = 0.5;  // between samples when count > 1
  std::vector<std::uint16_t> aeads{17, 16, 15};
  bool json = false;
};

// Runs the query, prints the result, and returns the process exit code.
int run_query(const QueryOptions& options);

}  // namespace kairos
