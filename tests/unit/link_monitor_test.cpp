#include "hwts/link_monitor.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kairos {
namespace {

using Kind = LinkEvent::Kind;

std::string ip_binary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return {};
}

bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// A network namespace of our own, named uniquely per process and test, deleted in every path.
// Everything the tests create lives inside it: no existing interface is touched.
class ScratchNetns {
 public:
  explicit ScratchNetns(const std::string& ip) : ip_(ip) {
    static std::atomic<int> counter{0};
    name_ = "kairos-lm-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    created_ = run(ip_ + " netns add " + name_);
  }
  ~ScratchNetns() {
    if (created_) run(ip_ + " netns del " + name_);
  }
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;
  bool created() const { return created_; }
  const std::string& name() const { return name_; }
  bool ip(const std::string& args) const { return run(ip_ + " -n " + name_ + " " + args); }

 private:
  std::string ip_;
  std::string name_;
  bool created_ = false;
};

// Runs `body` with this thread inside the namespace, then returns to the original one. Sockets
// opened inside stay bound to it.
bool inside(const ScratchNetns& ns, const std::function<void()>& body) {
  const int original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = original >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
  if (ok) {
    body();
    if (::setns(original, CLONE_NEWNET) != 0) std::abort();  // never continue in the wrong namespace
  }
  if (target >= 0) ::close(target);
  if (original >= 0) ::close(original);
  return ok;
}

bool has(const std::vector<LinkEvent>& events, Kind kind, const std::string& name) {
  for (const auto& e : events) {
    if (e.kind == kind && e.interface == name) return true;
  }
  return false;
}

// Collects events until `done` says so or five seconds pass.
std::vector<LinkEvent> collect_until(LinkMonitor& monitor, const std::function<bool(const std::vector<LinkEvent>&)>& done) {
  std::vector<LinkEvent> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done(seen) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{monitor.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    for (auto& e : monitor.read_events()) seen.push_back(std::move(e));
  }
  return seen;
}

// Reads until nothing more arrives for 300 ms.
std::vector<LinkEvent> drain(LinkMonitor& monitor) {
  std::vector<LinkEvent> seen;
  for (;;) {
    pollfd p{monitor.fd(), POLLIN, 0};
    ::poll(&p, 1, 300);
    auto batch = monitor.read_events();
    if (batch.empty()) return seen;
    for (auto& e : batch) seen.push_back(std::move(e));
  }
}

class LinkMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace and a veth pair";
    ip_ = ip_binary();
    if (ip_.empty()) GTEST_SKIP() << "needs the ip tool (iproute2)";
    ns_ = std::make_unique<ScratchNetns>(ip_);
    if (!ns_->created()) GTEST_SKIP() << "cannot create a network namespace here (ip netns add failed)";
  }

  Result<LinkMonitor> open_inside(LinkMonitor::Options options) {
    Result<LinkMonitor> monitor = fail("not opened");
    if (!inside(*ns_, [&] { monitor = LinkMonitor::open(options); })) return fail("setns failed");
    return monitor;
  }

  std::string ip_;
  std::unique_ptr<ScratchNetns> ns_;
};

TEST_F(LinkMonitorTest, VethHotPlugAndLinkStateArriveAsEvents) {
  auto monitor = open_inside({});
  ASSERT_TRUE(monitor) << monitor.error().message;
  // The snapshot knows lo: no event for links that already exist.
  EXPECT_TRUE(monitor->read_events().empty());

  ASSERT_TRUE(ns_->ip("link add kva type veth peer name kvb"));
  auto events = collect_until(*monitor, [](const auto& e) { return has(e, Kind::kAdded, "kva") && has(e, Kind::kAdded, "kvb"); });
  EXPECT_TRUE(has(events, Kind::kAdded, "kva"));
  EXPECT_TRUE(has(events, Kind::kAdded, "kvb"));
  EXPECT_FALSE(has(events, Kind::kUp, "kva"));
  EXPECT_FALSE(*monitor->is_up("kva"));

  // One end up is not running yet: a veth has carrier only when its peer is up too.
  ASSERT_TRUE(ns_->ip("link set kva up"));
  ASSERT_TRUE(ns_->ip("link set kvb up"));
  events = collect_until(*monitor, [](const auto& e) { return has(e, Kind::kUp, "kva") && has(e, Kind::kUp, "kvb"); });
  EXPECT_TRUE(has(events, Kind::kUp, "kva"));
  EXPECT_TRUE(has(events, Kind::kUp, "kvb"));
  auto up = monitor->is_up("kva");
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_TRUE(*up);

  // The peer going down takes kva's carrier with it.
  ASSERT_TRUE(ns_->ip("link set kvb down"));
  events = collect_until(*monitor, [](const auto& e) { return has(e, Kind::kDown, "kva") && has(e, Kind::kDown, "kvb"); });
  EXPECT_TRUE(has(events, Kind::kDown, "kvb"));
  EXPECT_TRUE(has(events, Kind::kDown, "kva"));
  EXPECT_FALSE(*monitor->is_up("kva"));

  ASSERT_TRUE(ns_->ip("link del kva"));
  events = collect_until(*monitor, [](const auto& e) { return has(e, Kind::kRemoved, "kva") && has(e, Kind::kRemoved, "kvb"); });
  EXPECT_TRUE(has(events, Kind::kRemoved, "kva"));
  EXPECT_TRUE(has(events, Kind::kRemoved, "kvb"));
  auto gone = monitor->is_up("kva");
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("kva"), std::string::npos);
}

