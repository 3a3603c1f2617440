#include "daemon/ptp_address.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>

#include <cstdio>
#include <cstring>

namespace kairos {

Result<PtpTransport> parse_ptp_transport(const std::string& text) {
  if (text == "udpv4") return PtpTransport::kUdpV4;
  if (text == "udpv6") return PtpTransport::kUdpV6;
  if (text == "l2") return PtpTransport::kL2;
  return fail("transport must be \"udpv4\", \"udpv6\" or \"l2\", not \"" + text + "\"");
}

const char* to_string(PtpTransport transport) {
  switch (transport) {
    case PtpTransport::kUdpV4: return "udpv4";
    case PtpTransport::kUdpV6: return "udpv6";
    case PtpTransport::kL2: return "l2";
  }
  return "?";
}

const char* address_kind(PtpTransport transport) {
  switch (transport) {
    case PtpTransport::kUdpV4: return "an IPv4 address, like \"192.0.2.1\"";
    case PtpTransport::kUdpV6: return "an IPv6 address, like \"2001:db8::1\"";
    case PtpTransport::kL2: return "a MAC address, like \"02:00:5e:10:00:01\"";
  }
  return "?";
}

std::optional<SocketAddress> ipv4_address(const std::string& text, std::uint16_t port) {
  SocketAddress out;
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) != 1) return std::nullopt;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  out.length = sizeof(sockaddr_in);
  return out;
}

std::optional<SocketAddress> ipv6_address(const std::string& text, std::uint16_t port, int ifindex) {
  SocketAddress out;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) != 1) return std::nullopt;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  // The kernel refuses a link-scope destination without its link; a global one ignores it.
  if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr)) {
    sin6->sin6_scope_id = static_cast<std::uint32_t>(ifindex);
  }
  out.length = sizeof(sockaddr_in6);
  return out;
}

std::optional<SocketAddress> mac_address(const std::array<std::uint8_t, 6>& mac, int ifindex) {
  SocketAddress out;
  auto* sll = reinterpret_cast<sockaddr_ll*>(&out.storage);
  sll->sll_family = AF_PACKET;
  sll->sll_protocol = htons(kPtpEthertype);
  sll->sll_ifindex = ifindex;
  sll->sll_halen = ETH_ALEN;
  std::memcpy(sll->sll_addr, mac.data(), mac.size());
  out.length = sizeof(sockaddr_ll);
  return out;
}

std::optional<SocketAddress> mac_address(const std::string& text, int ifindex) {
  // Six pairs of hex digits with one separator, ':' or '-', used throughout.
  if (text.size() != 17) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  std::array<std::uint8_t, 6> mac{};
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const std::size_t at = i * 3;
    const int high = hex(text[at]);
    const int low = hex(text[at + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    if (i + 1 < mac.size() && text[at + 2] != separator) return std::nullopt;
    mac[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return mac_address(mac, ifindex);
}

std::string ptp_ipv6_group(std::uint8_t scope) {
  char text[16];
  std::snprintf(text, sizeof text, "ff0%x::181", scope & 0x0f);
  return text;
}

std::optional<SocketAddress> ptp_address(PtpTransport transport, const std::string& text, std::uint16_t port,
                                         int ifindex) {
  switch (transport) {
    case PtpTransport::kUdpV4: return ipv4_address(text, port);
    case PtpTransport::kUdpV6: return ipv6_address(text, port, ifindex);
    case PtpTransport::kL2: return mac_address(text, ifindex);
  }
  return std::nullopt;
}

std::optional<std::string> canonical_ptp_address(PtpTransport transport, const std::string& text) {
  auto address = ptp_address(transport, text, 0, 0);
  if (!address) return std::nullopt;
  return address->host();
}

}  // namespace kairos
