#pragma once
// Paced NTP request load over many UDP source ports: batches (UDP GSO, or sendmmsg) against
// absolute CLOCK_MONOTONIC deadlines (a late batch is caught up, the rate never drifts), recvmmsg
// on every socket that epoll reports readable once per turn, and each datagram classified by the
// RequestSet.
//
// With a junk fraction, that share of the datagrams comes from a JunkSet instead, sent from
// sockets of their own: whatever arrives on those is an answer to junk, which no server should
// send, and it can never be mistaken for (or counted as) an answer to a request.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"
#include "junk.hpp"
#include "request_set.hpp"

namespace kairos {

struct NtpLoadOptions {
  SocketAddress server;
  double rate = 10000;      // requests per second
  double duration = 2.0;    // seconds of sending
  std::size_t sockets = 64; // source ports, used round-robin
  std::size_t batch = 32;   // most requests per send call (at most 64)
  bool gso = true;          // batches as one UDP GSO send when the kernel can (else sendmmsg)
  std::chrono::milliseconds drain{200};  // receiving goes on this long after the last send
  std::chrono::microseconds tick{100};   // shortest sleep: batches sends, reads answers in bulk
  // Source addresses (port 0), socket i bound to bind[i % size]; empty: the kernel chooses.
  std::vector<SocketAddress> bind;
  double junk = 0;  // fraction (0 to 1) of the datagrams that are junk rather than requests
};

struct NtpLoadReport {
  std::uint64_t planned = 0;      // rate × duration, requests and junk
  std::uint64_t sent = 0;         // requests
  std::uint64_t junk_sent = 0;
  std::uint64_t send_failed = 0;  // refused by the kernel (full buffer, ICMP unreachable)
  std::uint64_t received = 0;     // datagrams of any kind on the request sockets
  std::uint64_t answered_junk = 0;  // datagrams of any kind on the junk sockets
  std::array<std::uint64_t, kVerdictCount> verdicts{};
  std::uint64_t verified = 0;     // NTS responses checked with the S2C key
  std::uint64_t client_drops = 0; // lost in our own receive queues (SO_RXQ_OVFL)
  double send_seconds = 0;        // first send to last send
  double wall_seconds = 0;        // the whole run, drain included
  double client_cpu_seconds = 0;  // user + system time of this process during the run
  bool gso = false;               // UDP GSO was used to the end

  std::uint64_t count(Verdict v) const { return verdicts[static_cast<std::size_t>(v)]; }
  std::uint64_t served() const { return count(Verdict::kServed); }
  // Percent of sent requests that got no valid answer.
  double loss_percent() const { return sent == 0 ? 100.0 : 100.0 * static_cast<double>(sent - std::min(sent, served())) / static_cast<double>(sent); }
  // Datagrams per second, requests and junk.
  double achieved_rate() const { return send_seconds > 0 ? static_cast<double>(sent + junk_sent) / send_seconds : 0; }
};

// `junk` is needed when options.junk > 0.
Result<NtpLoadReport> run_ntp_load(const NtpLoadOptions& options, RequestSet& requests, JunkSet* junk = nullptr);

}  // namespace kairos
