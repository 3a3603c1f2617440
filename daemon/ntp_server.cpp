#include "daemon/ntp_server.hpp"

#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "daemon/client_rate.hpp"
#include "hwts/packet_timestamps.hpp"
#include "nts/ntp_client.hpp"
#include "nts/rate_limiter.hpp"

namespace kairos {

void NtpServerCounters::add(const NtpServerCounters& other) {
  responses.add(other.responses);
  received += other.received;
  sent += other.sent;
  send_errors += other.send_errors;
  receive_errors += other.receive_errors;
  kernel_stamps += other.kernel_stamps;
  key_updates += other.key_updates;
  tx_stamps += other.tx_stamps;
  tx_stamps_used += other.tx_stamps_used;
  tx_hardware_used += other.tx_hardware_used;
  hardware_stamps += other.hardware_stamps;
  daemon_stamps += other.daemon_stamps;
  tx_resyncs += other.tx_resyncs;
  late += other.late;
  latency.merge(other.latency);
}

// The receive buffer holds what a worker can still answer within max-wait, and not much more:
// a request queued behind more than that would be dropped as late anyway, and the kernel drops it
// for free at arrival, where reading it would cost the worker a recvmmsg slot. An 8 MB buffer
// (the old size) let requests wait 32 ms on average under overload and answered them all late.
//  - rate: what one core answers, ~150k requests/s (issue 24: 149k/s plain at < 1 % loss), since
//    each worker, a core, has its own socket;
//  - cost: what one small datagram takes from the buffer, the kernel's truesize: the sk_buff
//    (~256 B) and the driver's receive buffer (commonly a 2 KB fragment), so ~2.3 KB;
//  - the kernel doubles the value set (socket(7): room for its bookkeeping) and counts truesize
//    against the doubled value, so half of rate * max-wait * cost is asked for.
// At the default 5 ms: 750 requests, 0.86 MB asked (1.7 MB used). Never below the kernel's
// default (a host that tuned rmem_default up keeps it); without a bound (0), and at most, the old
// 4 MB (8 MB used) for bursts. net.core.rmem_max caps it in any case.
int receive_buffer_for(double max_wait, int kernel_default) {
  constexpr double kAnswersPerSecond = 150'000;
  constexpr double kPacketCost = 2304;
  constexpr int kMost = 4 << 20;
  const int floor = kernel_default / 2;
  if (!(max_wait > 0)) return std::max(kMost, floor);
  const double wanted = kAnswersPerSecond * max_wait * kPacketCost / 2;
  return std::max(floor, static_cast<int>(std::min(wanted, static_cast<double>(kMost))));
}

std::int8_t measure_clock_precision() {
  std::int64_t best = 1'000'000'000;
  timespec previous = realtime_now();
  for (int i = 0; i < 200; ++i) {
    const timespec now = realtime_now();
    const std::int64_t step = (now.tv_sec - previous.tv_sec) * 1'000'000'000 + (now.tv_nsec - previous.tv_nsec);
    if (step > 0 && step < best) best = step;
    previous = now;
  }
  // The smallest p with 2^p seconds >= the step.
  int p = 0;
  double seconds = static_cast<double>(best) * 1e-9;
  while (p > -30 && std::ldexp(1.0, p - 1) >= seconds) --p;
  return static_cast<std::int8_t>(p);
}

ServerClockState local_clock_state(std::optional<int> local_stratum, NtpTimestamp now, std::int8_t precision) {
  ServerClockState state;
  state.precision = precision;
  if (local_stratum) {
    state.leap = NtpLeap::kNone;
    state.stratum = static_cast<std::uint8_t>(*local_stratum);
    state.reference_id = make_reference_id('L', 'O', 'C', 'L');
    state.reference_time = now;
  }
  return state;
}

namespace {

constexpr std::size_t kBatch = 32;
// Larger than any NTS request kairos answers (a request with 7 placeholders is ~1 KB); a
// datagram that does not fit is truncated by the kernel and dropped here.
constexpr std::size_t kMaxDatagram = 2048;
constexpr std::size_t kControlSize = 256;
constexpr auto kPublishEvery = std::chrono::milliseconds(250);

std::int64_t nanoseconds_of(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// net.core.rmem_default: what a socket's receive buffer is without SO_RCVBUF.
int kernel_receive_buffer_default() {
  int value = 212992;  // the kernel's own default, when /proc cannot tell
  if (FILE* f = std::fopen("/proc/sys/net/core/rmem_default", "r")) {
    if (std::fscanf(f, "%d", &value) != 1) value = 212992;
    std::fclose(f);
  }
  return value;
}

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}



// The kernel's clock state (adjtimex without modes only reads): TIME_OOP while it shows the
// inserted 23:59:59, TIME_WAIT after it. For a smearing server's readings of that second.
bool kernel_in_inserted_second() {
  timex tx{};
  const int state = ::clock_adjtime(CLOCK_REALTIME, &tx);
  return state == TIME_OOP || state == TIME_WAIT;
}

}  // namespace

Result<void> set_dont_fragment(int fd, int family) {
  if (family != AF_INET) return {};
  const int probe = IP_PMTUDISC_PROBE;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe) != 0) {
    return fail(std::string("IP_MTU_DISCOVER: ") + std::strerror(errno));
  }
  return {};
}

