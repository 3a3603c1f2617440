// Forged, replayed, truncated and unauthenticated NTS responses, made by a UDP relay between
// kairos' client and a real NTS server (chronyd in CI). Each tampered response is sent first and
// the genuine one right after: the client must reject and count every tampered copy, and still
// accept the genuine response. Usage: kairos_forgery_test KE_HOST:PORT CA_FILE
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "daemon/client/ke_fetch.hpp"
#include "daemon/client/net.hpp"
#include "daemon/client/ntp_query.hpp"

using namespace kairos;
using Buffer = std::vector<std::uint8_t>;

namespace {

// Returns the packets to send to the client before the genuine response.
using Tamper = std::function<std::vector<Buffer>(const Buffer& genuine)>;

class Relay {
 public:
  Relay(const SocketAddress& server) : server_(server) {
    front_ = open_socket(AF_INET, SOCK_DGRAM).value();
    back_ = open_socket(server.family(), SOCK_DGRAM).value();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(front_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    address_.length = sizeof(sockaddr_in);
    getsockname(front_.get(), reinterpret_cast<sockaddr*>(&address_.storage), &address_.length);
    connect(back_.get(), server_.get(), server_.length);
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
  }
  const SocketAddress& address() const { return address_; }
  void set(Tamper tamper, bool drop = false) {
    std::lock_guard lock(mutex_);
    tamper_ = std::move(tamper);
    drop_ = drop;
  }
  Buffer last_genuine() {
    std::lock_guard lock(mutex_);
    return last_genuine_;
  }

 private:
  void run() {
    Buffer buf(2048);
    sockaddr_storage client{};
    socklen_t client_length = 0;
    while (!stop_) {
      pollfd p[2] = {{front_.get(), POLLIN, 0}, {back_.get(), POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents & POLLIN) {
        client_length = sizeof client;
        const ssize_t n = recvfrom(front_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&client),
                                   &client_length);
        if (n > 0) send(back_.get(), buf.data(), static_cast<std::size_t>(n), 0);
      }
      if (p[1].revents & POLLIN) {
        const ssize_t n = recv(back_.get(), buf.data(), buf.size(), 0);
        if (n <= 0) continue;
        const Buffer genuine(buf.begin(), buf.begin() + n);
        std::lock_guard lock(mutex_);
        if (drop_) continue;
        if (tamper_) {
          for (const Buffer& fake : tamper_(genuine)) {
            sendto(front_.get(), fake.data(), fake.size(), 0, reinterpret_cast<sockaddr*>(&client), client_length);
          }
        }
        sendto(front_.get(), genuine.data(), genuine.size(), 0, reinterpret_cast<sockaddr*>(&client), client_length);
        last_genuine_ = genuine;
      }
    }
  }

  SocketAddress server_;
  SocketAddress address_;
  UniqueFd front_, back_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  Tamper tamper_;
  bool drop_ = false;
  Buffer last_genuine_;
};

struct Tally {
  std::size_t sent = 0;       // tampered packets the relay sent
  std::size_t rejected = 0;   // of those, rejected by the client
  std::size_t exchanges = 0;
  std::size_t genuine_ok = 0; // exchanges that still produced an authenticated sample
};

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s KE_HOST:PORT CA_FILE\n", argv[0]);
    return 2;
  }
  auto target = split_host_port(argv[1], kNtsKeDefaultPort).value();
  KeFetchOptions ke_options{.host = target.first, .port = target.second, .ca_file = std::string(argv[2]),
                            .system_trust = false};
  auto ke = fetch_nts_ke(ke_options);
  if (!ke) {
    std::printf("FAIL: NTS-KE: %s\n", ke.error().message.c_str());
    return 1;
  }
  auto session = NtsClientSession::create(*ke).value();
  auto server = resolve(ke->ntp_server, ke->ntp_port, SOCK_DGRAM).value().front();
  Relay relay(server);
  const RandomFill random = system_random();

