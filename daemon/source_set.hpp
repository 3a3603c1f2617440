#pragma once
// The [[source]] associations of a running kairosd: each with its index in the clock graph and,
// for a pool's members, the addresses they share; started at start and added or removed by
// SIGHUP; their NTS keys and cookies taken from the state directory and saved back at exit.
// The resolver they look names up through is theirs too: it starts after the privilege drop
// (start_resolver) and outlives them.
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/association.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/resolver.hpp"

namespace kairos {

class SourceSet {
 public:
  // `after_sample`: called after each sample reached the clock graph (the time page, the server).
  SourceSet(EventLoop& loop, ClockGraph& clocks, std::string state_dir, std::function<void()> after_sample)
      : loop_(loop), clocks_(clocks), state_dir_(std::move(state_dir)), after_sample_(std::move(after_sample)) {}
  SourceSet(const SourceSet&) = delete;
  SourceSet& operator=(const SourceSet&) = delete;

  // The NICs whose stamps the sources may use, and the PTP virtual clock their sockets bind to
  // ([[interface]] phc-vclock). Call before the first add().
  void use_hardware(HardwareInterfaces hardware, std::optional<PhcBinding> stamp_binding) {
    hardware_ = std::move(hardware);
    stamp_binding_ = std::move(stamp_binding);
  }
  // After the privilege drop and the seccomp filter: getaddrinfo's thread never holds more.
  Result<void> start_resolver();

  // One more source at the end (at start, and each one a SIGHUP adds). Needs the resolver.
  void add(const SourceConfig& source);
  // The source at `at` in the order they were added: its timers, sockets and NTS session go.
  void remove(std::size_t at);
  // Somebody else set the system clock: every source polls now (Association::clock_stepped).
  void clock_stepped() {
    for (Association& a : associations_) a.clock_stepped();
  }

  const std::list<Association>& associations() const { return associations_; }
  // One log line per source with its counters (at exit).
  void log_counters() const;
  // Every NTS source's keys and unused cookies to the state directory (at a clean exit only:
  // see daemon/nts_state_file.hpp).
  void save_nts_state() const;

 private:
  EventLoop& loop_;
  ClockGraph& clocks_;
  std::string state_dir_;
  std::function<void()> after_sample_;
  HardwareInterfaces hardware_;
  std::optional<PhcBinding> stamp_binding_;
  std::unique_ptr<Resolver> resolver_;  // before the associations: they are destroyed first
  std::list<Association> associations_;  // stable addresses: timers capture `this`
  std::vector<std::size_t> graph_ids_;   // each association's index in the clock graph, in order
  // The addresses each pool's members use, shared among them (daemon/address_choice.hpp).
  std::map<std::string, std::shared_ptr<AddressClaims>> pools_;
};

}  // namespace kairos