namespace {

Result<UniqueFd> open_server_socket(const SocketAddress& address, bool transmit_stamps, bool hardware,
                                    int receive_buffer) {
  auto fd = open_socket(address.family(), SOCK_DGRAM);
  if (!fd) return fd;
  const int one = 1;
  if (setsockopt(fd->get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail(std::string("SO_REUSEPORT: ") + std::strerror(errno));
  }
  if (address.family() == AF_INET6 && setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    return fail(std::string("IPV6_V6ONLY: ") + std::strerror(errno));
  }
  // Answers with DF and IP identifier 0: see set_dont_fragment(). A kernel that refuses only
  // costs the identifier's hashing, so serve anyway.
  (void)set_dont_fragment(fd->get(), address.family());
  // Sized for [server] max-wait: see receive_buffer_for().
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  // Without kernel stamps T2 is read in user space: worse, but still a server. Transmit stamps
  // only for the interleaved mode: each answer then costs one error-queue read.
  // NIC stamps come on top of the software ones, which serve where a NIC gives none.
  if (!transmit_stamps || !enable_timestamping(fd->get(), hardware)) {
    if (!hardware || !enable_rx_timestamping(fd->get(), true)) (void)enable_rx_timestamping(fd->get(), false);
  }
  if (bind(fd->get(), address.get(), address.length) != 0) {
    return fail("cannot bind " + address.to_string() + ": " + std::strerror(errno));
  }
  return fd;
}

// Interleaved mode needs every request of one client to reach the worker that served its previous
// one: only that worker's table holds the exchange the request names. The kernel's default
// SO_REUSEPORT choice hashes the 4-tuple, and clients that open a fresh socket per request —
// chronyd does, even with xleave, unless told an acquisitionport — would meet a random worker and
// get a basic answer most of the time. This classic BPF program picks the worker from the source
// address alone (mixed, then modulo the worker count), the key chronyd's own server state uses.
// The program sees the UDP payload; SKF_NET_OFF reaches back into the IP header.
Result<void> steer_by_source_address(int fd, int family, unsigned workers) {
  constexpr auto net = static_cast<std::uint32_t>(SKF_NET_OFF);
  std::vector<sock_filter> code;
  if (family == AF_INET) {
    code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net + 12));  // IPv4 source address
  } else {
    code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net + 8));  // IPv6 source address, 4 words
    for (std::uint32_t word = 12; word <= 20; word += 4) {
      code.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));
      code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, net + word));
      code.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0));
    }
  }
  // Neighbouring addresses should not share a worker: a multiplicative hash, its high bits.
  code.push_back(BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u));
  code.push_back(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16));
  code.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers));
  code.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  const sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) != 0) {
    return fail(std::string("SO_ATTACH_REUSEPORT_CBPF (needed for the interleaved mode with several workers; "
                            "set [server] interleaved = false or workers = 1 to go without): ") +
                std::strerror(errno));
  }
  return {};
}

