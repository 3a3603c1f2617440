// PTP's transports and a master's address in each: what the configuration accepts, how the port
// spells it (as the kernel's sender addresses are spelled), and where a message to it goes.
#include "daemon/ptp_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>

#include <cstring>

namespace kairos {
namespace {

TEST(PtpAddress, TransportsAreNamedAndOthersRefused) {
  EXPECT_EQ(*parse_ptp_transport("udpv4"), PtpTransport::kUdpV4);
  EXPECT_EQ(*parse_ptp_transport("udpv6"), PtpTransport::kUdpV6);
  EXPECT_EQ(*parse_ptp_transport("l2"), PtpTransport::kL2);
  for (PtpTransport t : {PtpTransport::kUdpV4, PtpTransport::kUdpV6, PtpTransport::kL2}) {
    EXPECT_EQ(*parse_ptp_transport(to_string(t)), t);
  }
  auto bad = parse_ptp_transport("ethernet");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"ethernet\""), std::string::npos);
  EXPECT_FALSE(parse_ptp_transport("UDPv4"));
}

TEST(PtpAddress, EachTransportTakesOnlyItsOwnAddresses) {
  EXPECT_TRUE(canonical_ptp_address(PtpTransport::kUdpV4, "192.0.2.1"));
  EXPECT_FALSE(canonical_ptp_address(PtpTransport::kUdpV4, "2001:db8::1"));
  EXPECT_FALSE(canonical_ptp_address(PtpTransport::kUdpV4, "gm.example"));
  EXPECT_TRUE(canonical_ptp_address(PtpTransport::kUdpV6, "2001:db8::1"));
  EXPECT_FALSE(canonical_ptp_address(PtpTransport::kUdpV6, "192.0.2.1"));
  EXPECT_FALSE(canonical_ptp_address(PtpTransport::kUdpV6, "02:00:5e:10:00:01"));
  EXPECT_TRUE(canonical_ptp_address(PtpTransport::kL2, "02:00:5e:10:00:01"));
  EXPECT_FALSE(canonical_ptp_address(PtpTransport::kL2, "2001:db8::1"));
  // Six pairs, one separator throughout, hex digits only.
  for (const char* bad : {"02:00:5e:10:00", "02:00:5e:10:00:01:02", "02:00-5e:10:00:01", "2:00:5e:10:00:01:0",
                          "02:00:5e:10:00:0g", "02.00.5e.10.00.01", ""}) {
    EXPECT_FALSE(canonical_ptp_address(PtpTransport::kL2, bad)) << bad;
  }
}

// The port finds a unicast master by comparing the configured text with each sender's: both must
// come out the same way however the operator wrote it.
TEST(PtpAddress, CanonicalTextIsTheKernelSendersSpelling) {
  EXPECT_EQ(*canonical_ptp_address(PtpTransport::kUdpV6, "2001:DB8:0:0::0001"), "2001:db8::1");
  EXPECT_EQ(*canonical_ptp_address(PtpTransport::kL2, "02-00-5E-10-00-0A"), "02:00:5e:10:00:0a");
  EXPECT_EQ(*canonical_ptp_address(PtpTransport::kUdpV4, "192.0.2.1"), "192.0.2.1");
  // A sender as recvmsg gives it over Ethernet.
  SocketAddress from;
  auto* sll = reinterpret_cast<sockaddr_ll*>(&from.storage);
  sll->sll_family = AF_PACKET;
  sll->sll_halen = 6;
  const std::uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a};
  std::memcpy(sll->sll_addr, mac, sizeof mac);
  from.length = sizeof(sockaddr_ll);
  EXPECT_EQ(from.host(), "02:00:5e:10:00:0a");
  EXPECT_EQ(from.to_string(), "02:00:5e:10:00:0a");
}

TEST(PtpAddress, DestinationsCarryPortScopeAndEthertype) {
  auto v4 = ptp_address(PtpTransport::kUdpV4, "192.0.2.1", 320, 7);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->to_string(), "192.0.2.1:320");

  // A link-local master means nothing without its link: the interface is its scope.
  auto link = ptp_address(PtpTransport::kUdpV6, "fe80::1", 319, 7);
  ASSERT_TRUE(link);
  EXPECT_EQ(link->to_string(), "[fe80::1]:319");
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&link->storage)->sin6_scope_id, 7u);
  auto global = ptp_address(PtpTransport::kUdpV6, "2001:db8::1", 319, 7);
  ASSERT_TRUE(global);
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&global->storage)->sin6_scope_id, 0u);
  auto group = ipv6_address(ptp_ipv6_group(kPtpDefaultIpv6Scope), 319, 7);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->to_string(), "[ff02::181]:319");
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&group->storage)->sin6_scope_id, 7u);
  EXPECT_EQ(ptp_ipv6_group(0xe), "ff0e::181");

  auto mac = ptp_address(PtpTransport::kL2, "01:1b:19:00:00:00", 319, 7);
  ASSERT_TRUE(mac);
  const auto* sll = reinterpret_cast<const sockaddr_ll*>(&mac->storage);
  EXPECT_EQ(sll->sll_family, AF_PACKET);
  EXPECT_EQ(ntohs(sll->sll_protocol), 0x88F7);
  EXPECT_EQ(sll->sll_ifindex, 7);
  EXPECT_EQ(sll->sll_halen, 6);
  EXPECT_EQ(std::memcmp(sll->sll_addr, kPtpPrimaryMac.data(), 6), 0);
  EXPECT_EQ(mac->length, sizeof(sockaddr_ll));
}

}  // namespace
}  // namespace kairos
