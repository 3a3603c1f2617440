// One whole NTS-KE exchange in memory per iteration — TLS 1.3 handshake, request, 8 cookies,
// close_notify — with an ECDSA P-256 and an RSA-2048 server certificate.
//
// BM_KeServerExchange times only the server's calls (KeServerSession::start, receive, drain) on
// the thread's CPU clock: the CPU an NTS-KE server spends per client, unaffected by other load on
// the machine. BM_KeFullExchange times both sides together, for
// scale (the client verifies the chain, which costs it more with ECDSA than the server's signing).
#include <benchmark/benchmark.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <vector>

#include "nts/ke_client.hpp"
#include "nts/ke_server.hpp"
#include "tests/unit/test_certs.hpp"

namespace {

// CPU time of this thread: what the server's calls cost, not how long the scheduler made us wait.
struct ThreadCpuClock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ThreadCpuClock>;
  static time_point now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
};
using Clock = ThreadCpuClock;
using kairos::test::LeafKey;

struct Setup {
  explicit Setup(LeafKey key) {
    pki.issue("server", "DNS:localhost", 0, 3600, key);
    server_ctx = kairos::make_tls_server_context(pki.path("server.crt"), pki.path("server.key")).value();
    client_ctx =
        kairos::make_tls_client_context({.server_name = "localhost", .ca_file = pki.ca_file(), .system_trust = false})
            .value();
  }
  kairos::test::TestPki pki;
  kairos::SslCtxPtr server_ctx;
  kairos::SslCtxPtr client_ctx;
  kairos::KeyRing ring = kairos::KeyRing::from_random({}, 1'700'000'000).value();
};

// Runs one exchange; returns the time spent in the server's calls.
Clock::duration exchange(Setup& s) {
  auto client = kairos::KeClient::start(s.client_ctx.get(), {.server_name = "localhost", .aeads = {15}});
  if (!client) std::abort();
  Clock::duration server_time{};
  auto t0 = Clock::now();
  auto session = kairos::KeServerSession::start(s.server_ctx.get(), kairos::KeServerOptions{});
  server_time += Clock::now() - t0;
  if (!session) std::abort();
  std::vector<std::uint8_t> to_server, to_client;
  for (int round = 0; round < 10 && !client->done(); ++round) {
    to_server.clear();
    to_client.clear();
    client->drain(to_server);
    t0 = Clock::now();
    session->receive(to_server, s.ring);
    session->drain(to_client);
    server_time += Clock::now() - t0;
    if (!client->receive(to_client)) std::abort();
  }
  if (!client->done() || client->result().cookies.size() != kairos::kKeServerCookies) std::abort();
  return server_time;
}

void BM_KeServerExchange(benchmark::State& state, LeafKey key) {
  Setup setup(key);
  for (auto _ : state) {
    state.SetIterationTime(std::chrono::duration<double>(exchange(setup)).count());
  }
  state.counters["exchanges_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                         benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_KeServerExchange, ecdsa_p256, LeafKey::kEcdsaP256)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_KeServerExchange, rsa_2048, LeafKey::kRsa2048)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_KeFullExchange(benchmark::State& state, LeafKey key) {
  Setup setup(key);
  for (auto _ : state) benchmark::DoNotOptimize(exchange(setup));
}
BENCHMARK_CAPTURE(BM_KeFullExchange, ecdsa_p256, LeafKey::kEcdsaP256)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_KeFullExchange, rsa_2048, LeafKey::kRsa2048)->Unit(benchmark::kMicrosecond);

}  // namespace
