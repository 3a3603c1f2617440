#include "daemon/resolver.hpp"

#include <netdb.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>

// Why a thread of our own and not glibc's getaddrinfo_a: getaddrinfo_a cannot abandon a lookup
// already running either (gai_cancel answers EAI_NOTCANCELED), its completion comes as a signal or
// on yet another thread it creates, and its helper threads are out of our hands. One thread we
// start ourselves gives a bounded queue, a known signal mask, a seam for tests (the lookup
// function) and a shutdown we decide. One worker, not a pool: lookups are rare (start, NTS-KE,
// retries), and when the DNS server is dead a second thread would only be stuck the same way.

namespace kairos {

struct Resolver::Shared {
  struct Job {
    RequestId id;
    std::string host;
    std::uint16_t port;
    int socktype;
  };
  struct Answer {
    RequestId id;
    Result<Addresses> result;
  };

  std::mutex mutex;
  std::condition_variable wake;    // the worker: a job or the stop
  std::condition_variable exited;  // the destructor: the worker returned
  std::deque<Job> jobs;
  std::vector<Answer> answers;
  bool stopping = false;
  bool finished = false;
  // Owned here, not by the Resolver: a worker left running past the destructor still writes to a
  // descriptor that is open (and that nobody reads any more).
  UniqueFd event_fd;
  LookupFunction lookup;
};

namespace {

// How long the destructor waits for a worker inside getaddrinfo before leaving it behind.
constexpr auto kExitGrace = std::chrono::milliseconds(200);

Result<Resolver::Addresses> run_lookup(const LookupFunction& lookup, const Resolver::Shared::Job& job) {
  try {
    return lookup(job.host, job.port, job.socktype);
  } catch (const std::exception& e) {
    return fail("cannot resolve " + job.host + ": " + e.what());
  }
}

// The thread's own reference keeps the shared state alive if the Resolver is gone first.
void run_worker(std::shared_ptr<Resolver::Shared> shared) {
  std::unique_lock lock(shared->mutex);
  for (;;) {
    shared->wake.wait(lock, [&] { return shared->stopping || !shared->jobs.empty(); });
    if (shared->stopping) break;
    Resolver::Shared::Job job = std::move(shared->jobs.front());
    shared->jobs.pop_front();
    lock.unlock();
    Result<Resolver::Addresses> result = run_lookup(shared->lookup, job);
    lock.lock();
    if (shared->stopping) break;
    shared->answers.push_back({job.id, std::move(result)});
    const std::uint64_t one = 1;
    // Non-blocking: only a counter at its maximum could refuse, and then the loop is woken anyway.
    [[maybe_unused]] const ssize_t n = ::write(shared->event_fd.get(), &one, sizeof one);
  }
  shared->finished = true;
  shared->exited.notify_all();
}

// A numeric address needs no DNS: getaddrinfo with AI_NUMERICHOST only parses (scope ids
// included), so it is safe on the loop thread. nullopt when `host` is a name.
std::optional<Result<Resolver::Addresses>> parse_numeric(const std::string& host, std::uint16_t port, int socktype) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &list) != 0) return std::nullopt;
  return take_addresses(list, host);
}

}  // namespace

Result<std::unique_ptr<Resolver>> Resolver::start(EventLoop& loop, Options options) {
  auto shared = std::make_shared<Shared>();
  shared->lookup = std::move(options.lookup);
  if (loop.portable()) {
    // A simulator serves one thread and has no eventfd (event_loop.hpp): lookups run on the
    // loop, answered through a timer due now. Its getaddrinfo answers at once.
    return std::unique_ptr<Resolver>(new Resolver(loop, std::move(shared), options.timeout, options.max_queued));
  }
  // Created without EFD_* flags and set through fcntl, as every loop descriptor (net.hpp).
  shared->event_fd = UniqueFd(eventfd(0, 0));
  if (!shared->event_fd) return fail(std::string("eventfd: ") + std::strerror(errno));
  if (auto ok = set_nonblocking_cloexec(shared->event_fd.get()); !ok) return std::unexpected(ok.error());

  // The worker starts with every signal blocked (a thread inherits its creator's mask), so the
  // signals the loop takes through its signalfd, and any other, are never delivered to it.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  if (int rc = pthread_sigmask(SIG_SETMASK, &all, &previous); rc != 0) {
    return fail(std::string("pthread_sigmask: ") + std::strerror(rc));
  }
  std::thread worker;
  std::string error;
  try {
    worker = std::thread(run_worker, shared);
  } catch (const std::system_error& e) {
    error = e.what();
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (!worker.joinable()) return fail("cannot start the resolver thread: " + error);

  auto resolver = std::unique_ptr<Resolver>(new Resolver(loop, std::move(shared), options.timeout, options.max_queued));
  resolver->worker_ = std::move(worker);
  return resolver;
}