// The interleaved mode's name for a peer: its address without the port (see ClientAddress).
ClientAddress client_address_of(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
    return ClientAddress::ipv4(std::span<const std::uint8_t, 4>(reinterpret_cast<const std::uint8_t*>(&a), 4));
  }
  if (peer.ss_family == AF_INET6) {
    return ClientAddress::ipv6(std::span<const std::uint8_t, 16>(reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr.s6_addr, 16));
  }
  return {};
}

SocketAddress bound_address(int fd) {
  SocketAddress address;
  address.length = sizeof address.storage;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage), &address.length);
  return address;
}

}  // namespace

// One socket per listen address, one responder, one rate limiter: served by a thread of its own
// (run) or, with no workers, from the daemon's loop (serve and take_tx_stamps called by it).
struct NtpServer::Worker {
  Shared* shared = nullptr;
  int wake_fd = -1;
  std::vector<UniqueFd> sockets;
  std::optional<RateLimitConfig> rate_limit;
  bool interleaved = false;
  bool hardware = false;  // the sockets ask for NIC stamps too
  std::int64_t max_wait_ns = 0;  // 0: answer however late
  bool one_by_one = false;  // sendmsg per answer: interposers have no sendmmsg (event_loop.hpp)
  mutable std::mutex counters_mutex;
  NtpServerCounters published;
  std::thread thread;

  void prepare();
  void run();
  void take_updates();
  void publish();
  void publish_now_and_then();
  void take_tx_stamps(std::size_t socket, int sent = 0);
  void resync_tx_ids(std::size_t socket);
  void serve(std::size_t socket);

 private:
  struct State;
  std::unique_ptr<State> state_;  // made by prepare(); its own thread's or the loop's
};

namespace {

// Matches the kernel's transmit stamps to the answers they belong to. With OPT_ID the kernel tags
// the stamp of the n-th datagram sent on a socket (since timestamping was enabled) with n - 1, so
// counting every datagram handed to sendmmsg names each stamp. One slot per id modulo the capacity:
// never more pending than the responder's table holds, and a stamp that comes after its slot was
// reused (or never) finds another id there and is dropped.
class PendingTransmits {
 public:
  explicit PendingTransmits(std::size_t capacity) : slots_(capacity) {}

  // One datagram went to the kernel; `handle` names its saved answer (or nothing: a kiss, a NAK),
  // `ifindex` the NIC that stamped its request in hardware (0: none).
  void sent(TransmitHandle handle, int ifindex) {
    Slot& slot = slots_[next_id_ % slots_.size()];
    slot = Slot{next_id_, handle, ifindex};
    ++next_id_;
  }
  // A failed send may or may not have used an id: forget everything and count from zero again
  // (the caller re-enables OPT_ID, which resets the kernel's counter).
  void reset() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    next_id_ = 0;
  }
  // The id of the last datagram counted by sent().
  std::uint32_t last_id() const { return next_id_ - 1; }
  struct Taken {
    TransmitHandle handle;
    int ifindex = 0;
  };
  // The answer stamp `id` belongs to. `keep`: a software stamp of an answer whose NIC may still
  // send its hardware stamp in a message of its own (OPT_TX_SWHW): the slot waits for that one.
  Taken take(std::uint32_t id, bool keep) {
    Slot& slot = slots_[id % slots_.size()];
    if (slot.id != id || !slot.handle) return {};
    const Taken taken{slot.handle, slot.ifindex};
    if (!keep || slot.ifindex == 0) slot.handle = {};
    return taken;
  }

 private:
  struct Slot {
    std::uint32_t id = 0;
    TransmitHandle handle;
    int ifindex = 0;
  };
  std::vector<Slot> slots_;
  std::uint32_t next_id_ = 0;  // wraps with the kernel's u32 counter
};

// Per-thread buffers for one batch in and one batch out.
struct Batch {
  std::array<std::array<std::uint8_t, kMaxDatagram>, kBatch> in{};
  std::array<std::array<std::uint8_t, kMaxDatagram>, kBatch> out{};
  std::array<std::array<std::uint8_t, kControlSize>, kBatch> control{};
  std::array<sockaddr_storage, kBatch> from{};
  std::array<iovec, kBatch> in_iov{};
  std::array<iovec, kBatch> out_iov{};
  std::array<mmsghdr, kBatch> in_msgs{};
  std::array<mmsghdr, kBatch> out_msgs{};
  std::array<TransmitHandle, kBatch> handles{};
  std::array<std::int64_t, kBatch> received_ns{};  // per answer: its request's RX stamp
  std::array<int, kBatch> stamp_ifindex{};  // per answer: the NIC that stamped its request (0: none)

