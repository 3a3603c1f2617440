#include "daemon/sd_notify.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "daemon/client/net.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

// Plays systemd's part: a Unix datagram socket NOTIFY_SOCKET points to, for one test.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) ADD_FAILURE() << "bind " << path;
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~FakeSystemd() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  std::vector<std::string> received() {
    std::vector<std::string> out;
    char buffer[512];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      out.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  UniqueFd fd_;
};

std::size_t count(const std::vector<std::string>& messages, const std::string& wanted) {
  std::size_t n = 0;
  for (const auto& m : messages) if (m.find(wanted) != std::string::npos) ++n;
  return n;
}

void run_for(EventLoop& loop, std::chrono::milliseconds duration) {
  loop.add_timer(duration, [&loop] { loop.stop(); });
  ASSERT_TRUE(loop.run());
}

TEST(SdNotify, ReadyAndWatchdogReachTheNotifySocket) {
  test::TempDir dir;
  FakeSystemd systemd(dir.file("notify"));
  ::setenv("WATCHDOG_USEC", "100000", 1);  // 100 ms: petted every 50 ms
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  SystemdNotifier notifier(*loop);
  ASSERT_TRUE(notifier.active());
  ASSERT_TRUE(notifier.watchdog_interval());
  EXPECT_EQ(*notifier.watchdog_interval(), std::chrono::microseconds(100000));
  notifier.ready("2 sources, observe-only");
  run_for(*loop, std::chrono::milliseconds(260));  // ~5 pets at 50 ms
  const auto messages = systemd.received();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front(), "READY=1\nSTATUS=2 sources, observe-only");
  EXPECT_GE(count(messages, "WATCHDOG=1"), 2u);
  EXPECT_LE(count(messages, "WATCHDOG=1"), 6u);  // half the interval, not a busy loop
}

TEST(SdNotify, StatusIsSentOnlyWhenItChanges) {
  test::TempDir dir;
  FakeSystemd systemd(dir.file("notify"));
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  SystemdNotifier notifier(*loop);
  EXPECT_FALSE(notifier.watchdog_interval());  // no WATCHDOG_USEC: no timer
  notifier.ready("starting");
  notifier.status("synchronized");
  notifier.status("synchronized");
  notifier.stopping();
  const auto messages = systemd.received();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1], "STATUS=synchronized");
  EXPECT_EQ(messages[2], "STOPPING=1");
}

TEST(SdNotify, WatchdogMeantForAnotherProcessIsIgnored) {
  test::TempDir dir;
  FakeSystemd systemd(dir.file("notify"));
  ::setenv("WATCHDOG_USEC", "100000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  SystemdNotifier notifier(*loop);
  EXPECT_FALSE(notifier.watchdog_interval());
  run_for(*loop, std::chrono::milliseconds(120));
  EXPECT_EQ(count(systemd.received(), "WATCHDOG=1"), 0u);
}

TEST(SdNotify, WithoutNotifySocketNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  SystemdNotifier notifier(*loop);
  EXPECT_FALSE(notifier.active());
  notifier.ready("x");  // must not fail or block
}

}  // namespace
}  // namespace kairos
