#include "hwts/packet_timestamps.hpp"

#include <linux/errqueue.h>
#include <poll.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <string>

namespace kairos {
namespace {

bool nonzero(const timespec& t) { return t.tv_sec != 0 || t.tv_nsec != 0; }

// Room for a timestamping cmsg, an extended error with its offender address, and pktinfo.
constexpr std::size_t kControlSize = 512;

}  // namespace

const char* to_string(StampSource source) {
  switch (source) {
    case StampSource::kDaemon: return "daemon";
    case StampSource::kKernel: return "kernel";
    case StampSource::kHardware: return "hardware";
  }
  return "unknown";
}

std::optional<PacketStamp> ControlStamps::best() const {
  if (hardware) return PacketStamp{*hardware, StampSource::kHardware};
  if (software) return PacketStamp{*software, StampSource::kKernel};
  return std::nullopt;
}

ControlStamps parse_control_stamps(std::span<const std::uint8_t> control) {
  ControlStamps out;
  // CMSG_NXTHDR needs a msghdr; copy into an aligned buffer so the macros see aligned headers.
  alignas(cmsghdr) std::uint8_t buf[kControlSize];
  const std::size_t size = std::min(control.size(), sizeof buf);
  if (size > 0) std::memcpy(buf, control.data(), size);
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = size;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    // CMSG_NXTHDR checks that the next header starts inside the buffer, not that this header's
    // length does. Compare lengths, not pointers: a huge cmsg_len would wrap a pointer sum.
    const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uint8_t*>(c) - buf);
    if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > size - offset) break;
    const std::size_t data_length = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING && data_length >= sizeof(scm_timestamping)) {
      scm_timestamping ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      if (nonzero(ts.ts[0])) out.software = ts.ts[0];
      if (nonzero(ts.ts[2])) out.hardware = ts.ts[2];
    } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR) ||
                // A packet socket's (PTP over Ethernet) transmit stamps come under its own level.
                (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_TX_TIMESTAMP)) &&
               data_length >= sizeof(sock_extended_err)) {
      sock_extended_err err;
      std::memcpy(&err, CMSG_DATA(c), sizeof err);
      if (err.ee_errno == ENOMSG && err.ee_origin == SO_EE_ORIGIN_TIMESTAMPING) out.tx_id = err.ee_data;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING_PKTINFO &&
               data_length >= sizeof(scm_ts_pktinfo)) {
      scm_ts_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      out.stamp_ifindex = static_cast<int>(info.if_index);
      out.stamp_length = info.pkt_length;
    } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO && data_length >= sizeof(in_pktinfo)) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      out.ifindex = info.ipi_ifindex;
    } else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO && data_length >= sizeof(in6_pktinfo)) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      out.ifindex = static_cast<int>(info.ipi6_ifindex);
    }
  }
  return out;
}

Result<std::uint32_t> enable_timestamping(int fd, bool hardware) {
  std::uint32_t flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                        SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_CMSG;
  if (hardware) {
    flags |= SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
             SOF_TIMESTAMPING_OPT_PKTINFO | SOF_TIMESTAMPING_OPT_TX_SWHW;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) != 0) {
    return fail(std::string("SO_TIMESTAMPING: ") + std::strerror(errno));
  }
  return flags;
}

so_timestamping bound_timestamping_request(std::uint32_t flags, int vclock) {
  so_timestamping request{};
  request.flags = static_cast<int>(flags | SOF_TIMESTAMPING_BIND_PHC);
  request.bind_phc = vclock;
  return request;
}

Result<std::uint32_t> enable_bound_timestamping(int fd, const PhcBinding& binding) {
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, binding.interface.c_str(),
                 static_cast<socklen_t>(binding.interface.size())) != 0) {
    return fail("SO_BINDTODEVICE " + binding.interface + ": " + std::strerror(errno));
  }
  const std::uint32_t flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                              SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_CMSG |
                              SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE |
                              SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_PKTINFO |
                              SOF_TIMESTAMPING_OPT_TX_SWHW;
  const so_timestamping request = bound_timestamping_request(flags, binding.vclock);
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &request, sizeof request) != 0) {
    // EINVAL: /dev/ptp<vclock> is not a vclock of this NIC's PHC; EOPNOTSUPP: not bound.
    return fail("SO_TIMESTAMPING bound to /dev/ptp" + std::to_string(binding.vclock) + " on " + binding.interface +
                ": " + std::strerror(errno) + " (is it a virtual clock of that NIC's PHC?)");
  }
  return flags | SOF_TIMESTAMPING_BIND_PHC;
}

Result<std::uint32_t> enable_rx_timestamping(int fd, bool hardware) {
  std::uint32_t flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
  // OPT_PKTINFO names the NIC that took a hardware stamp: its PHC's line converts it.
  if (hardware) flags |= SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE | SOF_TIMESTAMPING_OPT_PKTINFO;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) != 0) {
    return fail(std::string("SO_TIMESTAMPING: ") + std::strerror(errno));
  }
  return flags;
}

