#pragma once
// One NTS-KE exchange over TCP, bounded by a deadline (used by kairosctl and, until the event
// loop drives KeClient itself, by kairosd's associations).
#include <chrono>
#include <optional>
#include <string>

#include "clock/result.hpp"
#include "daemon/net.hpp"
#include "nts/ke_client.hpp"

namespace kairos {

struct KeFetchOptions {
  std::string host;
  std::uint16_t port = kNtsKeDefaultPort;
  std::optional<std::string> ca_file;
  bool system_trust = true;
  std::vector<std::uint16_t> aeads{17, 16, 15};
  std::chrono::milliseconds timeout{5000};
};

Result<KeClientResult> fetch_nts_ke(const KeFetchOptions& options);

}  // namespace kairos
