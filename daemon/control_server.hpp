#pragma once
// kairosd's control socket: a Unix stream socket on the event loop (non-blocking, no threads)
// that kairosctl asks for status. One JSON object per line in ({"command":"status"}), one JSON
// line out; the client may ask again or close. Anything else gets {"error":"..."} and is closed;
// the listener itself survives every client.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "clock/result.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/client/net.hpp"

namespace kairos {

enum class ControlCommand { kStatus, kSources, kClocks, kServer };
const char* to_string(ControlCommand command);

// One request line (without its newline): {"command":"status"} and nothing else.
Result<ControlCommand> parse_control_request(std::string_view line);

struct ControlServerOptions {
  std::string path;
  std::uint32_t mode = 0660;
  std::optional<gid_t> group;
  std::chrono::milliseconds idle_timeout{2000};  // to send a full request (again, after each answer)
  std::size_t max_connections = 16;
  std::size_t max_request = 4096;  // bytes without a newline
};

class ControlServer {
 public:
  // Returns one JSON text (no newline) for a valid command.
  using Handler = std::function<std::string(ControlCommand)>;

  // Creates the socket's directory (0755) if missing, replaces a stale socket file left by a dead
  // daemon, and refuses a path another process answers on (or that is not a socket).
  static Result<std::unique_ptr<ControlServer>> start(EventLoop& loop, ControlServerOptions options, Handler handler);
  ~ControlServer();  // closes every connection and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  std::size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    EventLoop::TimerId deadline = 0;
    bool closing = false;  // the peer is done sending: close once `out` is sent
  };

  ControlServer(EventLoop& loop, ControlServerOptions options, Handler handler, UniqueFd listener, dev_t dev, ino_t ino);
  void on_accept();
  void pause_accepting();
  void on_ready(int fd, short revents);
  void answer_requests(Connection& c);
  void arm_deadline(int fd, Connection& c);
  void update_watch(int fd, const Connection& c);
  // Sends what `out` holds without blocking; false when the peer is gone.
  bool flush(Connection& c);
  void fail_and_close(int fd, const std::string& message);
  void close(int fd);

  EventLoop& loop_;
  ControlServerOptions options_;
  Handler handler_;
  UniqueFd listener_;
  dev_t dev_;  // the socket file we made, so the destructor never removes another one's
  ino_t ino_;
  std::map<int, Connection> connections_;
  std::optional<EventLoop::TimerId> resume_timer_;
};

// The group's id, for ControlServerOptions::group.
Result<gid_t> group_id(const std::string& name);

}  // namespace kairos
