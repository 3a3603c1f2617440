#pragma once
// Connections that are held instead of used, against a TCP server (NTS-KE): a connection flood
// and slowloris. Opens `connections` TCP connections at `rate` per second, each from the next
// source address in turn, and then per connection stays silent, trickles one byte every
// `trickle` seconds (a TLS record header announcing a ClientHello that never completes), or
// sends `garbage` random bytes once. Every connection is watched until the server closes it or
// the run ends; how long each lived tells whether the server's deadline holds.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

struct HoldOptions {
  SocketAddress server;
  std::vector<SocketAddress> bind;  // source addresses (port 0), taken in turn; empty: the kernel's
  std::size_t connections = 100;
  double rate = 100;      // connections opened per second
  double duration = 10;   // seconds the whole run may take; it ends sooner once all are closed
  double trickle = 0;     // seconds between single bytes sent; 0: none
  std::size_t garbage = 0;  // random bytes sent once connected; 0: none (not with trickle)
};

struct HoldReport {
  std::uint64_t attempted = 0;         // connections started
  std::uint64_t opened = 0;            // established
  std::uint64_t connect_failed = 0;    // refused or reset while connecting, or not connected by the end
  std::uint64_t closed_by_server = 0;  // orderly close or reset by the server after being opened
  std::uint64_t still_open = 0;        // open when the run ended
  std::uint64_t peak_open = 0;         // most open at one time
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;    // what the server sent before closing (TLS alerts)
  // Seconds from established to closed by the server, over the connections it closed.
  double longest_lifetime = 0;
  double median_lifetime = 0;
  double wall_seconds = 0;
};

Result<HoldReport> run_hold(const HoldOptions& options);

}  // namespace kairos