  void arm_receive() {
    for (std::size_t i = 0; i < kBatch; ++i) {
      in_iov[i] = {in[i].data(), in[i].size()};
      msghdr& m = in_msgs[i].msg_hdr;
      m = {};
      m.msg_name = &from[i];
      m.msg_namelen = sizeof from[i];
      m.msg_iov = &in_iov[i];
      m.msg_iovlen = 1;
      m.msg_control = control[i].data();
      m.msg_controllen = control[i].size();
    }
  }
};

}  // namespace

// What one worker keeps between batches; only its own thread (or the loop) touches it.
struct NtpServer::Worker::State {
  NtpResponder responder;
  std::vector<PendingTransmits> pending;
  std::optional<RateLimiter> limiter;
  std::optional<KeyRing> ring;
  std::shared_ptr<const SecretBytes> ring_text;
  ServerHardwareClocks hardware;  // a copy of Shared::hardware
  std::uint64_t seen_generation = ~std::uint64_t{0};
  NtpServerCounters counters;
  std::unique_ptr<Batch> batch = std::make_unique<Batch>();
  std::chrono::steady_clock::time_point last_publish = std::chrono::steady_clock::now();

  explicit State(RandomFill nonces) : responder(realtime_ntp_now, std::move(nonces)) {}
};

void NtpServer::Worker::prepare() {
  // Each worker its own nonce stream: copies of one generator would share its counter.
  auto nonces = counter_mode_random(system_random());
  state_ = std::make_unique<State>(nonces ? std::move(*nonces) : system_random());
  // One table per worker (see NtpResponder on clients that change their source port).
  if (interleaved) state_->responder.enable_interleaved();
  if (interleaved) state_->pending.assign(sockets.size(), PendingTransmits(InterleavedTable::kDefaultCapacity));
  if (rate_limit) state_->limiter.emplace(make_rate_limiter(*rate_limit));
  state_->responder.set_inserted_second_probe(kernel_in_inserted_second);
}

void NtpServer::Worker::take_updates() {
  State& st = *state_;
  const std::uint64_t generation = shared->generation.load(std::memory_order_acquire);
  if (generation == st.seen_generation) return;
  std::lock_guard lock(shared->mutex);
  st.responder.set_clock_state(shared->clock);
  st.hardware = shared->hardware;
  if (shared->ring_text != st.ring_text) {
    st.ring_text = shared->ring_text;
    st.ring.reset();
    if (st.ring_text) {
      // The text came from KeyRing::serialize in this process; it parses.
      if (auto parsed = parse_key_ring(st.ring_text->view())) st.ring.emplace(std::move(*parsed));
    }
    ++st.counters.key_updates;
  }
  st.seen_generation = shared->generation.load(std::memory_order_relaxed);
}

void NtpServer::Worker::publish() {
  State& st = *state_;
  st.counters.responses = st.responder.counters();
  std::lock_guard lock(counters_mutex);
  published = st.counters;
}

void NtpServer::Worker::publish_now_and_then() {
  const auto now = std::chrono::steady_clock::now();
  if (now - state_->last_publish < kPublishEvery) return;
  publish();
  state_->last_publish = now;
}