  auto exchange_once = [&](Tally& tally, std::size_t expected_fakes) {
    if (session.cookies() < 2) {
      auto again = fetch_nts_ke(ke_options);
      if (!again) return;
      session = NtsClientSession::create(*again).value();
    }
    auto exchange = NtpClientExchange::nts(session, random).value();
    auto result = run_ntp_exchange(relay.address(), exchange, &session, std::chrono::milliseconds(1000));
    ++tally.exchanges;
    tally.sent += expected_fakes;
    if (result) {
      tally.rejected += result->rejected;
      if (result->sample.authenticated) ++tally.genuine_ok;
    } else {
      tally.rejected += result.error().rejected;
    }
  };

  // Warm up and capture a genuine response for the replay test.
  Tally warmup;
  exchange_once(warmup, 0);
  check(warmup.genuine_ok == 1, "a relayed genuine exchange gives an authenticated sample");
  const Buffer stale = relay.last_genuine();

  // Every single-bit flip position of the response, one exchange per byte.
  Tally flipped;
  const std::size_t length = stale.size();
  for (std::size_t pos = 0; pos < length; ++pos) {
    const int bit = static_cast<int>(pos % 8);
    relay.set([pos, bit](const Buffer& g) {
      Buffer f = g;
      if (pos < f.size()) f[pos] ^= static_cast<std::uint8_t>(1u << bit);
      return std::vector<Buffer>{f};
    });
    exchange_once(flipped, 1);
  }

  Tally truncated;
  for (std::size_t cut : {std::size_t{47}, std::size_t{48}, std::size_t{52}, length / 2, length - 4, length - 1}) {
    relay.set([cut](const Buffer& g) { return std::vector<Buffer>{Buffer(g.begin(), g.begin() + static_cast<long>(std::min(cut, g.size())))}; });
    exchange_once(truncated, 1);
  }

  Tally replayed;
  for (int i = 0; i < 5; ++i) {
    relay.set([&stale](const Buffer&) { return std::vector<Buffer>{stale}; });
    exchange_once(replayed, 1);
  }

  // The genuine header alone: right origin, no NTS fields. An unauthenticated response must
  // never be taken from an NTS source.
  Tally stripped;
  relay.set([](const Buffer& g) { return std::vector<Buffer>{Buffer(g.begin(), g.begin() + 48)}; });
  exchange_once(stripped, 1);

  // Extra copies of the genuine response: the exchange must take exactly one.
  Tally duplicated;
  relay.set([](const Buffer& g) { return std::vector<Buffer>{g, g}; });
  exchange_once(duplicated, 0);

  relay.set(nullptr, /*drop=*/true);
  Tally dropped;
  exchange_once(dropped, 0);
  relay.set(nullptr);

  auto report = [](const char* name, const Tally& t) {
    std::printf("forgery: %-11s %3zu tampered sent, %3zu rejected; %3zu/%zu exchanges still authenticated\n", name,
                t.sent, t.rejected, t.genuine_ok, t.exchanges);
  };
  report("bit-flip", flipped);
  report("truncated", truncated);
  report("replayed", replayed);
  report("stripped", stripped);
  report("duplicated", duplicated);
  report("dropped", dropped);

  check(flipped.rejected == flipped.sent && flipped.genuine_ok == flipped.exchanges, "every bit flip is rejected");
  check(truncated.rejected == truncated.sent && truncated.genuine_ok == truncated.exchanges,
        "every truncation is rejected");
  check(replayed.rejected == replayed.sent && replayed.genuine_ok == replayed.exchanges, "every replay is rejected");
  check(stripped.rejected == 1 && stripped.genuine_ok == 1, "an unauthenticated response is rejected");
  check(duplicated.genuine_ok == 1, "a duplicated response gives one sample");
  check(dropped.genuine_ok == 0, "a dropped response gives no sample");
  const std::size_t total = flipped.sent + truncated.sent + replayed.sent + stripped.sent;
  const std::size_t rejected = flipped.rejected + truncated.rejected + replayed.rejected + stripped.rejected;
  std::printf("forgery: %zu tampered responses, %zu rejected, %zu accepted\n", total, rejected, total - rejected);
  std::printf("forgery: %d failed checks\n", failures);
  return failures == 0 ? 0 : 1;
}
