#include "hwts/packet_timestamps.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/errqueue.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace kairos {
namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

double seconds_between(const timespec& a, const timespec& b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) + static_cast<double>(b.tv_nsec - a.tv_nsec) * 1e-9;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool wait_readable(int fd, short events) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, 1000) == 1;
}

TEST(PacketTimestamps, LoopbackGivesKernelRxAndTxStampsMatchedById) {
  Fd server(socket(AF_INET, SOCK_DGRAM, 0));
  Fd client(socket(AF_INET, SOCK_DGRAM, 0));
  ASSERT_GE(server.fd, 0);
  auto addr = loopback(0);
  ASSERT_EQ(bind(server.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(server.fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_TRUE(enable_timestamping(server.fd, false));
  ASSERT_TRUE(enable_timestamping(client.fd, false));
  ASSERT_EQ(connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  // The kernel switches RX stamping on through deferred work (see hold_rx_timestamping): wait
  // until a packet arrives stamped, bounded, then drain what the warm-up left behind.
  std::vector<std::uint8_t> warm(64);
  bool stamped = false;
  for (int attempt = 0; attempt < 100 && !stamped; ++attempt) {
    const std::uint8_t probe[8] = {0xee};
    ASSERT_EQ(send(client.fd, probe, sizeof probe, 0), 8);
    ASSERT_TRUE(wait_readable(server.fd, POLLIN));
    auto rx = receive_packet(server.fd, warm);
    ASSERT_TRUE(rx && rx->has_value());
    stamped = (*rx)->stamps.best().has_value();
    if (!stamped) usleep(10'000);
  }
  ASSERT_TRUE(stamped) << "software RX stamps never arrived";
  std::uint32_t next_id = 0;
  for (;;) {
    auto tx = read_tx_stamp(client.fd);
    ASSERT_TRUE(tx) << tx.error().message;
    if (!tx->has_value()) break;
    next_id = (*tx)->id + 1;
  }

  const timespec before = realtime_now();
  for (int i = 0; i < 3; ++i) {
    const std::uint8_t payload[48] = {static_cast<std::uint8_t>(i)};
    ASSERT_EQ(send(client.fd, payload, sizeof payload, 0), 48);
  }

  for (std::uint32_t expected_id = next_id; expected_id < next_id + 3; ++expected_id) {
    ASSERT_TRUE(wait_readable(client.fd, 0));  // POLLERR is always reported
    auto tx = read_tx_stamp(client.fd);
    ASSERT_TRUE(tx) << tx.error().message;
    ASSERT_TRUE(tx->has_value());
    EXPECT_EQ((*tx)->id, expected_id);
    EXPECT_EQ((*tx)->stamp.source, StampSource::kKernel);
    EXPECT_GE(seconds_between(before, (*tx)->stamp.time), 0.0);
    EXPECT_LT(seconds_between(before, (*tx)->stamp.time), 1.0);
  }
  auto none = read_tx_stamp(client.fd);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  std::vector<std::uint8_t> buffer(2048);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(wait_readable(server.fd, POLLIN));
    auto rx = receive_packet(server.fd, buffer);
    ASSERT_TRUE(rx) << rx.error().message;
    ASSERT_TRUE(rx->has_value());
    EXPECT_EQ((*rx)->length, 48u);
    EXPECT_EQ(buffer[0], i);
    auto stamp = (*rx)->stamps.best();
    ASSERT_TRUE(stamp);
    EXPECT_EQ(stamp->source, StampSource::kKernel);
    EXPECT_LT(seconds_between(before, stamp->time), 1.0);
  }
  auto empty = receive_packet(server.fd, buffer);
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_value());
}

// The server's way (daemon/ntp_server.cpp): the stamps of a batch of sends in one call, in send
// order, and a short count once the queue is empty.
TEST(PacketTimestamps, ReadTxStampsTakesABatchInOneCall) {
  Fd server(socket(AF_INET, SOCK_DGRAM, 0));
  Fd client(socket(AF_INET, SOCK_DGRAM, 0));
  auto addr = loopback(0);
  ASSERT_EQ(bind(server.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(server.fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_TRUE(enable_timestamping(client.fd, false));
  ASSERT_EQ(connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  const timespec before = realtime_now();
  constexpr std::uint32_t kSent = 5;
  for (std::uint32_t i = 0; i < kSent; ++i) {
    const std::uint8_t payload[48] = {static_cast<std::uint8_t>(i)};
    ASSERT_EQ(send(client.fd, payload, sizeof payload, 0), 48);
  }
  ASSERT_TRUE(wait_readable(client.fd, 0));  // POLLERR
  std::vector<TxStamp> out(8);
  auto batch = read_tx_stamps(client.fd, out);
  ASSERT_TRUE(batch) << batch.error().message;
  // Loopback stamps each send within the send call: all five are queued already.
  ASSERT_EQ(batch->read, kSent);
  ASSERT_EQ(batch->stamps, kSent);
  for (std::uint32_t i = 0; i < kSent; ++i) {
    EXPECT_EQ(out[i].id, i);  // OPT_ID counts from 0 since timestamping was enabled
    EXPECT_EQ(out[i].stamp.source, StampSource::kKernel);
    EXPECT_GE(seconds_between(before, out[i].stamp.time), 0.0);
    EXPECT_LT(seconds_between(before, out[i].stamp.time), 1.0);
  }
  auto empty = read_tx_stamps(client.fd, out);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->read, 0u);
  EXPECT_EQ(empty->stamps, 0u);

  // Never more than asked: the rest stays queued for the next call.
  for (std::uint32_t i = 0; i < 3; ++i) {
    const std::uint8_t payload[48] = {};
    ASSERT_EQ(send(client.fd, payload, sizeof payload, 0), 48);
  }
  auto two = read_tx_stamps(client.fd, std::span<TxStamp>(out).first(2));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->stamps, 2u);
  EXPECT_EQ(out[0].id, kSent);
  auto rest = read_tx_stamps(client.fd, out);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->stamps, 1u);
  EXPECT_EQ(out[0].id, kSent + 2);
}

TEST(PacketTimestamps, GarbageControlBufferYieldsNoStamps) {
  std::vector<std::uint8_t> control(64, 0xff);
  auto stamps = parse_control_stamps(control);
  EXPECT_FALSE(stamps.best());
  EXPECT_FALSE(stamps.tx_id);
  // A header claiming more bytes than the buffer holds must be ignored, not read.
  alignas(cmsghdr) std::uint8_t buf[CMSG_SPACE(sizeof(timespec) * 3)] = {};
  auto* c = reinterpret_cast<cmsghdr*>(buf);
  c->cmsg_len = 4096;
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  EXPECT_FALSE(parse_control_stamps({buf, sizeof buf}).best());
  EXPECT_FALSE(parse_control_stamps({}).best());
}

// Found by fuzz_control_stamps: a length so large that a pointer sum wraps past the end.
TEST(PacketTimestamps, HugeCmsgLengthIsRejectedNotWrapped) {
  alignas(cmsghdr) std::uint8_t buf[CMSG_SPACE(sizeof(timespec) * 3)] = {};
  auto* c = reinterpret_cast<cmsghdr*>(buf);
  c->cmsg_len = ~std::size_t{0} - 8;
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  EXPECT_FALSE(parse_control_stamps({buf, sizeof buf}).best());
}

TEST(PacketTimestamps, HardwareStampIsPreferred) {
  alignas(cmsghdr) std::uint8_t buf[CMSG_SPACE(sizeof(timespec) * 3)] = {};
  auto* c = reinterpret_cast<cmsghdr*>(buf);
  c->cmsg_len = CMSG_LEN(sizeof(timespec) * 3);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  timespec ts[3] = {{100, 1}, {0, 0}, {200, 2}};
  std::memcpy(CMSG_DATA(c), ts, sizeof ts);
  auto stamps = parse_control_stamps({buf, sizeof buf});
  ASSERT_TRUE(stamps.best());
  EXPECT_EQ(stamps.best()->source, StampSource::kHardware);
  EXPECT_EQ(stamps.best()->time.tv_sec, 200);
  EXPECT_EQ(stamps.software->tv_sec, 100);
}

// A packet socket (PTP over Ethernet) gives its transmit stamps' ids under SOL_PACKET, not
// SOL_IP: the id must be read there too, or no Delay_Req sent over Ethernet finds its stamp.
TEST(PacketTimestamps, APacketSocketsTxStampIdIsRead) {
  alignas(cmsghdr) std::uint8_t buf[CMSG_SPACE(sizeof(timespec) * 3) + CMSG_SPACE(sizeof(sock_extended_err))] = {};
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_len = CMSG_LEN(sizeof(timespec) * 3);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  const timespec ts[3] = {{300, 3}, {0, 0}, {0, 0}};
  std::memcpy(CMSG_DATA(c), ts, sizeof ts);
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_len = CMSG_LEN(sizeof(sock_extended_err));
  c->cmsg_level = SOL_PACKET;
  c->cmsg_type = PACKET_TX_TIMESTAMP;
  sock_extended_err err{};
  err.ee_errno = ENOMSG;
  err.ee_origin = SO_EE_ORIGIN_TIMESTAMPING;
  err.ee_data = 41;
  std::memcpy(CMSG_DATA(c), &err, sizeof err);
  const ControlStamps stamps = parse_control_stamps({buf, sizeof buf});
  ASSERT_TRUE(stamps.tx_id.has_value());
  EXPECT_EQ(*stamps.tx_id, 41u);
  ASSERT_TRUE(stamps.software.has_value());
  EXPECT_EQ(stamps.software->tv_sec, 300);
}


// Issue 21 item 6: stamps bound to a PTP virtual clock (SOF_TIMESTAMPING_BIND_PHC).
TEST(PacketTimestamps, TheBoundRequestCarriesBindPhcAndTheVclock) {
  const so_timestamping r = bound_timestamping_request(SOF_TIMESTAMPING_RX_HARDWARE, 7);
  EXPECT_TRUE(r.flags & SOF_TIMESTAMPING_BIND_PHC);
  EXPECT_TRUE(r.flags & SOF_TIMESTAMPING_RX_HARDWARE);
  EXPECT_EQ(r.bind_phc, 7);
}

// The kernel takes the binding only for a vclock of the bound NIC's PHC; loopback has none, and
// the refusal says which clock and NIC (kairosd checks the vclock at start, this is the backstop).
TEST(PacketTimestamps, ABindingTheKernelRefusesIsAClearError) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  auto bound = enable_bound_timestamping(fd, PhcBinding{.interface = "lo", .vclock = 0});
  ::close(fd);
  ASSERT_FALSE(bound);
  const std::string& m = bound.error().message;
  EXPECT_TRUE(m.find("/dev/ptp0 on lo") != std::string::npos || m.find("SO_BINDTODEVICE lo") != std::string::npos) << m;
}

}  // namespace
}  // namespace kairos
