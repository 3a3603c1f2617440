#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "daemon/client/control_client.hpp"
#include "daemon/control_server.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;

TEST(KairosctlClient, MissingSocketIsUnreachableWithAClearMessage) {
  test::TempDir dir;
  auto answer = control_request(dir.file("none.sock"), "status", 1000ms);
  ASSERT_FALSE(answer);
  EXPECT_TRUE(answer.error().unreachable);
  EXPECT_EQ(answer.error().message, "kairosd not running? no control socket at " + dir.file("none.sock"));
}

TEST(KairosctlClient, SocketNobodyListensOnIsUnreachable) {
  test::TempDir dir;
  const std::string path = dir.file("dead.sock");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // bound, never listening
  auto answer = control_request(path, "status", 1000ms);
  ASSERT_FALSE(answer);
  EXPECT_TRUE(answer.error().unreachable);
  EXPECT_NE(answer.error().message.find("kairosd not running?"), std::string::npos) << answer.error().message;
}

TEST(KairosctlClient, SilentDaemonTimesOutWithoutHanging) {
  test::TempDir dir;
  const std::string path = dir.file("silent.sock");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd.get(), 4), 0);  // the kernel accepts; nobody answers
  const auto start = std::chrono::steady_clock::now();
  auto answer = control_request(path, "status", 200ms);
  ASSERT_FALSE(answer);
  EXPECT_FALSE(answer.error().unreachable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(KairosctlClient, AsksTheControlServerAndGetsItsLine) {
  test::TempDir dir;
  EventLoop loop = EventLoop::create().value();
  ControlServerOptions options;
  options.path = dir.file("ctl.sock");
  auto server = ControlServer::start(loop, options, [](ControlCommand c) {
                  return nlohmann::json{{"answer", to_string(c)}}.dump();
                }).value();
  auto reply = std::async(std::launch::async, [&] { return control_request(options.path, "clocks", 2000ms); });
  std::function<void()> check = [&] {
    if (reply.wait_for(0s) == std::future_status::ready) return loop.stop();
    loop.add_timer(2ms, check);
  };
  loop.add_timer(2ms, check);
  ASSERT_TRUE(loop.run());
  auto answer = reply.get();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(*answer, "{\"answer\":\"clocks\"}");
}

}  // namespace
}  // namespace kairos
