// The PTP port's sockets over loopback: event datagrams arrive with kernel RX stamps and leave
// with kernel TX stamps found by their OPT_ID; general ones arrive unstamped on their own socket.
// The same over UDPv6, and over Ethernet (one packet socket, root only) on lo.
#include "daemon/ptp_socket.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <cmath>
#include <cerrno>
#include <vector>

namespace kairos {
namespace {

SocketAddress loopback(std::uint16_t port) {
  SocketAddress out;
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin->sin_port = htons(port);
  out.length = sizeof(sockaddr_in);
  return out;
}

// Ports the kernel picks (319/320 need privileges, and fixed ones collide with other tests').
PtpSocket open_unicast(PtpTransport transport = PtpTransport::kUdpV4) {
  PtpSocketOptions options;
  options.transport = transport;
  options.multicast = false;
  options.event_port = 0;
  options.general_port = 0;
  auto socket = PtpSocket::open(options);
  if (!socket) throw std::runtime_error(socket.error().message);
  return std::move(*socket);
}

// The kernel turns RX stamping on for the whole stack a moment after the first socket asks
// (net_enable_timestamp defers it to a work queue), so on an otherwise quiet host the first
// datagrams can arrive unstamped. Sending until one is stamped waits that moment out.
std::optional<PtpDatagram> send_until_stamped(PtpSocket& from, PtpSocket& to, std::span<const std::uint8_t> bytes,
                                              const SocketAddress& destination, std::span<std::uint8_t> buffer,
                                              std::uint32_t* id);

std::optional<PtpDatagram> wait_receive(PtpSocket& socket, PtpChannel channel, std::span<std::uint8_t> buffer) {
  pollfd pfd{socket.fd(channel), POLLIN, 0};
  if (poll(&pfd, 1, 2000) != 1) return std::nullopt;
  auto datagram = socket.receive(channel, buffer);
  if (!datagram) return std::nullopt;
  return *datagram;
}

std::optional<PtpDatagram> send_until_stamped(PtpSocket& from, PtpSocket& to, std::span<const std::uint8_t> bytes,
                                              const SocketAddress& destination, std::span<std::uint8_t> buffer,
                                              std::uint32_t* id) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto sent = from.send(PtpChannel::kEvent, bytes, destination);
    if (!sent) return std::nullopt;
    *id = *sent;
    auto got = wait_receive(to, PtpChannel::kEvent, buffer);
    if (!got) return std::nullopt;
    if (got->stamps.software) return got;
    poll(nullptr, 0, 10);
  }
  return std::nullopt;
}

TEST(PtpSocket, EventDatagramsCarryKernelStampsBothWays) {
  PtpSocket a = open_unicast();
  PtpSocket b = open_unicast();
  const std::uint16_t b_port = b.port(PtpChannel::kEvent);
  ASSERT_TRUE(a.kernel_stamps());

  const std::array<std::uint8_t, 44> sync{0x00, 0x02};
  const timespec before = realtime_now();
  std::array<std::uint8_t, 1500> buffer{};
  std::uint32_t id = 0;
  auto got = send_until_stamped(a, b, sync, loopback(b_port), buffer, &id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->length, sync.size());
  EXPECT_EQ(got->channel, PtpChannel::kEvent);
  EXPECT_EQ(got->from.to_string(), "127.0.0.1:" + std::to_string(a.port(PtpChannel::kEvent)));
  ASSERT_TRUE(got->stamps.software.has_value());
  const timespec rx = *got->stamps.software;
  EXPECT_GE(rx.tv_sec, before.tv_sec);

  const TxStamps tx = a.take_tx_stamps(id);
  ASSERT_TRUE(tx.software.has_value());
  // Sent before it arrived, and both within this test's run.
  const auto seconds = [](const timespec& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9; };
  const double tx_s = seconds(*tx.software);
  const double rx_s = seconds(rx);
  EXPECT_LE(tx_s, rx_s);
  EXPECT_LT(rx_s - tx_s, 1.0);
}

TEST(PtpSocket, GeneralDatagramsUseTheirOwnPortAndNoStamp) {
  PtpSocket a = open_unicast();
  PtpSocket b = open_unicast();
  const std::array<std::uint8_t, 64> announce{0x0b, 0x02};
  auto id = a.send(PtpChannel::kGeneral, announce, loopback(b.port(PtpChannel::kGeneral)));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, 0u);
  std::array<std::uint8_t, 1500> buffer{};
  auto got = wait_receive(b, PtpChannel::kGeneral, buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->length, announce.size());
  EXPECT_EQ(buffer[0], 0x0b);
  EXPECT_FALSE(got->stamps.software.has_value());
  // Nothing reached the event socket.
  auto none = b.receive(PtpChannel::kEvent, buffer);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST(PtpSocket, TxStampsOfEarlierDatagramsAreNotTakenForLaterOnes) {
  PtpSocket a = open_unicast();
  PtpSocket b = open_unicast();
  const std::uint16_t b_port = b.port(PtpChannel::kEvent);
  const std::array<std::uint8_t, 44> message{};
  auto first = a.send(PtpChannel::kEvent, message, loopback(b_port));
  auto second = a.send(PtpChannel::kEvent, message, loopback(b_port));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*second, *first + 1);
  // The first's stamp is skipped on the way to the second's; asking for the first again finds none.
  EXPECT_TRUE(a.take_tx_stamps(*second).software.has_value());
  EXPECT_FALSE(a.take_tx_stamps(*first).software.has_value());
}

