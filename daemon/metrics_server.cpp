#include "daemon/metrics_server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "daemon/client/net.hpp"

namespace kairos {
namespace {

constexpr time_t kTimeoutSeconds = 2;   // read, write and keep-alive: a stalled client lets go soon
constexpr std::size_t kWorkers = 2;     // a scraper or two; more connections wait for these
constexpr std::size_t kMaxPayload = 1024;  // GET carries no body

}  // namespace

struct MetricsServer::State {
  httplib::Server http;
  int port = 0;
  std::mutex mutex;
  std::string text;  // guarded by mutex
  std::atomic<bool> finished{false};
  std::thread thread;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const MetricsConfig& config) {
  auto where = split_host_port(config.listen, 0);
  if (!where) return std::unexpected(where.error());
  auto state = std::make_unique<State>();
  httplib::Server& http = state->http;
  // httplib's default also sets SO_REUSEPORT, which would let a second kairosd share the port
  // silently; SO_REUSEADDR alone still allows a restart while old connections linger.
  http.set_socket_options([](socket_t fd) {
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  });
  // httplib owns and deletes the queue it gets from this hook.
  http.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  http.set_read_timeout(kTimeoutSeconds, 0);
  http.set_write_timeout(kTimeoutSeconds, 0);
  http.set_keep_alive_timeout(kTimeoutSeconds);
  http.set_payload_max_length(kMaxPayload);
  State* s = state.get();
  http.Get("/metrics", [s](const httplib::Request&, httplib::Response& response) {
    std::string text;
    {
      std::lock_guard lock(s->mutex);
      text = s->text;
    }
    if (text.empty()) {
      response.status = 503;
      response.set_content("kairosd is starting\n", "text/plain");
      return;
    }
    // Format 0.0.4 is what this Content-Type names to Prometheus.
    response.set_content(std::move(text), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (!http.bind_to_port(where->first, where->second)) {
    return fail("[metrics] cannot listen on " + config.listen + " (address not local, or the port is taken)");
  }
  s->port = where->second;
  // Threads made now inherit the loop's blocked signals (signals stay the signalfd's).
  s->thread = std::thread([s] {
    s->http.listen_after_bind();
    s->finished = true;
  });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(state)));
}

MetricsServer::MetricsServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

MetricsServer::~MetricsServer() {
  // stop() only acts once the thread is inside its accept loop: wait for that (or for its end)
  // so an early exit cannot leave the thread accepting forever.
  while (!state_->finished && !state_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  state_->http.stop();
  state_->thread.join();
}

void MetricsServer::publish(std::string text) {
  std::lock_guard lock(state_->mutex);
  state_->text = std::move(text);
}

int MetricsServer::port() const { return state_->port; }

}  // namespace kairos
