#pragma once
// The sockets of a PTP port. Over UDP, IPv4 (IEEE 1588-2019 Annex C) or IPv6 (Annex D), two:
// event messages (Sync, Delay_Req, which carry the timestamps) on port 319, general messages
// (Announce, Follow_Up, Delay_Resp, Signaling) on 320, multicast to 224.0.1.129 or FF02::181 in
// the default profile or unicast to a master's address. Only the event socket is timestamped
// (hwts/packet_timestamps.hpp): a general message's arrival time means nothing to the protocol.
// Over Ethernet (Annex E), one AF_PACKET socket for PTP's ethertype carries both kinds (the
// message type tells them apart), multicast to 01-1B-19-00-00-00 or unicast to a master's MAC;
// both channels are that socket. The bytes are the protocol core's business; this is only the IO.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"
#include "daemon/ptp_address.hpp"
#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_choice.hpp"

namespace kairos {

enum class PtpChannel : std::uint8_t { kEvent, kGeneral };

struct PtpSocketOptions {
  PtpTransport transport = PtpTransport::kUdpV4;
  std::uint8_t ipv6_scope = kPtpDefaultIpv6Scope;  // FF0X::181 (udpv6)
  // The NIC the port runs on: multicast is joined and sent there, and both sockets are bound to
  // it (SO_BINDTODEVICE) so another port's traffic never reaches this one. "" = any (unicast).
  std::string interface;
  std::uint16_t event_port = 319;  // 0: any free port (tests); UDP only
  std::uint16_t general_port = 320;
  bool multicast = true;  // join the transport's group (needs `interface`)
  bool hardware = false;  // ask for NIC stamps; a kernel that refuses gets software ones
  // Receive our own multicast (IP_MULTICAST_LOOP): for tests with two ports on one host only.
  // (Ethernet never does: frames from this socket are not read back.)
  bool loop = false;
  // An interposing simulator (clknetsim, daemon/event_loop.hpp): it numbers transmit stamps its
  // own way and its read of an empty error queue takes the next datagram instead, which may be
  // another socket's. The error queue is then read exactly once after each event send.
  bool portable = false;
};

struct PtpDatagram {
  PtpChannel channel = PtpChannel::kGeneral;
  std::size_t length = 0;
  SocketAddress from;
  ControlStamps stamps;  // kernel RX stamps (event channel only)
};

class PtpSocket {
 public:
  static Result<PtpSocket> open(const PtpSocketOptions& options);

  // The channel's socket; over Ethernet the same one for both.
  int fd(PtpChannel channel) const {
    return channel == PtpChannel::kEvent || !general_ ? event_.get() : general_.get();
  }
  bool one_socket() const { return !general_; }
  PtpTransport transport() const { return options_.transport; }
  bool kernel_stamps() const { return kernel_stamps_; }
  bool hardware_stamps() const { return hardware_stamps_; }
  // The channel's local port (the one asked for, or the one the kernel chose for 0).
  std::uint16_t port(PtpChannel channel) const {
    return channel == PtpChannel::kEvent ? options_.event_port : options_.general_port;
  }
  // Where multicast goes on this port's channel: 224.0.1.129 or FF0X::181 and the channel's
  // port, or 01-1B-19-00-00-00 on the NIC.
  SocketAddress multicast_destination(PtpChannel channel) const;
  // A master's address (its text as the port keeps it) on the channel's standard port (ours,
  // unless a test moved them); nullopt when it is not an address of this transport.
  std::optional<SocketAddress> unicast_destination(const std::string& address, PtpChannel channel) const;

  // Sends one datagram. On the event channel returns the OPT_ID its transmit stamp will carry
  // (take_tx_stamps); on the general channel 0.
  Result<std::uint32_t> send(PtpChannel channel, std::span<const std::uint8_t> bytes, const SocketAddress& to);
  // One datagram from the channel, nullopt when none is waiting. Over Ethernet its channel is
  // the one its message type belongs to, whichever was asked.
  Result<std::optional<PtpDatagram>> receive(PtpChannel channel, std::span<std::uint8_t> buffer);
  // Reads the event socket's error queue: the stamps of datagram `id` that are there.
  TxStamps take_tx_stamps(std::uint32_t id);

 private:
  PtpSocket(UniqueFd event, UniqueFd general, const PtpSocketOptions& options, int ifindex, bool kernel, bool hardware)
      : event_(std::move(event)),
        general_(std::move(general)),
        options_(options),
        ifindex_(ifindex),
        kernel_stamps_(kernel),
        hardware_stamps_(hardware) {}
  UniqueFd event_;
  UniqueFd general_;  // none over Ethernet
  PtpSocketOptions options_;
  int ifindex_ = 0;
  bool kernel_stamps_ = false;
  bool hardware_stamps_ = false;
  // The event socket's OPT_ID count: every datagram it sends takes one (over Ethernet the
  // general messages too, for stamping is on for the whole socket).
  std::uint32_t next_id_ = 0;
};

}  // namespace kairos