// Every stamp on the error queue to its answer; called after each send and on POLLERR. In
// portable mode (a simulator) exactly `sent` reads: its read of an empty error queue would take
// the next request instead, and its OPT_IDs count their own way (clknetsim's first is 1, the
// kernel's 0); its error queue holds the stamp of the last datagram sent, which is what the stamp
// read is taken for there.
void NtpServer::Worker::take_tx_stamps(std::size_t socket, int sent) {
  State& st = *state_;
  if (st.pending.empty()) return;
  const int fd = sockets[socket].get();
  const auto take = [&](const TxStamp& stamp) {
    ++st.counters.tx_stamps;
    // Portable mode (a simulator): its OPT_IDs count their own way; the stamp is the last datagram's.
    const std::uint32_t id = one_by_one ? st.pending[socket].last_id() : stamp.id;
    const auto taken = st.pending[socket].take(id, !stamp.hardware);
    if (!taken.handle) return;
    const auto best = server_transmit_stamp(stamp, taken.ifindex, st.hardware);
    if (best && st.responder.note_transmit(taken.handle, NtpTimestamp::from_timespec(best->time))) {
      ++st.counters.tx_stamps_used;
      if (best->source == StampSource::kHardware) ++st.counters.tx_hardware_used;
    }
  };
  if (one_by_one) {
    for (int i = 0; i < sent; ++i) {
      auto stamp = read_tx_stamp(fd);
      if (!stamp) continue;  // an ICMP error, not a stamp: skip it
      if (!*stamp) return;
      take(**stamp);
    }
    return;
  }
  // A batch of stamps per system call (a batch of answers left together); bounded like serve().
  std::array<TxStamp, kBatch> stamps;
  for (int round = 0; round < 4; ++round) {
    auto got = read_tx_stamps(fd, stamps);
    if (!got) return;
    for (std::size_t i = 0; i < got->stamps; ++i) take(stamps[i]);
    if (got->read < stamps.size()) return;  // the queue is empty
  }
}

void NtpServer::Worker::resync_tx_ids(std::size_t socket) {
  State& st = *state_;
  if (st.pending.empty()) return;
  take_tx_stamps(socket);
  st.pending[socket].reset();
  const int fd = sockets[socket].get();
  // OPT_ID off and on again restarts the kernel's counter at zero.
  (void)enable_rx_timestamping(fd, false);
  if (!enable_timestamping(fd, hardware)) st.pending.clear();  // cannot happen after it worked once
  ++st.counters.tx_resyncs;
}