static Result<std::optional<std::size_t>> recv_with_control(int fd, std::span<std::uint8_t> buffer, int flags,
                                                            msghdr& msg, std::uint8_t* control,
                                                            std::size_t control_size) {
  iovec iov{buffer.data(), buffer.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = control_size;
  const ssize_t n = recvmsg(fd, &msg, flags | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::optional<std::size_t>();
    return fail(std::string("recvmsg: ") + std::strerror(errno));
  }
  return std::optional<std::size_t>(static_cast<std::size_t>(n));
}

Result<std::optional<ReceivedPacket>> receive_packet(int fd, std::span<std::uint8_t> buffer) {
  ReceivedPacket packet;
  msghdr msg{};
  msg.msg_name = &packet.from;
  msg.msg_namelen = sizeof packet.from;
  alignas(cmsghdr) std::uint8_t control[kControlSize];
  auto n = recv_with_control(fd, buffer, 0, msg, control, sizeof control);
  if (!n) return std::unexpected(n.error());
  if (!*n) return std::optional<ReceivedPacket>();
  packet.length = **n;
  packet.from_length = msg.msg_namelen;
  if (msg.msg_flags & MSG_TRUNC) return fail("received datagram larger than the buffer");
  packet.stamps = parse_control_stamps({control, msg.msg_controllen});
  return std::optional<ReceivedPacket>(packet);
}

Result<std::optional<TxStamp>> read_tx_stamp(int fd) {
  msghdr msg{};
  alignas(cmsghdr) std::uint8_t control[kControlSize];
  std::uint8_t payload[64];  // OPT_TSONLY: normally empty
  auto n = recv_with_control(fd, payload, MSG_ERRQUEUE, msg, control, sizeof control);
  if (!n) return std::unexpected(n.error());
  if (!*n) return std::optional<TxStamp>();
  ControlStamps stamps = parse_control_stamps({control, msg.msg_controllen});
  auto best = stamps.best();
  if (!stamps.tx_id || !best) return fail("error queue message is not a transmit timestamp");
  return std::optional<TxStamp>(TxStamp{*stamps.tx_id, *best, stamps.software, stamps.hardware});
}

Result<TxStampBatch> read_tx_stamps(int fd, std::span<TxStamp> out) {
  const std::size_t want = std::min(out.size(), kTxStampBatch);
  std::array<mmsghdr, kTxStampBatch> msgs{};
  std::array<iovec, kTxStampBatch> iov{};
  alignas(cmsghdr) std::uint8_t control[kTxStampBatch][kControlSize];
  std::uint8_t payload[kTxStampBatch][64];  // OPT_TSONLY: normally empty
  for (std::size_t i = 0; i < want; ++i) {
    iov[i] = {payload[i], sizeof payload[i]};
    msghdr& m = msgs[i].msg_hdr;
    m.msg_iov = &iov[i];
    m.msg_iovlen = 1;
    m.msg_control = control[i];
    m.msg_controllen = kControlSize;
  }
  TxStampBatch batch;
  if (want == 0) return batch;
  const int n = recvmmsg(fd, msgs.data(), static_cast<unsigned>(want), MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return batch;
    return fail(std::string("recvmmsg (error queue): ") + std::strerror(errno));
  }
  batch.read = static_cast<std::size_t>(n);
  for (std::size_t i = 0; i < batch.read; ++i) {
    const ControlStamps stamps = parse_control_stamps({control[i], msgs[i].msg_hdr.msg_controllen});
    const auto best = stamps.best();
    if (!stamps.tx_id || !best) continue;  // an ICMP error, not a stamp
    out[batch.stamps++] = TxStamp{*stamps.tx_id, *best, stamps.software, stamps.hardware};
  }
  return batch;
}

timespec realtime_now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

NtpTimestamp realtime_ntp_now() { return NtpTimestamp::from_timespec(realtime_now()); }

TxStamps take_tx_stamps(int fd, std::uint32_t id, bool hardware) {
  TxStamps found;
  for (int i = 0; i < 64; ++i) {
    auto tx = read_tx_stamp(fd);
    if (!tx) continue;  // not a timestamp (an ICMP error): skip
    if (!*tx) break;
    if ((*tx)->id != id) continue;  // an earlier datagram's, come late: dropped
    found.merge(**tx);
    if (found.software && (found.hardware || !hardware)) break;
  }
  return found;
}

void wait_for_hardware_tx_stamp(int fd, TxStamps& tx, const std::function<TxStamps()>& take) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  while (!tx.hardware) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, 0, 0};
    const timespec wait{0, static_cast<long>(left.count()) * 1000};
    if (ppoll(&p, 1, &wait, nullptr) <= 0 || !(p.revents & POLLERR)) return;
    const TxStamps more = take();
    if (!more.software && !more.hardware) return;  // something else on the error queue
    if (more.software) tx.software = more.software;
    if (more.hardware) tx.hardware = more.hardware;
  }
}

}  // namespace kairos