TEST(PtpSocket, MulticastNeedsAnInterfaceAndAnUnknownOneIsNamed) {
  PtpSocketOptions options;
  options.event_port = 0;
  options.general_port = 0;
  auto no_interface = PtpSocket::open(options);
  ASSERT_FALSE(no_interface.has_value());
  EXPECT_NE(no_interface.error().message.find("needs an interface"), std::string::npos);
  options.interface = "kairos-none0";
  auto unknown = PtpSocket::open(options);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("kairos-none0"), std::string::npos);
}

TEST(PtpSocket, MulticastOnLoopbackReachesTheGroup) {
  PtpSocketOptions options;
  options.interface = "lo";
  options.loop = true;
  options.event_port = 0;
  options.general_port = 0;
  auto socket = PtpSocket::open(options);
  ASSERT_TRUE(socket.has_value()) << socket.error().message;
  EXPECT_EQ(socket->multicast_destination(PtpChannel::kEvent).to_string(),
            "224.0.1.129:" + std::to_string(socket->port(PtpChannel::kEvent)));
  const std::array<std::uint8_t, 44> delay_req{0x01, 0x02};
  std::array<std::uint8_t, 1500> buffer{};
  std::uint32_t id = 0;
  auto got = send_until_stamped(*socket, *socket, delay_req, socket->multicast_destination(PtpChannel::kEvent), buffer, &id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(buffer[0], 0x01);
}

TEST(PtpSocket, Udpv6EventDatagramsCarryKernelStampsBothWays) {
  PtpSocket a = open_unicast(PtpTransport::kUdpV6);
  PtpSocket b = open_unicast(PtpTransport::kUdpV6);
  ASSERT_TRUE(a.kernel_stamps());
  EXPECT_FALSE(a.one_socket());
  auto to = b.unicast_destination("::1", PtpChannel::kEvent);
  ASSERT_TRUE(to);
  EXPECT_EQ(to->to_string(), "[::1]:" + std::to_string(b.port(PtpChannel::kEvent)));
  const std::array<std::uint8_t, 44> sync{0x00, 0x02};
  std::array<std::uint8_t, 1500> buffer{};
  std::uint32_t id = 0;
  auto got = send_until_stamped(a, b, sync, *to, buffer, &id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->from.host(), "::1");
  EXPECT_TRUE(a.take_tx_stamps(id).software.has_value());
  // An IPv4 master is no address of this port's.
  EXPECT_FALSE(a.unicast_destination("127.0.0.1", PtpChannel::kEvent));
}

TEST(PtpSocket, Udpv6MulticastGoesToFf02Colon181OnTheLink) {
  PtpSocketOptions options;
  options.transport = PtpTransport::kUdpV6;
  options.interface = "lo";
  options.loop = true;
  options.event_port = 0;
  options.general_port = 0;
  auto socket = PtpSocket::open(options);
  if (!socket && socket.error().message.find("join") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 multicast on lo here: " << socket.error().message;
  }
  ASSERT_TRUE(socket.has_value()) << socket.error().message;
  const SocketAddress group = socket->multicast_destination(PtpChannel::kGeneral);
  EXPECT_EQ(group.to_string(), "[ff02::181]:" + std::to_string(socket->port(PtpChannel::kGeneral)));
  EXPECT_NE(reinterpret_cast<const sockaddr_in6*>(&group.storage)->sin6_scope_id, 0u);
}

// Over Ethernet: a packet socket on lo (root only: CAP_NET_RAW), frames to 01-1B-19-00-00-00.
std::optional<PtpSocket> open_ethernet_on_lo() {
  PtpSocketOptions options;
  options.transport = PtpTransport::kL2;
  options.interface = "lo";
  auto socket = PtpSocket::open(options);
  if (!socket) {
    if (socket.error().message.find("CAP_NET_RAW") != std::string::npos) return std::nullopt;
    throw std::runtime_error(socket.error().message);
  }
  return std::move(*socket);
}

TEST(PtpSocket, EthernetCarriesBothChannelsOnOneStampedSocket) {
  auto a = open_ethernet_on_lo();
  if (!a) GTEST_SKIP() << "AF_PACKET needs CAP_NET_RAW";
  auto b = open_ethernet_on_lo();
  ASSERT_TRUE(b);
  EXPECT_TRUE(a->one_socket());
  EXPECT_EQ(a->fd(PtpChannel::kEvent), a->fd(PtpChannel::kGeneral));
  ASSERT_TRUE(a->kernel_stamps());
  const SocketAddress group = a->multicast_destination(PtpChannel::kEvent);
  EXPECT_EQ(group.host(), "01:1b:19:00:00:00");

  // A general message first: its frame takes an OPT_ID too (stamping is on for the socket), so
  // the Sync after it is number 1, and its stamp is found under that.
  const std::array<std::uint8_t, 64> announce{0x0b, 0x02};
  auto general_id = a->send(PtpChannel::kGeneral, announce, group);
  ASSERT_TRUE(general_id.has_value()) << general_id.error().message;
  std::array<std::uint8_t, 1500> buffer{};
  auto got = wait_receive(*b, PtpChannel::kGeneral, buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->channel, PtpChannel::kGeneral);
  EXPECT_EQ(buffer[0], 0x0b);
  EXPECT_EQ(got->length, announce.size());
  // lo's MAC is all zeros: the sender is spelled as a MAC all the same.
  EXPECT_EQ(got->from.host(), "00:00:00:00:00:00");

  const std::array<std::uint8_t, 44> sync{0x00, 0x02};
  std::uint32_t id = 0;
  got = send_until_stamped(*a, *b, sync, group, buffer, &id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->channel, PtpChannel::kEvent);
  EXPECT_EQ(buffer[0], 0x00);
  // A 44-octet Sync is padded to Ethernet's 60-octet minimum frame on the wire: at least its own.
  EXPECT_GE(got->length, sync.size());
  EXPECT_GE(id, 1u);
  const TxStamps tx = a->take_tx_stamps(id);
  ASSERT_TRUE(tx.software.has_value());
  const auto seconds = [](const timespec& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9; };
  // One frame's two kernel stamps on the system clock: close together. Not ordered: on lo the
  // kernel may stamp the frame's arrival before the driver stamps its departure (seen under ASan,
  // a fraction of a microsecond apart).
  EXPECT_LT(std::abs(seconds(*got->stamps.software) - seconds(*tx.software)), 1e-3);

}

// A unicast port's socket joins no group, but lo (as veth) hands it every frame of the ethertype:
// frames to the group are not its, frames to its MAC are.
TEST(PtpSocket, UnicastEthernetTakesFramesToItsMacOnly) {
  auto a = open_ethernet_on_lo();
  if (!a) GTEST_SKIP() << "AF_PACKET needs CAP_NET_RAW";
  PtpSocketOptions options;
  options.transport = PtpTransport::kL2;
  options.interface = "lo";
  options.multicast = false;
  auto b = PtpSocket::open(options);
  ASSERT_TRUE(b.has_value()) << b.error().message;
  std::array<std::uint8_t, 1500> buffer{};
  const std::array<std::uint8_t, 44> to_group{0x00, 0x02, 0x00, 0x2c, 0x01};
  ASSERT_TRUE(a->send(PtpChannel::kEvent, to_group, a->multicast_destination(PtpChannel::kEvent)));
  const std::array<std::uint8_t, 44> to_us{0x00, 0x02, 0x00, 0x2c, 0x02};
  // lo's MAC is all zeros.
  ASSERT_TRUE(a->send(PtpChannel::kEvent, to_us, *a->unicast_destination("00:00:00:00:00:00", PtpChannel::kEvent)));
  auto got = wait_receive(*b, PtpChannel::kEvent, buffer);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(buffer[4], 0x02);  // the one to its MAC; the group's was passed over
  auto none = b->receive(PtpChannel::kEvent, buffer);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST(PtpSocket, EthernetNeedsAnInterfaceAndSendsToAMastersMac) {
  PtpSocketOptions options;
  options.transport = PtpTransport::kL2;
  options.multicast = false;
  auto no_interface = PtpSocket::open(options);
  ASSERT_FALSE(no_interface.has_value());
  EXPECT_NE(no_interface.error().message.find("needs an interface"), std::string::npos);
  auto a = open_ethernet_on_lo();
  if (!a) GTEST_SKIP() << "AF_PACKET needs CAP_NET_RAW";
  auto to = a->unicast_destination("02:00:5E:10:00:01", PtpChannel::kGeneral);
  ASSERT_TRUE(to);
  EXPECT_EQ(to->host(), "02:00:5e:10:00:01");
  EXPECT_FALSE(a->unicast_destination("192.0.2.1", PtpChannel::kGeneral));
}

}  // namespace
}  // namespace kairos