void NtpServer::Worker::serve(std::size_t socket) {
  State& st = *state_;
  Batch& batch = *st.batch;
  const int fd = sockets[socket].get();
  // Bounded per wake-up so one busy socket cannot starve updates and the other sockets.
  for (int round = 0; round < 64; ++round) {
    batch.arm_receive();
    const int n = recvmmsg(fd, batch.in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++st.counters.receive_errors;
      return;
    }
    st.counters.received += static_cast<std::uint64_t>(n);
    const std::int64_t now_ns = st.limiter ? monotonic_ns() : 0;
    // One reading per batch, in the clock of the kernel's RX stamps: how long each request waited.
    const std::int64_t turn_ns = nanoseconds_of(realtime_now());
    unsigned replies = 0;
    for (int i = 0; i < n; ++i) {
      const auto slot = static_cast<std::size_t>(i);
      const msghdr& m = batch.in_msgs[slot].msg_hdr;
      if (m.msg_flags & MSG_TRUNC) {
        ++st.counters.receive_errors;
        continue;
      }
      const ControlStamps stamps = parse_control_stamps(
          {static_cast<const std::uint8_t*>(m.msg_control), static_cast<std::size_t>(m.msg_controllen)});
      NtpTimestamp t2;
      std::int64_t received_ns = turn_ns;
      int stamp_ifindex = 0;
      if (auto best = server_receive_stamp(stamps, st.hardware, batch.in_msgs[slot].msg_len,
                                           batch.from[slot].ss_family == AF_INET6)) {
        t2 = NtpTimestamp::from_timespec(best->time);
        received_ns = nanoseconds_of(best->time);
        if (best->source == StampSource::kHardware) {
          ++st.counters.hardware_stamps;
        } else {
          ++st.counters.kernel_stamps;
        }
        // The answer leaves by the NIC its request came in by: its hardware TX stamp is in that
        // PHC's time. Known once its RX stamp was, so the line exists when the TX stamp comes.
        if (stamps.hardware && stamps.stamp_ifindex) stamp_ifindex = *stamps.stamp_ifindex;
        // Waited longer than the bound: dropped, not answered late (an answer whose delay makes
        // every client discard it only costs work that a newer request needs). A step of the
        // system clock in between can drop one batch, or let it through.
        if (max_wait_ns > 0 && turn_ns - received_ns > max_wait_ns) {
          ++st.counters.late;
          continue;
        }
      } else {
        t2 = realtime_ntp_now();
        ++st.counters.daemon_stamps;
      }
      const ByteView request(batch.in[slot].data(), batch.in_msgs[slot].msg_len);
      const std::optional<RateKey> client = st.limiter ? rate_key_of(batch.from[slot]) : std::nullopt;
      const RateCheck rate = client ? RateCheck(*st.limiter, *client, now_ns) : RateCheck(RateDecision::kAllow);
      const ClientAddress sender = interleaved ? client_address_of(batch.from[slot]) : ClientAddress{};
      const Response response =
          st.responder.respond(request, t2, sender, rate, st.ring ? &*st.ring : nullptr, batch.out[replies]);
      if (response.length == 0) continue;
      batch.handles[replies] = response.transmit_handle;
      batch.received_ns[replies] = received_ns;
      batch.stamp_ifindex[replies] = stamp_ifindex;
      batch.out_iov[replies] = {batch.out[replies].data(), response.length};
      msghdr& out = batch.out_msgs[replies].msg_hdr;
      out = {};
      out.msg_name = &batch.from[slot];
      out.msg_namelen = m.msg_namelen;
      out.msg_iov = &batch.out_iov[replies];
      out.msg_iovlen = 1;
      ++replies;
    }
    unsigned done = 0;
    bool send_failed = false;
    while (done < replies) {
      int sent = 0;
      if (one_by_one) {
        sent = sendmsg(fd, &batch.out_msgs[done].msg_hdr, MSG_DONTWAIT) >= 0 ? 1 : -1;
      } else {
        sent = sendmmsg(fd, batch.out_msgs.data() + done, replies - done, MSG_DONTWAIT);
      }
      if (sent <= 0) {
        if (sent < 0 && errno == EINTR) continue;
        // A full socket buffer or an unreachable client: this reply is lost, the next may go.
        ++st.counters.send_errors;
        ++done;
        send_failed = true;
        continue;
      }
      const std::int64_t sent_ns = nanoseconds_of(realtime_now());
      for (unsigned k = done; k < done + static_cast<unsigned>(sent); ++k) {
        st.counters.latency.add(sent_ns - batch.received_ns[k]);
      }
      if (!st.pending.empty()) {
        for (unsigned k = done; k < done + static_cast<unsigned>(sent); ++k) {
          st.pending[socket].sent(batch.handles[k], batch.stamp_ifindex[k]);
        }
      }
      done += static_cast<unsigned>(sent);
      st.counters.sent += static_cast<std::uint64_t>(sent);
    }
    if (send_failed) {
      resync_tx_ids(socket);
    } else {
      take_tx_stamps(socket, static_cast<int>(replies));  // software stamps are queued during the send itself
    }
    if (static_cast<std::size_t>(n) < kBatch) return;
  }
}

void NtpServer::Worker::run() {
  std::vector<pollfd> fds;
  for (const UniqueFd& s : sockets) fds.push_back({s.get(), POLLIN, 0});
  fds.push_back({wake_fd, POLLIN, 0});
  while (!shared->stop.load(std::memory_order_relaxed)) {
    take_updates();
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(kPublishEvery.count()));
    if (ready < 0 && errno != EINTR) break;
    if (fds.back().revents & POLLIN) break;
    for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents & POLLERR) take_tx_stamps(i);
      if (fds[i].revents & POLLIN) serve(i);
    }
    publish_now_and_then();
  }
  publish();
}