Resolver::Resolver(EventLoop& loop, std::shared_ptr<Shared> shared, std::chrono::milliseconds timeout,
                   std::size_t max_queued)
    : loop_(loop), shared_(std::move(shared)), timeout_(timeout), max_queued_(max_queued) {
  if (shared_->event_fd) loop_.watch(shared_->event_fd.get(), POLLIN, [this](short) { on_answers(); });
}

Resolver::~Resolver() {
  for (const auto& [id, p] : pending_) loop_.cancel_timer(p.timer);
  pending_.clear();
  if (!worker_.joinable()) return;  // inline lookups (portable mode)
  loop_.unwatch(shared_->event_fd.get());
  std::unique_lock lock(shared_->mutex);
  shared_->stopping = true;
  shared_->jobs.clear();
  shared_->wake.notify_all();
  const bool finished = shared_->exited.wait_for(lock, kExitGrace, [&] { return shared_->finished; });
  lock.unlock();
  // A worker still in getaddrinfo sees `stopping` when it returns and ends there; at process
  // exit the kernel ends it with the rest.
  if (finished) {
    worker_.join();
  } else {
    worker_.detach();
  }
}

Resolver::RequestId Resolver::lookup(const std::string& host, std::uint16_t port, int socktype, Callback callback) {
  const RequestId id = next_id_++;
  if (auto numeric = parse_numeric(host, port, socktype)) {
    pending_.emplace(id, Pending{std::move(callback), 0});
    deliver_soon(id, std::move(*numeric));
    return id;
  }
  if (!worker_.joinable()) {
    pending_.emplace(id, Pending{std::move(callback), 0});
    deliver_soon(id, shared_->lookup(host, port, socktype));
    return id;
  }
  bool queued = false;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->jobs.size() < max_queued_) {
      shared_->jobs.push_back({id, host, port, socktype});
      queued = true;
    }
  }
  pending_.emplace(id, Pending{std::move(callback), 0});
  if (!queued) {
    deliver_soon(id, fail("cannot resolve " + host + ": resolver queue full"));
    return id;
  }
  shared_->wake.notify_one();
  pending_.at(id).timer = loop_.add_timer(timeout_, [this, id, host] {
    // Out of the queue if the worker has not taken it yet; a late answer finds nothing pending.
    {
      std::lock_guard lock(shared_->mutex);
      std::erase_if(shared_->jobs, [id](const Shared::Job& job) { return job.id == id; });
    }
    deliver(id, fail("cannot resolve " + host + ": timed out after " + std::to_string(timeout_.count()) + " ms"));
  });
  return id;
}

void Resolver::cancel(RequestId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  loop_.cancel_timer(it->second.timer);
  pending_.erase(it);
  std::lock_guard lock(shared_->mutex);
  std::erase_if(shared_->jobs, [id](const Shared::Job& job) { return job.id == id; });
}

void Resolver::deliver(RequestId id, Result<Addresses> result) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // cancelled, or timed out before the worker answered
  loop_.cancel_timer(it->second.timer);
  Callback callback = std::move(it->second.callback);
  // Erased before the call: the callback may look up again or cancel.
  pending_.erase(it);
  callback(std::move(result));
}

void Resolver::deliver_soon(RequestId id, Result<Addresses> result) {
  // Through a timer due now, so the callback never runs inside lookup() (its caller may not be
  // ready for it yet).
  pending_.at(id).timer = loop_.add_timer(EventLoop::Clock::duration::zero(),
                                          [this, id, r = std::move(result)]() mutable { deliver(id, std::move(r)); });
}

void Resolver::on_answers() {
  std::uint64_t count = 0;
  while (::read(shared_->event_fd.get(), &count, sizeof count) > 0) {
  }
  std::vector<Shared::Answer> answers;
  {
    std::lock_guard lock(shared_->mutex);
    answers.swap(shared_->answers);
  }
  for (Shared::Answer& answer : answers) deliver(answer.id, std::move(answer.result));
}

}  // namespace kairos
