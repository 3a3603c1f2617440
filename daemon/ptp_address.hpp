#pragma once
// PTP's three transports (IEEE 1588-2019 Annex C UDP/IPv4, Annex D UDP/IPv6, Annex E IEEE 802.3
// Ethernet) and a master's address in each: as the configuration writes it, as the port keeps it
// (the text of a received message's sender, SocketAddress::host()) and as a destination to send
// to. Pure: no socket is opened here.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "clock/result.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

enum class PtpTransport : std::uint8_t { kUdpV4, kUdpV6, kL2 };
// "udpv4", "udpv6" or "l2".
Result<PtpTransport> parse_ptp_transport(const std::string& text);
const char* to_string(PtpTransport transport);
// What an address is in the transport, for messages: "an IPv4 address", "a MAC address"...
const char* address_kind(PtpTransport transport);

// Annex E: PTP's ethertype and the primary multicast address of every message but the
// peer-delay ones, 01-1B-19-00-00-00.
inline constexpr std::uint16_t kPtpEthertype = 0x88F7;
inline constexpr std::array<std::uint8_t, 6> kPtpPrimaryMac{0x01, 0x1b, 0x19, 0x00, 0x00, 0x00};
// Annex D: FF0X::181, X the scope; 2 (link-local) keeps the messages on the link as IPv4's TTL 1
// does (ptp4l's default is 0xE, global: set its udp6_scope to 0x02 to meet).
inline constexpr std::uint8_t kPtpDefaultIpv6Scope = 2;

// A numeric IPv4 address and port ("192.0.2.1"), nullopt for anything else.
std::optional<SocketAddress> ipv4_address(const std::string& text, std::uint16_t port);
// A numeric IPv6 address and port; `ifindex` is the scope of a link-local (or link-scope
// multicast) address, which means nothing without the link it is on.
std::optional<SocketAddress> ipv6_address(const std::string& text, std::uint16_t port, int ifindex);
// A MAC address "02:00:5e:10:00:01" (or with '-') as an AF_PACKET destination on interface
// `ifindex` for PTP's ethertype.
std::optional<SocketAddress> mac_address(const std::string& text, int ifindex);
std::optional<SocketAddress> mac_address(const std::array<std::uint8_t, 6>& mac, int ifindex);
// FF0X::181 with X = scope.
std::string ptp_ipv6_group(std::uint8_t scope);

// An address of the transport: the destination `text` on `port` (UDP; ignored on Ethernet)
// through interface `ifindex`. nullopt when `text` is not an address of that transport.
std::optional<SocketAddress> ptp_address(PtpTransport transport, const std::string& text, std::uint16_t port,
                                         int ifindex);
// `text` as SocketAddress::host() spells a sender of that transport ("2001:db8::1" for
// "2001:DB8:0::1", "02:00:00:00:00:01" for "02-00-00-00-00-01"): the port matches unicast
// masters to the senders of what it receives by this text. nullopt when not such an address.
std::optional<std::string> canonical_ptp_address(PtpTransport transport, const std::string& text);

}  // namespace kairos
