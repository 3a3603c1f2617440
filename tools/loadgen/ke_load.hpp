#pragma once
// Back-to-back NTS-KE exchanges (RFC 8915 §4), `concurrency` at a time, each a non-blocking
// PendingKe driven by one poll() over all of them. A finished exchange is replaced at once until
// the duration is over; those still running then may finish (within their timeout).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/client/ke_fetch.hpp"

namespace kairos {

struct KeLoadOptions {
  KeFetchOptions fetch;      // server, trust, AEADs, per-exchange timeout
  std::size_t concurrency = 8;
  double duration = 3.0;     // seconds during which new exchanges start
  // Source addresses (port 0) taken in turn by successive exchanges; empty: the kernel chooses.
  std::vector<SocketAddress> bind;
};

struct KeLoadReport {
  std::uint64_t completed = 0;  // exchanges that yielded keys and at least one cookie
  std::uint64_t failed = 0;
  std::map<std::string, std::uint64_t> errors;  // failure message → count
  double wall_seconds = 0;
  double client_cpu_seconds = 0;

  double rate() const { return wall_seconds > 0 ? static_cast<double>(completed) / wall_seconds : 0; }
};

Result<KeLoadReport> run_ke_load(const KeLoadOptions& options);

}  // namespace kairos
