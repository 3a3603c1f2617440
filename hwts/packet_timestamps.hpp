#pragma once
// Kernel packet timestamps on UDP (and packet) sockets (SO_TIMESTAMPING, Documentation/networking/
// timestamping.rst): receive stamps arrive as SCM_TIMESTAMPING control messages, transmit stamps
// on the socket's error queue tagged with the OPT_ID counter of the packet they belong to.
#include <linux/net_tstamp.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <ctime>
#include <optional>
#include <span>
#include <string>

#include "clock/ntp_time.hpp"
#include "clock/result.hpp"
#include "nts/bytes.hpp"

namespace kairos {

enum class StampSource : std::uint8_t {
  kDaemon,    // clock_gettime in user space: the fallback
  kKernel,    // software stamp in the kernel's network stack
  kHardware,  // NIC hardware stamp (PHC time)
};
const char* to_string(StampSource source);

struct PacketStamp {
  timespec time{};
  StampSource source = StampSource::kDaemon;
};

// What the control messages of one recvmsg carried.
struct ControlStamps {
  std::optional<timespec> software;  // scm_timestamping.ts[0]
  std::optional<timespec> hardware;  // scm_timestamping.ts[2] (raw hardware)
  std::optional<std::uint32_t> tx_id;  // set on error-queue messages: the packet's OPT_ID
  std::optional<int> ifindex;          // IP_PKTINFO / IPV6_PKTINFO, when enabled
  // SCM_TIMESTAMPING_PKTINFO (OPT_PKTINFO), with hardware RX stamps: the interface whose NIC
  // took the stamp and the frame's length at layer 2 (for the trailer correction).
  std::optional<int> stamp_ifindex;
  std::optional<std::uint32_t> stamp_length;

  // The best stamp available, hardware first.
  std::optional<PacketStamp> best() const;
};

// Parses the control buffer of a recvmsg (pure: never reads past `control`).
ControlStamps parse_control_stamps(std::span<const std::uint8_t> control);

// Turns on software (and, if asked, hardware) RX and TX stamps with OPT_ID, OPT_TSONLY and
// OPT_CMSG. Returns the flags set.
Result<std::uint32_t> enable_timestamping(int fd, bool hardware);

// Hardware stamps in a PTP virtual clock's time instead of the NIC's PHC (issue 21 item 6): the
// kernel converts each stamp to /dev/ptp<vclock>, a clock of kairosd's own built on the NIC's
// PHC, so kairosd disciplines that while ptp4l keeps the physical PHC (SOF_TIMESTAMPING_BIND_PHC,
// Linux 5.15; the operator makes the vclock: echo 1 > /sys/class/ptp/ptpN/n_vclocks). The kernel
// takes it only on a socket bound to the NIC (SO_BINDTODEVICE) whose PHC has that vclock.
struct PhcBinding {
  std::string interface;
  int vclock = -1;
};
// The SO_TIMESTAMPING argument: `flags` with BIND_PHC and the vclock's index (pure).
so_timestamping bound_timestamping_request(std::uint32_t flags, int vclock);
// Binds the socket to the NIC and turns on hardware stamps in the vclock's time (and the software
// ones, as enable_timestamping). Returns the flags set; a clear error when the kernel refuses.
Result<std::uint32_t> enable_bound_timestamping(int fd, const PhcBinding& binding);

// Receive stamps only, for server sockets: a server answers every packet at once, so transmit
// stamps would only fill its error queue.
Result<std::uint32_t> enable_rx_timestamping(int fd, bool hardware);

struct ReceivedPacket {
  std::size_t length = 0;
  sockaddr_storage from{};
  socklen_t from_length = 0;
  ControlStamps stamps;
};
// One recvmsg; nullopt when nothing is waiting (the socket is non-blocking).
Result<std::optional<ReceivedPacket>> receive_packet(int fd, std::span<std::uint8_t> buffer);

struct TxStamp {
  std::uint32_t id = 0;
  PacketStamp stamp;  // the best of the two below
  // With OPT_TX_SWHW a packet may get two messages, one per kind; each carries one of these.
  std::optional<timespec> software;
  std::optional<timespec> hardware;
};
// One message from the error queue; nullopt when it is empty. Messages that are not transmit
// stamps (ICMP errors) are returned as errors so the caller can count them.
Result<std::optional<TxStamp>> read_tx_stamp(int fd);

// Several messages from the error queue in one recvmmsg, for a server that sends its answers in
// batches: one system call per batch of stamps instead of one per stamp plus one that finds the
// queue empty (at 50k answers/s those reads were two thirds of kairosd's system calls).
// `read` counts every message taken, so fewer than asked means the queue is now empty; the
// transmit stamps among them fill the front of `out` (`stamps` of them), messages that are not
// stamps (ICMP errors) are taken and skipped. At most kTxStampBatch per call.
inline constexpr std::size_t kTxStampBatch = 64;
struct TxStampBatch {
  std::size_t read = 0;
  std::size_t stamps = 0;
};
Result<TxStampBatch> read_tx_stamps(int fd, std::span<TxStamp> out);

// Every transmit stamp the error queue gave for one request.
struct TxStamps {
  std::optional<timespec> software;
  std::optional<timespec> hardware;
  void merge(const TxStamp& tx) {
    if (tx.software) software = tx.software;
    if (tx.hardware) hardware = tx.hardware;
  }
};

// Reads the error queue for the stamps of datagram `id` (OPT_ID): earlier datagrams' stamps, come
// late, are dropped on the way; stops once ours is whole (its software stamp, and its hardware one
// when `hardware` stamps were asked for), for nothing sent later is ours. Bounded: 64 reads.
TxStamps take_tx_stamps(int fd, std::uint32_t id, bool hardware);

// A NIC hands its transmit stamp to the kernel after the frame left, which on a fast path can be
// after the answer came in: waits until `tx` has a hardware stamp, reading `fd`'s error queue
// with `take` whenever poll says it holds something, at most 1 ms in all so that a NIC that never
// stamps costs little. Stops early when the queue holds something else.
void wait_for_hardware_tx_stamp(int fd, TxStamps& tx, const std::function<TxStamps()>& take);

timespec realtime_now();
NtpTimestamp realtime_ntp_now();

}  // namespace kairos
