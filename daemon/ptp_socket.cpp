#include "daemon/ptp_socket.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "hwts/ioctl_socket.hpp"

namespace kairos {
namespace {

// IEEE 1588-2019 Annex C.3: the primary multicast group of every message but the peer-delay ones.
constexpr const char* kPrimaryGroup = "224.0.1.129";

Result<void> set_option(int fd, int level, int name, const void* value, socklen_t length, const char* what) {
  if (setsockopt(fd, level, name, value, length) != 0) return fail(std::string(what) + ": " + std::strerror(errno));
  return {};
}

// One of the two sockets: bound to the port (on the NIC), in the group when multicast.
Result<UniqueFd> open_channel(const PtpSocketOptions& options, std::uint16_t port, int ifindex) {
  auto fd = open_socket(AF_INET, SOCK_DGRAM);
  if (!fd) return std::unexpected(fd.error());
  const std::string where = "PTP port " + std::to_string(port) +
                            (options.interface.empty() ? "" : " on " + options.interface);
  if (!options.interface.empty()) {
    if (auto ok = set_option(fd->get(), SOL_SOCKET, SO_BINDTODEVICE, options.interface.c_str(),
                             static_cast<socklen_t>(options.interface.size()), ("bind " + where + " to its NIC").c_str());
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  const SocketAddress any = *ipv4_address("0.0.0.0", port);
  if (bind(fd->get(), any.get(), any.length) != 0) return fail("bind " + where + ": " + std::strerror(errno));
  if (options.multicast) {
    ip_mreqn membership{};
    inet_pton(AF_INET, kPrimaryGroup, &membership.imr_multiaddr);
    membership.imr_ifindex = ifindex;
    if (auto ok = set_option(fd->get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership,
                             ("join " + std::string(kPrimaryGroup) + " for " + where).c_str());
        !ok) {
      return std::unexpected(ok.error());
    }
    ip_mreqn out{};
    out.imr_ifindex = ifindex;
    if (auto ok = set_option(fd->get(), IPPROTO_IP, IP_MULTICAST_IF, &out, sizeof out, "IP_MULTICAST_IF"); !ok) {
      return std::unexpected(ok.error());
    }
    // Annex C: the messages stay on the link (a boundary clock forwards, routers never do).
    const int ttl = 1;
    if (auto ok = set_option(fd->get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "IP_MULTICAST_TTL"); !ok) {
      return std::unexpected(ok.error());
    }
    const int loop = options.loop ? 1 : 0;
    if (auto ok = set_option(fd->get(), IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop, "IP_MULTICAST_LOOP"); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  return ntohs(local.sin_port);
}

}  // namespace

std::optional<SocketAddress> ipv4_address(const std::string& text, std::uint16_t port) {
  SocketAddress out;
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) != 1) return std::nullopt;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  out.length = sizeof(sockaddr_in);
  return out;
}

Result<PtpSocket> PtpSocket::open(const PtpSocketOptions& options) {
  int ifindex = 0;
  if (!options.interface.empty()) {
    ifindex = interface_index(options.interface);
    if (ifindex == 0) return fail("PTP: no interface " + options.interface);
  } else if (options.multicast) {
    return fail("PTP: multicast needs an interface");
  }
  auto event = open_channel(options, options.event_port, ifindex);
  if (!event) return std::unexpected(event.error());
  auto general = open_channel(options, options.general_port, ifindex);
  if (!general) return std::unexpected(general.error());
  const bool hardware = options.hardware && enable_timestamping(event->get(), true).has_value();
  const bool kernel = hardware || enable_timestamping(event->get(), false).has_value();
  PtpSocketOptions bound = options;
  bound.event_port = local_port(event->get());
  bound.general_port = local_port(general->get());
  return PtpSocket(std::move(*event), std::move(*general), bound, kernel, hardware);
}

SocketAddress PtpSocket::multicast_destination(PtpChannel channel) const {
  return *ipv4_address(kPrimaryGroup, port(channel));
}

Result<std::uint32_t> PtpSocket::send(PtpChannel channel, std::span<const std::uint8_t> bytes, const SocketAddress& to) {
  if (sendto(fd(channel), bytes.data(), bytes.size(), 0, to.get(), to.length) != static_cast<ssize_t>(bytes.size())) {
    return fail("PTP send to " + to.to_string() + ": " + std::strerror(errno));
  }
  return channel == PtpChannel::kEvent ? next_id_++ : 0;
}

Result<std::optional<PtpDatagram>> PtpSocket::receive(PtpChannel channel, std::span<std::uint8_t> buffer) {
  auto packet = receive_packet(fd(channel), buffer);
  if (!packet) return std::unexpected(packet.error());
  if (!*packet) return std::optional<PtpDatagram>();
  PtpDatagram datagram;
  datagram.channel = channel;
  datagram.length = (*packet)->length;
  datagram.from.storage = (*packet)->from;
  datagram.from.length = (*packet)->from_length;
  datagram.stamps = (*packet)->stamps;
  return std::optional(datagram);
}

TxStamps PtpSocket::take_tx_stamps(std::uint32_t id) {
  if (options_.portable) {
    TxStamps found;
    if (auto tx = read_tx_stamp(event_.get()); tx && *tx) found.merge(**tx);
    return found;
  }
  return kairos::take_tx_stamps(event_.get(), id, hardware_stamps_);
}

}  // namespace kairos