TEST_F(LinkMonitorTest, RenameIsRemovalOfTheOldNameAndAdditionOfTheNew) {
  auto monitor = open_inside({});
  ASSERT_TRUE(monitor) << monitor.error().message;
  ASSERT_TRUE(ns_->ip("link add kva type veth peer name kvb"));
  collect_until(*monitor, [](const auto& e) { return has(e, Kind::kAdded, "kvb"); });
  ASSERT_TRUE(ns_->ip("link set kva name kvc"));
  auto events = collect_until(*monitor, [](const auto& e) { return has(e, Kind::kAdded, "kvc"); });
  EXPECT_TRUE(has(events, Kind::kRemoved, "kva"));
  EXPECT_TRUE(has(events, Kind::kAdded, "kvc"));
}

TEST_F(LinkMonitorTest, OverflowGivesResyncAndTheTrueStateNotACrash) {
  // A tiny receive buffer and many changes without reading: the kernel drops notifications.
  auto monitor = open_inside({.max_events = 256, .receive_buffer = 1});
  ASSERT_TRUE(monitor) << monitor.error().message;
  ASSERT_TRUE(ns_->ip("link add kva type veth peer name kvb"));
  ASSERT_TRUE(ns_->ip("link set kvb up"));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ns_->ip("link set kva up"));
    ASSERT_TRUE(ns_->ip("link set kva down"));
  }
  ASSERT_TRUE(ns_->ip("link set kva up"));
  auto events = collect_until(*monitor, [](const auto& e) {
    for (const auto& ev : e) {
      if (ev.kind == Kind::kResync) return true;
    }
    return false;
  });
  bool resync = false;
  for (const auto& e : events) resync = resync || e.kind == Kind::kResync;
  EXPECT_TRUE(resync);
  // Whatever was lost, the monitor's last word on kva is the kernel's: up.
  for (auto& e : drain(*monitor)) events.push_back(std::move(e));
  std::optional<Kind> last;
  for (const auto& e : events) {
    if (e.interface == "kva" && (e.kind == Kind::kUp || e.kind == Kind::kDown)) last = e.kind;
  }
  EXPECT_EQ(last, Kind::kUp);
  auto up = monitor->is_up("kva");
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_TRUE(*up);
}

TEST_F(LinkMonitorTest, AtMostMaxEventsPerCall) {
  auto monitor = open_inside({.max_events = 1, .receive_buffer = 0});
  ASSERT_TRUE(monitor) << monitor.error().message;
  ASSERT_TRUE(ns_->ip("link add kva type veth peer name kvb"));
  std::vector<LinkEvent> all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (all.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{monitor->fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    auto batch = monitor->read_events();
    ASSERT_LE(batch.size(), 1u);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  EXPECT_TRUE(has(all, Kind::kAdded, "kva"));
  EXPECT_TRUE(has(all, Kind::kAdded, "kvb"));
}

TEST(LinkMonitor, LoopbackIsUpAndMissingInterfaceIsAnError) {
  auto monitor = LinkMonitor::open();
  ASSERT_TRUE(monitor) << monitor.error().message;
  EXPECT_GE(monitor->fd(), 0);
  auto lo = monitor->is_up("lo");
  ASSERT_TRUE(lo) << lo.error().message;
  EXPECT_TRUE(*lo);
  auto missing = monitor->is_up("kairosnone0");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("kairosnone0"), std::string::npos);
}

}  // namespace
}  // namespace kairos
