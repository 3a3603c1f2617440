#pragma once
// kairosd's NTP server: N worker threads (or none: the daemon's loop serves), each with its own SO_REUSEPORT socket per listen address
// (the kernel spreads clients over them by address hash), its own responder, rate limiter and
// copy of the cookie keys, so the hot path shares no lock and no cache line with another worker.
// Packets move in batches (recvmmsg/sendmmsg); T2 is the kernel's receive stamp. With
// `interleaved` (the default) the sockets also give transmit stamps, read back from the error
// queue and handed to the responder for its interleaved answers (RFC 9769). With hardware stamps
// (an [[interface]] stamping in hardware on the direct path) the NIC's stamps replace the
// kernel's wherever its PHC's line to system time is valid (daemon/server_stamps.hpp).
//
// The main thread publishes what workers need — the clock state and the cookie key ring — by
// bumping a generation counter; a worker looks at it once per batch and copies under a mutex only
// when it moved. Workers publish their counters the same way, a few times a second.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clock/result.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/latency_histogram.hpp"
#include "daemon/client/net.hpp"
#include "daemon/server_stamps.hpp"
#include "nts/key_ring.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {

struct NtpServerCounters {
  ResponderCounters responses;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t receive_errors = 0;
  std::uint64_t kernel_stamps = 0;  // T2 from the kernel's software stamp (else read in user space)
  std::uint64_t hardware_stamps = 0;  // T2 from the NIC's stamp, converted to system time
  std::uint64_t daemon_stamps = 0;    // T2 read in user space: the kernel gave no stamp
  std::uint64_t key_updates = 0;    // key rings taken over by the worker
  std::uint64_t tx_stamps = 0;      // transmit stamps read from the error queue (interleaved mode)
  std::uint64_t tx_stamps_used = 0; // ...that improved a saved answer
  std::uint64_t tx_hardware_used = 0;  // ...of which NIC stamps converted to system time
  std::uint64_t tx_resyncs = 0;     // OPT_ID counters restarted after a failed send
  std::uint64_t late = 0;           // requests dropped unanswered: waited longer than max-wait
  LatencyHistogram latency;         // RX stamp to answer handed to the kernel, every answer sent
  void add(const NtpServerCounters& other);
};

class NtpServer {
 public:
  // Binds every listen address once per worker and starts the workers. `ring` is the cookie key
  // ring when NTS is served (nullptr: NTS requests get NAKs).
  // With `loop`, `workers = 0` (or a portable loop: a simulator) answers on that loop, with no
  // thread. `hardware`: the sockets ask for NIC stamps too, used once publish_hardware_clocks
  // gives their NIC's line.
  static Result<std::unique_ptr<NtpServer>> start(const NtpServerConfig& config, const ServerClockState& clock,
                                                  const KeyRing* ring, EventLoop* loop = nullptr,
                                                  bool hardware = false);
  ~NtpServer();  // stops and joins the workers
  NtpServer(const NtpServer&) = delete;
  NtpServer& operator=(const NtpServer&) = delete;

  void publish_clock_state(const ServerClockState& clock);
  void publish_key_ring(const KeyRing& ring);
  // The lines from the NICs' PHC time to system time (the main loop's, after each change).
  void publish_hardware_clocks(const ServerHardwareClocks& nics);

  // Every worker's counters summed, as last published (at most ~250 ms old).
  NtpServerCounters counters() const;
  // Threads serving (0: the loop serves).
  std::size_t worker_count() const { return loop_ ? 0 : workers_.size(); }
  // The local addresses actually bound (ports resolved), one per listen entry.
  const std::vector<SocketAddress>& addresses() const { return addresses_; }

  // What workers share with the main thread; public for the worker code in ntp_server.cpp.
  struct Shared {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> generation{0};
    std::mutex mutex;  // guards everything below
    ServerClockState clock;
    std::shared_ptr<const SecretBytes> ring_text;  // serialized ring; nullptr = no NTS
    ServerHardwareClocks hardware;
  };
  struct Worker;

 private:
  NtpServer() = default;

  std::unique_ptr<Shared> shared_;
  UniqueFd wake_;  // eventfd: readable once the workers must stop
  EventLoop* loop_ = nullptr;  // set when the loop serves (no threads)
  std::vector<SocketAddress> addresses_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// The clock state served while no clock model vouches for the local clock: `local_stratum` set →
// synchronised at that stratum with reference id LOCL; else unsynchronised (leap 3, stratum 16),
// which clients ignore. `now` becomes the reference time.
ServerClockState local_clock_state(std::optional<int> local_stratum, NtpTimestamp now, std::int8_t precision);

// SO_RCVBUF for a server socket whose requests may wait `max_wait` seconds (0: no bound), given
// the kernel's default receive buffer (net.core.rmem_default): see ntp_server.cpp.
int receive_buffer_for(double max_wait, int kernel_default);

// Sets the don't-fragment bit on everything an IPv4 server socket sends, without path MTU
// discovery (IP_PMTUDISC_PROBE); nothing on other families. Why: a datagram without DF gets an IP
// identifier from the kernel's hashed per-destination counters (__ip_select_ident: 12 % of
// kairosd's CPU at 50k answers/s under ntpperf), one with DF from an unconnected socket gets 0
// (RFC 6864 §4.1: the field means nothing in an atomic datagram). DF changes nothing an answer
// needs: it is never longer than its request, which came through the same path, and PROBE ignores
// path MTU values learned from ICMP, so a forged "fragmentation needed" cannot silence answers.
Result<void> set_dont_fragment(int fd, int family);

// log2 seconds of the time it takes to read the system clock (RFC 5905 §7.3 "precision"),
// measured as the smallest step between consecutive readings.
std::int8_t measure_clock_precision();

}  // namespace kairos
