#pragma once
// GET /metrics over HTTP for Prometheus ([metrics] listen). The HTTP side runs on its own thread
// (cpp-httplib, two workers) and only ever hands out the latest text the loop published: the
// daemon's state is read on the loop alone, and a slow or hostile scraper can hold up no more
// than the HTTP thread.
#include <memory>
#include <string>

#include "clock/result.hpp"
#include "daemon/config.hpp"

namespace kairos {

class MetricsServer {
 public:
  // Binds now (call it while the port may still need privileges, and so that a taken port is an
  // error at start), then serves on a thread of its own.
  static Result<std::unique_ptr<MetricsServer>> start(const MetricsConfig& config);
  // Stops the listener and joins the thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The text the next scrapes get (metrics_text()); until the first call they get 503.
  void publish(std::string text);
  int port() const;

 private:
  struct State;
  explicit MetricsServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace kairos