Result<std::unique_ptr<NtpServer>> NtpServer::start(const NtpServerConfig& config, const ServerClockState& clock,
                                                    const KeyRing* ring, EventLoop* loop, bool hardware) {
  std::unique_ptr<NtpServer> server(new NtpServer());
  server->shared_ = std::make_unique<Shared>();
  server->shared_->clock = clock;
  if (ring) server->shared_->ring_text = std::make_shared<const SecretBytes>(ring->serialize());
  server->shared_->generation = 1;

  std::vector<SocketAddress> wanted;
  for (const std::string& entry : config.listen) {
    auto host_port = split_host_port(entry, 0);
    if (!host_port) return fail("[server] listen '" + entry + "': " + host_port.error().message);
    auto addresses = resolve(host_port->first, host_port->second, SOCK_DGRAM);
    if (!addresses) return fail("[server] listen '" + entry + "': " + addresses.error().message);
    wanted.push_back(addresses->front());
  }

  // On the loop: asked for (workers = 0), or no threads to be had (a simulator, event_loop.hpp).
  const bool on_loop = loop && (config.workers == 0u || loop->portable());
  const unsigned count =
      on_loop ? 1u : config.workers.value_or(0u) != 0 ? *config.workers : std::max(1u, std::thread::hardware_concurrency());
  const int receive_buffer = receive_buffer_for(config.max_wait, kernel_receive_buffer_default());
  int wake = -1;
  if (!on_loop) {
    wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) return fail(std::string("eventfd: ") + std::strerror(errno));
    server->wake_ = UniqueFd(wake);
  }

  for (unsigned w = 0; w < count; ++w) {
    auto worker = std::make_unique<Worker>();
    worker->shared = server->shared_.get();
    worker->wake_fd = wake;
    worker->rate_limit = config.rate_limit;
    worker->interleaved = config.interleaved;
    worker->hardware = hardware;
    worker->max_wait_ns = static_cast<std::int64_t>(config.max_wait * 1e9);
    worker->one_by_one = on_loop && loop->portable();
    for (const SocketAddress& address : wanted) {
      auto fd = open_server_socket(address, config.interleaved, hardware, receive_buffer);
      if (!fd) return fail("[server] " + fd.error().message);
      if (w == 0) server->addresses_.push_back(bound_address(fd->get()));
      worker->sockets.push_back(std::move(*fd));
    }
    server->workers_.push_back(std::move(worker));
  }
  // The sockets of one address form one group, numbered in bind order: worker w's is number w.
  if (config.interleaved && count > 1) {
    for (std::size_t a = 0; a < wanted.size(); ++a) {
      if (auto ok = steer_by_source_address(server->workers_.front()->sockets[a].get(), wanted[a].family(), count); !ok) {
        return fail("[server] " + ok.error().message);
      }
    }
  }
  for (auto& worker : server->workers_) worker->prepare();
  if (on_loop) {
    Worker* w = server->workers_.front().get();
    for (std::size_t i = 0; i < w->sockets.size(); ++i) {
      loop->watch(w->sockets[i].get(), POLLIN, [w, i](short revents) {
        w->take_updates();
        if (revents & POLLERR) w->take_tx_stamps(i);
        if (revents & POLLIN) w->serve(i);
        w->publish_now_and_then();
      });
    }
    server->loop_ = loop;
    return server;
  }
  for (auto& worker : server->workers_) worker->thread = std::thread([w = worker.get()] { w->run(); });
  return server;
}

NtpServer::~NtpServer() {
  if (!shared_) return;
  if (loop_) {
    for (const UniqueFd& fd : workers_.front()->sockets) loop_->unwatch(fd.get());
    return;
  }
  shared_->stop = true;
  const std::uint64_t one = 1;
  if (wake_) (void)!write(wake_.get(), &one, sizeof one);
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void NtpServer::publish_clock_state(const ServerClockState& clock) {
  std::lock_guard lock(shared_->mutex);
  shared_->clock = clock;
  shared_->generation.fetch_add(1, std::memory_order_release);
}

void NtpServer::publish_key_ring(const KeyRing& ring) {
  auto text = std::make_shared<const SecretBytes>(ring.serialize());
  std::lock_guard lock(shared_->mutex);
  shared_->ring_text = std::move(text);
  shared_->generation.fetch_add(1, std::memory_order_release);
}

void NtpServer::publish_hardware_clocks(const ServerHardwareClocks& nics) {
  std::lock_guard lock(shared_->mutex);
  shared_->hardware = nics;
  shared_->generation.fetch_add(1, std::memory_order_release);
}

NtpServerCounters NtpServer::counters() const {
  if (loop_) workers_.front()->publish();  // the loop's own worker: as of now
  NtpServerCounters total;
  for (const auto& worker : workers_) {
    std::lock_guard lock(worker->counters_mutex);
    total.add(worker->published);
  }
  return total;
}

}  // namespace kairos
