#include "daemon/ptp_socket.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "hwts/ioctl_socket.hpp"

namespace kairos {
namespace {

// IEEE 1588-2019 Annex C.3: the primary multicast group of every message but the peer-delay ones.
constexpr const char* kPrimaryGroup = "224.0.1.129";

Result<void> set_option(int fd, int level, int name, const void* value, socklen_t length, const std::string& what) {
  if (setsockopt(fd, level, name, value, length) != 0) return fail(what + ": " + std::strerror(errno));
  return {};
}

Result<void> bind_to_device(int fd, const std::string& interface, const std::string& where) {
  return set_option(fd, SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(), static_cast<socklen_t>(interface.size()),
                    "bind " + where + " to its NIC");
}

// Joins 224.0.1.129 on the NIC and sends multicast there, one hop only.
Result<void> join_ipv4(int fd, const PtpSocketOptions& options, int ifindex, const std::string& where) {
  ip_mreqn membership{};
  inet_pton(AF_INET, kPrimaryGroup, &membership.imr_multiaddr);
  membership.imr_ifindex = ifindex;
  if (auto ok = set_option(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership,
                           "join " + std::string(kPrimaryGroup) + " for " + where);
      !ok) {
    return ok;
  }
  ip_mreqn out{};
  out.imr_ifindex = ifindex;
  if (auto ok = set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, &out, sizeof out, "IP_MULTICAST_IF"); !ok) return ok;
  // Annex C: the messages stay on the link (a boundary clock forwards, routers never do).
  const int ttl = 1;
  if (auto ok = set_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "IP_MULTICAST_TTL"); !ok) return ok;
  const int loop = options.loop ? 1 : 0;
  return set_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop, "IP_MULTICAST_LOOP");
}

// Joins FF0X::181 on the NIC and sends multicast there, one hop only (Annex D).
Result<void> join_ipv6(int fd, const PtpSocketOptions& options, int ifindex, const std::string& where) {
  const std::string group = ptp_ipv6_group(options.ipv6_scope);
  ipv6_mreq membership{};
  inet_pton(AF_INET6, group.c_str(), &membership.ipv6mr_multiaddr);
  membership.ipv6mr_interface = static_cast<unsigned>(ifindex);
  if (auto ok = set_option(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &membership, sizeof membership,
                           "join " + group + " for " + where);
      !ok) {
    return ok;
  }
  if (auto ok = set_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex, "IPV6_MULTICAST_IF"); !ok) {
    return ok;
  }
  const int hops = 1;
  if (auto ok = set_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops, "IPV6_MULTICAST_HOPS"); !ok) {
    return ok;
  }
  const int loop = options.loop ? 1 : 0;
  return set_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop, "IPV6_MULTICAST_LOOP");
}

// One of the two UDP sockets: bound to the port (on the NIC), in the group when multicast.
Result<UniqueFd> open_udp(const PtpSocketOptions& options, std::uint16_t port, int ifindex) {
  const bool v6 = options.transport == PtpTransport::kUdpV6;
  auto fd = open_socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM);
  if (!fd) return std::unexpected(fd.error());
  const std::string where = std::string("PTP ") + (v6 ? "UDPv6" : "UDPv4") + " port " + std::to_string(port) +
                            (options.interface.empty() ? "" : " on " + options.interface);
  if (!options.interface.empty()) {
    if (auto ok = bind_to_device(fd->get(), options.interface, where); !ok) return std::unexpected(ok.error());
  }
  if (v6) {
    // IPv6 only: an IPv4 port on the same NIC binds 319 for itself.
    const int only = 1;
    if (auto ok = set_option(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only, "IPV6_V6ONLY"); !ok) {
      return std::unexpected(ok.error());
    }
  }
  const SocketAddress any = v6 ? *ipv6_address("::", port, 0) : *ipv4_address("0.0.0.0", port);
  if (bind(fd->get(), any.get(), any.length) != 0) return fail("bind " + where + ": " + std::strerror(errno));
  if (options.multicast) {
    auto joined = v6 ? join_ipv6(fd->get(), options, ifindex, where) : join_ipv4(fd->get(), options, ifindex, where);
    if (!joined) return std::unexpected(joined.error());
  }
  return fd;
}

