#include "daemon/ke_workers.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "daemon/client/ke_fetch.hpp"
#include "nts/cookie.hpp"
#include "test_certs.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

constexpr std::uint64_t kNow = 1'700'000'000;

// Ports 15600–15619 are ours; each test takes its own so they can run in parallel.
std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Whether `done` came true within `limit` (workers publish their counters every 100 ms).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// The key id a cookie was sealed under (its first four bytes, nts/cookie.hpp).
std::uint32_t key_id_of(const Buffer& cookie) {
  return std::uint32_t{cookie[0]} << 24 | std::uint32_t{cookie[1]} << 16 | std::uint32_t{cookie[2]} << 8 | cookie[3];
}

class KeWorkersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki.issue("server", "DNS:localhost,IP:127.0.0.1,IP:::1");
    config.certificate = pki.path("server.crt");
    config.private_key = pki.path("server.key");
    config.timeout = 5.0;
    config.rate_limit = std::nullopt;
    config.workers = 2;
  }

  std::unique_ptr<KeWorkers> start(std::uint16_t port) {
    config.listen = {loopback(port)};
    auto ke = KeWorkers::start(config, loop, ring, std::nullopt);
    EXPECT_TRUE(ke) << ke.error().message;
    return ke ? std::move(*ke) : nullptr;
  }

  KeFetchOptions fetch_options(std::uint16_t port, const std::string& ca_file) {
    KeFetchOptions options;
    options.host = "127.0.0.1";
    options.port = port;
    options.ca_file = ca_file;
    options.system_trust = false;
    options.timeout = 5000ms;
    return options;
  }

  // `clients` threads, each running `each` NTS-KE exchanges back to back with the real client;
  // returns the failures' messages and counts the cookies that open with the ring.
  std::vector<std::string> fetch_concurrently(std::uint16_t port, const std::string& ca_file, int clients, int each,
                                              std::atomic<int>& good_cookies) {
    std::vector<std::future<std::vector<std::string>>> running;
    for (int c = 0; c < clients; ++c) {
      running.push_back(std::async(std::launch::async, [&, port, ca_file, each] {
        std::vector<std::string> errors;
        for (int i = 0; i < each; ++i) {
          auto result = fetch_nts_ke(fetch_options(port, ca_file));
          if (!result) {
            errors.push_back(result.error().message);
            continue;
          }
          if (result->cookies.size() != kKeServerCookies) errors.push_back("wrong number of cookies");
          std::lock_guard lock(ring_mutex);
          for (const Buffer& cookie : result->cookies) {
            auto keys = open_cookie(cookie, ring);
            if (keys && *keys == result->keys) ++good_cookies;
          }
        }
        return errors;
      }));
    }
    std::vector<std::string> errors;
    for (auto& r : running) {
      for (std::string& e : r.get()) errors.push_back(std::move(e));
    }
    return errors;
  }

  test::TestPki pki;
  KeServerConfig config;
  EventLoop loop = EventLoop::create().value();
  KeyRing ring = KeyRing::from_random({}, kNow).value();
  std::mutex ring_mutex;  // the test's clients open cookies with `ring` from several threads
};

TEST_F(KeWorkersTest, TwoWorkersServeManyConcurrentHandshakesWithValidCookies) {
  auto ke = start(15600);
  ASSERT_TRUE(ke);
  EXPECT_EQ(ke->worker_count(), 2u);
  std::atomic<int> good_cookies{0};
  constexpr int kClients = 8;
  constexpr int kEach = 12;
  const auto errors = fetch_concurrently(15600, pki.ca_file(), kClients, kEach, good_cookies);
  EXPECT_TRUE(errors.empty()) << errors.size() << " failed, first: " << errors.front();
  EXPECT_EQ(good_cookies.load(), kClients * kEach * static_cast<int>(kKeServerCookies));

  ASSERT_TRUE(eventually([&] { return ke->counters().responses == kClients * kEach; }))
      << ke->counters().responses << " responses counted";
  const auto per_worker = ke->worker_counters();
  ASSERT_EQ(per_worker.size(), 2u);
  // The kernel spreads connections by their 4-tuple: with 96 of them, each worker gets some.
  EXPECT_GT(per_worker[0].responses, 0u);
  EXPECT_GT(per_worker[1].responses, 0u);
  const KeListenerCounters total = ke->counters();
  EXPECT_EQ(total.accepted, static_cast<std::uint64_t>(kClients * kEach));
  EXPECT_EQ(total.handshakes_failed + total.error_records + total.aborted + total.timed_out, 0u);
}

