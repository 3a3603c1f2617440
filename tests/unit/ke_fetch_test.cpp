#include "daemon/client/ke_fetch.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace kairos {
namespace {

// A TCP server on loopback that accepts one connection and then does `behave` with it.
class HostileServer {
 public:
  explicit HostileServer(std::function<void(int)> behave) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t length = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &length);
    port_ = ntohs(a.sin_port);
    listen(listener_, 4);
    thread_ = std::thread([this, behave] {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 3000) != 1) return;
      const int fd = accept(listener_, nullptr, nullptr);
      behave(fd);
      close(fd);
    });
  }
  ~HostileServer() {
    thread_.join();
    close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

KeFetchOptions options_for(std::uint16_t port, int timeout_ms) {
  KeFetchOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.system_trust = false;
  options.timeout = std::chrono::milliseconds(timeout_ms);
  return options;
}

TEST(KeFetch, SilentServerTimesOutInsteadOfHanging) {
  HostileServer server([](int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // accept, then say nothing
  });
  const auto start = std::chrono::steady_clock::now();
  auto result = fetch_nts_ke(options_for(server.port(), 300));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("timed out"), std::string::npos) << result.error().message;
  EXPECT_LT(took, std::chrono::milliseconds(1200));
}

TEST(KeFetch, GarbageInsteadOfTlsIsAClearError) {
  HostileServer server([](int fd) {
    const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all";
    send(fd, junk, sizeof junk, MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 500);
  });
  auto result = fetch_nts_ke(options_for(server.port(), 2000));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("TLS"), std::string::npos) << result.error().message;
}

TEST(KeFetch, ServerClosingAtOnceIsAClearError) {
  HostileServer server([](int fd) {
    // Read the ClientHello so closing sends an orderly FIN, not a reset.
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 1000);
    char buf[4096];
    (void)recv(fd, buf, sizeof buf, 0);
  });
  auto result = fetch_nts_ke(options_for(server.port(), 2000));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("closed the connection"), std::string::npos) << result.error().message;
}

TEST(KeFetch, ClosedPortIsAClearError) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t length = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  close(fd);  // nothing listens there now
  auto result = fetch_nts_ke(options_for(ntohs(a.sin_port), 2000));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("refused"), std::string::npos) << result.error().message;
}

TEST(KeFetch, ConnectsFromTheGivenSourceAddress) {
  std::atomic<std::uint32_t> peer{0};
  HostileServer server([&peer](int fd) {
    sockaddr_in from{};
    socklen_t length = sizeof from;
    getpeername(fd, reinterpret_cast<sockaddr*>(&from), &length);
    peer = ntohl(from.sin_addr.s_addr);
  });
  auto source = resolve("127.0.0.3", 0, SOCK_STREAM);  // all of 127/8 is on loopback
  ASSERT_TRUE(source);
  auto pending = PendingKe::start(options_for(server.port(), 2000), source->front());
  ASSERT_TRUE(pending) << pending.error().message;
  // Until the server closes (no TLS there): only where the connection came from matters.
  for (int i = 0; i < 100; ++i) {
    pollfd p{pending->fd(), pending->events(), 0};
    if (poll(&p, 1, 20) == 1 && pending->on_ready(p.revents)) break;
  }
  EXPECT_EQ(peer.load(), 0x7f000003u);
}

TEST(KeFetch, SourceAddressThatIsNotOursIsAClearError) {
  auto source = resolve("192.0.2.1", 0, SOCK_STREAM);  // TEST-NET-1: never a local address
  ASSERT_TRUE(source);
  auto pending = PendingKe::start(options_for(9, 500), source->front());
  ASSERT_FALSE(pending);
  EXPECT_NE(pending.error().message.find("bind"), std::string::npos) << pending.error().message;
}

}  // namespace
}  // namespace kairos
