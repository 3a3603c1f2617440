#include "daemon/ke_workers.hpp"

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "daemon/client_rate.hpp"
#include "nts/ke_client.hpp"

namespace kairos {
namespace {

// How often a worker copies its counters out for the main thread's status queries.
constexpr auto kPublishEvery = std::chrono::milliseconds(100);

// SO_REUSEPORT would let a second kairosd of the same user join this one's listeners and take a
// share of its connections unnoticed (with its own certificate and keys). A plain bind first
// fails on an address something listens on, as a listener without workers would.
Result<void> check_addresses_free(const std::vector<std::string>& listen) {
  for (const std::string& text : listen) {
    auto host_port = split_host_port(text, kNtsKeDefaultPort);
    if (!host_port) return std::unexpected(host_port.error());
    if (host_port->second == 0) continue;  // the kernel picks a free port
    auto addresses = resolve(host_port->first, host_port->second, SOCK_STREAM);
    if (!addresses) return std::unexpected(addresses.error());
    for (const SocketAddress& address : *addresses) {
      auto probe = open_socket(address.family(), SOCK_STREAM);
      if (!probe) return std::unexpected(probe.error());
      const int on = 1;
      // As the listener will be: sockets in TIME_WAIT do not count, the other family does not.
      (void)setsockopt(probe->get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      if (address.family() == AF_INET6) (void)setsockopt(probe->get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
      if (bind(probe->get(), address.get(), address.length) != 0) {
        return fail("cannot bind NTS-KE listener to " + address.to_string() + ": " + std::strerror(errno));
      }
    }
  }
  return {};
}

}  // namespace

unsigned ke_worker_default() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::size_t ke_worker_connections(std::size_t max_connections, unsigned workers) {
  if (workers == 0) return max_connections;
  return std::max<std::size_t>(1, max_connections / workers);
}

// One thread with its own loop, listener, context and ring; only that thread touches them once
// it runs (the main thread built them before starting it).
struct KeWorkers::Worker {
  Shared* shared = nullptr;
  // Declared in this order so the listener (which unwatches on its loop) goes first.
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<KeyRing> ring;
  std::unique_ptr<KeListener> listener;
  UniqueFd wake;  // eventfd: something to take, or time to stop
  std::shared_ptr<const SecretBytes> ring_text;  // what `ring` was parsed from
  SslCtxPtr new_ctx;  // guarded by shared->mutex: credentials to take into use
  mutable std::mutex counters_mutex;
  KeListenerCounters published;
  std::thread thread;

  void run();
  void on_wake();
  void take_updates();
  void publish();
  void poke() const {
    const std::uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
};

void KeWorkers::Worker::run() {
  if (auto ran = loop->run(); !ran) spdlog::error("nts-ke worker stopped: {}", ran.error().message);
  publish();
}

void KeWorkers::Worker::on_wake() {
  std::uint64_t count = 0;
  (void)!::read(wake.get(), &count, sizeof count);
  if (shared->stop.load(std::memory_order_relaxed)) {
    loop->stop();
    return;
  }
  take_updates();
  publish();
}

void KeWorkers::Worker::take_updates() {
  std::shared_ptr<const SecretBytes> text;
  SslCtxPtr ctx;
  {
    std::lock_guard lock(shared->mutex);
    text = shared->ring_text;
    ctx = std::move(new_ctx);
  }
  if (ctx) listener->use_credentials(std::move(ctx));
  if (text != ring_text) {
    ring_text = text;
    // The text came from KeyRing::serialize in this process; it parses. Assigning keeps the
    // listener's reference to *ring valid.
    if (auto parsed = parse_key_ring(ring_text->view())) *ring = std::move(*parsed);
  }
}

void KeWorkers::Worker::publish() {
  std::lock_guard lock(counters_mutex);
  published = listener->counters();
}

Result<std::unique_ptr<KeWorkers>> KeWorkers::start(const KeServerConfig& config, EventLoop& loop, KeyRing& ring,
                                                    std::optional<std::uint16_t> announced_port) {
  std::unique_ptr<KeWorkers> ke(new KeWorkers());
  ke->config_ = config;
  ke->shared_ = std::make_unique<Shared>();
  // A simulator interposes one thread's calls only (event_loop.hpp): there the loop serves.
  const unsigned count = loop.portable() ? 0u : config.workers.value_or(ke_worker_default());
  if (count == 0) {
    auto listener = KeListener::create(config, loop, ring, announced_port);
    if (!listener) return std::unexpected(listener.error());
    ke->on_loop_ = std::move(*listener);
    return ke;
  }

  if (auto free = check_addresses_free(config.listen); !free) return std::unexpected(free.error());
  ke->shared_->ring_text = std::make_shared<const SecretBytes>(ring.serialize());
  KeListenerShare share{.rate_limiter = nullptr, .reuse_port = true};
  if (config.rate_limit) share.rate_limiter = std::make_shared<SharedRateLimiter>(make_rate_limiter(*config.rate_limit));
  KeServerConfig each = config;
  each.max_connections = ke_worker_connections(config.max_connections, count);
  for (unsigned i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->shared = ke->shared_.get();
    auto worker_loop = EventLoop::create();
    if (!worker_loop) return fail("NTS-KE worker: " + worker_loop.error().message);
    worker->loop = std::make_unique<EventLoop>(std::move(*worker_loop));
    auto parsed = parse_key_ring(ke->shared_->ring_text->view());
    if (!parsed) return fail("NTS-KE worker: cookie key ring: " + parsed.error().message);
    worker->ring = std::make_unique<KeyRing>(std::move(*parsed));
    worker->ring_text = ke->shared_->ring_text;
    auto listener = KeListener::create(each, *worker->loop, *worker->ring, announced_port, share);
    if (!listener) return std::unexpected(listener.error());
    worker->listener = std::move(*listener);
    if (i == 0) {
      // The other workers bind exactly where the first did (a port 0 is chosen once).
      each.listen.clear();
      for (const SocketAddress& a : worker->listener->local_addresses()) each.listen.push_back(a.to_string());
    }
    const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) return fail(std::string("NTS-KE worker: eventfd: ") + std::strerror(errno));
    worker->wake = UniqueFd(wake);
    Worker* w = worker.get();
    w->loop->watch(wake, POLLIN, [w](short) { w->on_wake(); });
    // At once after each connection (a status query right after an exchange sees it), and every
    // kPublishEvery for what is in flight.
    w->listener->on_closed([w] { w->publish(); });
    w->loop->add_repeating(kPublishEvery, [w] { w->publish(); });
    ke->workers_.push_back(std::move(worker));
  }
  // Signals belong to the daemon's loop (its signalfd): the threads start with all of them blocked.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (auto& worker : ke->workers_) worker->thread = std::thread([w = worker.get()] { w->run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ke;
}

KeWorkers::~KeWorkers() {
  if (!shared_ || on_loop_) return;
  shared_->stop = true;
  for (auto& worker : workers_) {
    if (worker->wake) worker->poke();
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void KeWorkers::publish_key_ring(const KeyRing& ring) {
  if (on_loop_) return;  // the loop's listener seals with the daemon's ring itself
  auto text = std::make_shared<const SecretBytes>(ring.serialize());
  {
    std::lock_guard lock(shared_->mutex);
    shared_->ring_text = std::move(text);
  }
  for (auto& worker : workers_) worker->poke();
}

Result<void> KeWorkers::reload_credentials() {
  if (on_loop_) return on_loop_->reload_credentials();
  // One context per worker: an SSL_CTX is shared by reference counts and locks inside OpenSSL;
  // a worker of its own never contends for another's.
  std::vector<SslCtxPtr> contexts;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto ctx = make_tls_server_context(config_.certificate, config_.private_key);
    if (!ctx) return std::unexpected(ctx.error());
    contexts.push_back(std::move(*ctx));
  }
  {
    std::lock_guard lock(shared_->mutex);
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->new_ctx = std::move(contexts[i]);
  }
  for (auto& worker : workers_) worker->poke();
  return {};
}

KeListenerCounters KeWorkers::counters() const {
  KeListenerCounters total;
  for (const KeListenerCounters& c : worker_counters()) total.add(c);
  return total;
}

std::vector<KeListenerCounters> KeWorkers::worker_counters() const {
  if (on_loop_) return {on_loop_->counters()};
  std::vector<KeListenerCounters> out;
  for (const auto& worker : workers_) {
    std::lock_guard lock(worker->counters_mutex);
    out.push_back(worker->published);
  }
  return out;
}

std::vector<SocketAddress> KeWorkers::local_addresses() const {
  // The listener descriptors never change after start: reading their addresses is safe from here.
  return on_loop_ ? on_loop_->local_addresses() : workers_.front()->listener->local_addresses();
}

}  // namespace kairos