// The one Ethernet socket: PTP's ethertype on the NIC, in 01-1B-19-00-00-00 when multicast.
// SOCK_DGRAM: the kernel writes and strips the Ethernet header (and its VLAN tag), so no header
// of the wire is parsed here; the sender's MAC comes as the sockaddr_ll.
Result<UniqueFd> open_ethernet(const PtpSocketOptions& options, int ifindex) {
  const std::string where = "PTP over Ethernet on " + options.interface;
  UniqueFd fd(socket(AF_PACKET, SOCK_DGRAM, htons(kPtpEthertype)));
  if (!fd) {
    return fail("open " + where + ": " + std::strerror(errno) +
                (errno == EPERM ? " (an AF_PACKET socket needs CAP_NET_RAW)" : ""));
  }
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return std::unexpected(ok.error());
  sockaddr_ll local{};
  local.sll_family = AF_PACKET;
  local.sll_protocol = htons(kPtpEthertype);
  local.sll_ifindex = ifindex;
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    return fail("bind " + where + ": " + std::strerror(errno));
  }
  // A packet socket also reads the frames its host sends (its own Delay_Reqs): not wanted.
  const int ignore = 1;
  if (auto ok = set_option(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore, sizeof ignore,
                           "PACKET_IGNORE_OUTGOING on " + options.interface);
      !ok) {
    return std::unexpected(ok.error());
  }
  if (options.multicast) {
    packet_mreq membership{};
    membership.mr_ifindex = ifindex;
    membership.mr_type = PACKET_MR_MULTICAST;
    membership.mr_alen = ETH_ALEN;
    std::memcpy(membership.mr_address, kPtpPrimaryMac.data(), kPtpPrimaryMac.size());
    if (auto ok = set_option(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership,
                             "join 01:1b:19:00:00:00 for " + where);
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
}

// IEEE 1588-2019 Table 36: messageType 0..3 are event messages, 8..D general ones.
PtpChannel channel_of(std::span<const std::uint8_t> message) {
  return !message.empty() && (message[0] & 0x0f) < 8 ? PtpChannel::kEvent : PtpChannel::kGeneral;
}

}  // namespace

Result<PtpSocket> PtpSocket::open(const PtpSocketOptions& options) {
  int ifindex = 0;
  if (!options.interface.empty()) {
    ifindex = interface_index(options.interface);
    if (ifindex == 0) return fail("PTP: no interface " + options.interface);
  } else if (options.multicast) {
    return fail("PTP: multicast needs an interface");
  } else if (options.transport == PtpTransport::kL2) {
    return fail("PTP over Ethernet needs an interface");
  }
  UniqueFd event;
  UniqueFd general;
  if (options.transport == PtpTransport::kL2) {
    auto fd = open_ethernet(options, ifindex);
    if (!fd) return std::unexpected(fd.error());
    event = std::move(*fd);
  } else {
    auto fd = open_udp(options, options.event_port, ifindex);
    if (!fd) return std::unexpected(fd.error());
    event = std::move(*fd);
    fd = open_udp(options, options.general_port, ifindex);
    if (!fd) return std::unexpected(fd.error());
    general = std::move(*fd);
  }
  const bool hardware = options.hardware && enable_timestamping(event.get(), true).has_value();
  const bool kernel = hardware || enable_timestamping(event.get(), false).has_value();
  PtpSocketOptions bound = options;
  if (general) {
    bound.event_port = local_port(event.get());
    bound.general_port = local_port(general.get());
  }
  return PtpSocket(std::move(event), std::move(general), bound, ifindex, kernel, hardware);
}

SocketAddress PtpSocket::multicast_destination(PtpChannel channel) const {
  switch (options_.transport) {
    case PtpTransport::kUdpV4: return *ipv4_address(kPrimaryGroup, port(channel));
    case PtpTransport::kUdpV6: return *ipv6_address(ptp_ipv6_group(options_.ipv6_scope), port(channel), ifindex_);
    case PtpTransport::kL2: return *mac_address(kPtpPrimaryMac, ifindex_);
  }
  return {};
}

std::optional<SocketAddress> PtpSocket::unicast_destination(const std::string& address, PtpChannel channel) const {
  return ptp_address(options_.transport, address, port(channel), ifindex_);
}

Result<std::uint32_t> PtpSocket::send(PtpChannel channel, std::span<const std::uint8_t> bytes, const SocketAddress& to) {
  if (sendto(fd(channel), bytes.data(), bytes.size(), 0, to.get(), to.length) != static_cast<ssize_t>(bytes.size())) {
    return fail("PTP send to " + to.to_string() + ": " + std::strerror(errno));
  }
  if (channel != PtpChannel::kEvent) {
    if (one_socket()) ++next_id_;
    return 0;
  }
  return next_id_++;
}

namespace {

// A frame a unicast Ethernet port does not take: one to a group. A UDP port that joined no group
// never sees such datagrams, but a packet socket gets every frame of its ethertype the NIC takes
// in (another socket joined the group there, or it has no multicast filter, as veth), and a
// master's multicast stream mixed into its unicast one would be taken as one stream.
bool unwanted_frame(const ReceivedPacket& packet, bool multicast) {
  if (multicast || packet.from.ss_family != AF_PACKET) return false;
  return reinterpret_cast<const sockaddr_ll*>(&packet.from)->sll_pkttype != PACKET_HOST;
}

}  // namespace

Result<std::optional<PtpDatagram>> PtpSocket::receive(PtpChannel channel, std::span<std::uint8_t> buffer) {
  auto packet = receive_packet(fd(channel), buffer);
  // Bounded: the loop's poll comes back for what is left.
  for (int skipped = 0; packet && *packet && unwanted_frame(**packet, options_.multicast) && skipped < 64; ++skipped) {
    packet = receive_packet(fd(channel), buffer);
  }
  if (!packet) return std::unexpected(packet.error());
  if (!*packet || unwanted_frame(**packet, options_.multicast)) return std::optional<PtpDatagram>();
  PtpDatagram datagram;
  datagram.channel = one_socket() ? channel_of(buffer.first((*packet)->length)) : channel;
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