TEST_F(KeWorkersTest, CertificateReloadMidLoadReachesEveryWorker) {
  auto ke = start(15601);
  ASSERT_TRUE(ke);
  test::TestPki second_ca("kairos second test CA");
  second_ca.issue("server", "IP:127.0.0.1");
  // Clients under load trust both CAs: each exchange must succeed with the old or the new one.
  const std::string both = pki.path("both-ca.crt");
  {
    std::ofstream out(both);
    out << std::ifstream(pki.ca_file()).rdbuf() << std::ifstream(second_ca.ca_file()).rdbuf();
  }
  std::atomic<int> good_cookies{0};
  auto load = std::async(std::launch::async,
                         [&] { return fetch_concurrently(15601, both, 4, 15, good_cookies); });
  ASSERT_TRUE(eventually([&] { return ke->counters().responses >= 10; }));
  namespace fs = std::filesystem;
  fs::copy_file(second_ca.path("server.crt"), config.certificate, fs::copy_options::overwrite_existing);
  fs::copy_file(second_ca.path("server.key"), config.private_key, fs::copy_options::overwrite_existing);
  auto reloaded = ke->reload_credentials();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  const auto errors = load.get();
  EXPECT_TRUE(errors.empty()) << errors.size() << " failed under load, first: " << errors.front();
  EXPECT_EQ(good_cookies.load(), 4 * 15 * static_cast<int>(kKeServerCookies));

  // Every worker took the new credentials...
  ASSERT_TRUE(eventually([&] {
    for (const KeListenerCounters& c : ke->worker_counters()) {
      if (c.credential_loads != 1) return false;
    }
    return true;
  }));
  // ...and each one presents them: clients trusting only the new CA all succeed, on both workers.
  const auto before = ke->worker_counters();
  std::atomic<int> new_cookies{0};
  const auto with_new_ca = fetch_concurrently(15601, second_ca.ca_file(), 4, 10, new_cookies);
  EXPECT_TRUE(with_new_ca.empty()) << with_new_ca.size() << " failed with the new CA, first: " << with_new_ca.front();
  ASSERT_TRUE(eventually([&] { return ke->counters().responses == 4 * 15 + 4 * 10; }));
  const auto after = ke->worker_counters();
  EXPECT_GT(after[0].responses, before[0].responses);
  EXPECT_GT(after[1].responses, before[1].responses);
  // The old CA's certificate is gone everywhere.
  auto old = fetch_nts_ke(fetch_options(15601, pki.ca_file()));
  EXPECT_FALSE(old);

  // A broken file: refused as a whole, every worker keeps serving.
  std::ofstream(config.certificate, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot a certificate\n";
  auto broken = ke->reload_credentials();
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find(config.certificate), std::string::npos) << broken.error().message;
  std::atomic<int> still_cookies{0};
  EXPECT_TRUE(fetch_concurrently(15601, second_ca.ca_file(), 2, 4, still_cookies).empty());
}

// Twenty connections from one address with a burst of 3: one shared table admits exactly 3,
// whichever worker each connection reached (a table per worker would admit up to 3 per worker).
TEST_F(KeWorkersTest, PerAddressRateLimitHoldsAcrossWorkers) {
  config.rate_limit = RateLimitConfig{.interval = 60, .burst = 3, .entries = 64};
  auto ke = start(15602);
  ASSERT_TRUE(ke);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 20; ++i) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(15602);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    clients.push_back(std::move(fd));
  }
  ASSERT_TRUE(eventually([&] { return ke->counters().accepted == 20; })) << ke->counters().accepted;
  const auto per_worker = ke->worker_counters();
  EXPECT_GT(per_worker[0].accepted, 0u);
  EXPECT_GT(per_worker[1].accepted, 0u);
  EXPECT_EQ(ke->counters().rate_limited, 17u);
}

TEST_F(KeWorkersTest, KeyRotationReachesTheWorkers) {
  auto ke = start(15603);
  ASSERT_TRUE(ke);
  auto first = fetch_nts_ke(fetch_options(15603, pki.ca_file()));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(key_id_of(first->cookies.front()), ring.current().id());

  {
    std::lock_guard lock(ring_mutex);
    ASSERT_TRUE(ring.rotate(kNow + ring.config().rotation_interval).value());
  }
  ke->publish_key_ring(ring);
  // Each worker takes the new ring at its next wake-up (the publication wakes it); enough
  // exchanges reach both workers.
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 16; ++i) {
    auto later = fetch_nts_ke(fetch_options(15603, pki.ca_file()));
    ASSERT_TRUE(later) << later.error().message;
    for (const Buffer& cookie : later->cookies) EXPECT_EQ(key_id_of(cookie), ring.current().id());
  }
}

// SO_REUSEPORT lets sockets of one user share a port: a second server started by mistake must
// still be refused, as it was before there were workers, not take half the connections.
TEST_F(KeWorkersTest, SecondServerOnTheSamePortIsRefused) {
  auto first = start(15605);
  ASSERT_TRUE(first);
  auto second = KeWorkers::start(config, loop, ring, std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("127.0.0.1:15605"), std::string::npos) << second.error().message;
  auto still = fetch_nts_ke(fetch_options(15605, pki.ca_file()));
  EXPECT_TRUE(still) << still.error().message;
}

TEST_F(KeWorkersTest, ZeroWorkersServeOnTheLoop) {
  config.workers = 0;
  auto ke = start(15604);
  ASSERT_TRUE(ke);
  EXPECT_EQ(ke->worker_count(), 0u);
  auto future = std::async(std::launch::async, [this] { return fetch_nts_ke(fetch_options(15604, pki.ca_file())); });
  std::function<void()> check = [&] {
    if (future.wait_for(0s) == std::future_status::ready && ke->counters().responses == 1) {
      loop.stop();
      return;
    }
    loop.add_timer(5ms, check);
  };
  loop.add_timer(0ms, check);
  ASSERT_TRUE(loop.run());
  auto result = future.get();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(open_cookie(result->cookies.front(), ring));
}

TEST(KeWorkerConnections, MaxConnectionsIsSplitEvenlyWithAtLeastOneEach) {
  EXPECT_EQ(ke_worker_connections(256, 2), 128u);
  EXPECT_EQ(ke_worker_connections(257, 2), 128u);
  EXPECT_EQ(ke_worker_connections(3, 4), 1u);
  EXPECT_EQ(ke_worker_connections(256, 0), 256u);
  EXPECT_GE(ke_worker_default(), 1u);
}

}  // namespace
}  // namespace kairos
