#pragma once
// The two UDP sockets of a PTP port over IPv4 (IEEE 1588-2019 Annex C): event messages (Sync,
// Delay_Req, which carry the timestamps) on port 319, general messages (Announce, Follow_Up,
// Delay_Resp, Signaling) on 320, multicast to 224.0.1.129 in the default profile or unicast to a
// master's address. Only the event socket is timestamped (hwts/packet_timestamps.hpp): a
// general message's arrival time means nothing to the protocol. The bytes are the protocol
// core's business; this is only the IO.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "clock/result.hpp"
#include "daemon/net.hpp"
#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_choice.hpp"

namespace kairos {

enum class PtpChannel : std::uint8_t { kEvent, kGeneral };

struct PtpSocketOptions {
  // The NIC the port runs on: multicast is joined and sent there, and both sockets are bound to
  // it (SO_BINDTODEVICE) so another port's traffic never reaches this one. "" = any (unicast).
  std::string interface;
  std::uint16_t event_port = 319;  // 0: any free port (tests)
  std::uint16_t general_port = 320;
  bool multicast = true;  // join 224.0.1.129 (needs `interface`)
  bool hardware = false;  // ask for NIC stamps; a kernel that refuses gets software ones
  // Receive our own multicast (IP_MULTICAST_LOOP): for tests with two ports on one host only.
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

// A numeric IPv4 address and port ("192.0.2.1"), nullopt for anything else.
std::optional<SocketAddress> ipv4_address(const std::string& text, std::uint16_t port);

class PtpSocket {
 public:
  static Result<PtpSocket> open(const PtpSocketOptions& options);

  int fd(PtpChannel channel) const { return channel == PtpChannel::kEvent ? event_.get() : general_.get(); }
  bool kernel_stamps() const { return kernel_stamps_; }
  bool hardware_stamps() const { return hardware_stamps_; }
  // The channel's local port (the one asked for, or the one the kernel chose for 0).
  std::uint16_t port(PtpChannel channel) const {
    return channel == PtpChannel::kEvent ? options_.event_port : options_.general_port;
  }
  // Where multicast goes on this port's channel: 224.0.1.129 and the channel's port.
  SocketAddress multicast_destination(PtpChannel channel) const;

  // Sends one datagram. On the event channel returns the OPT_ID its transmit stamp will carry
  // (take_tx_stamps); on the general channel 0.
  Result<std::uint32_t> send(PtpChannel channel, std::span<const std::uint8_t> bytes, const SocketAddress& to);
  // One datagram from the channel, nullopt when none is waiting.
  Result<std::optional<PtpDatagram>> receive(PtpChannel channel, std::span<std::uint8_t> buffer);
  // Reads the event socket's error queue: the stamps of datagram `id` that are there.
  TxStamps take_tx_stamps(std::uint32_t id);

 private:
  PtpSocket(UniqueFd event, UniqueFd general, const PtpSocketOptions& options, bool kernel, bool hardware)
      : event_(std::move(event)),
        general_(std::move(general)),
        options_(options),
        kernel_stamps_(kernel),
        hardware_stamps_(hardware) {}
  UniqueFd event_;
  UniqueFd general_;
  PtpSocketOptions options_;
  bool kernel_stamps_ = false;
  bool hardware_stamps_ = false;
  std::uint32_t next_id_ = 0;  // the event socket's OPT_ID count
};

}  // namespace kairos
