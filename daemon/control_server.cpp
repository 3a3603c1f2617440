#include "daemon/control_server.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace kairos {
namespace {

using nlohmann::json;

constexpr std::array kCommands{ControlCommand::kStatus, ControlCommand::kSources, ControlCommand::kClocks,
                               ControlCommand::kServer};
// After accept fails for lack of descriptors, poll would report the listener ready at once again.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

std::string errno_text(int error) { return std::strerror(error); }

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) return fail("control socket path too long: " + path);
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

Result<UniqueFd> unix_socket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  if (!fd) return fail("socket(AF_UNIX): " + errno_text(errno));
  if (auto ok = set_nonblocking_cloexec(fd.get()); !ok) return std::unexpected(ok.error());
  return fd;
}

// A socket file already at `path`: removed when nobody listens on it (a daemon died without
// cleaning up); an error when somebody answers or it is something else.
Result<void> clear_stale_socket(const std::string& path, const sockaddr_un& address) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail("control socket " + path + ": " + errno_text(errno));
  }
  if (!S_ISSOCK(st.st_mode)) return fail("control socket " + path + " exists and is not a socket; not replacing it");
  auto probe = unix_socket();
  if (!probe) return std::unexpected(probe.error());
  // Non-blocking: a listener with a full backlog says EAGAIN, which still means somebody is there.
  if (::connect(probe->get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 || errno == EAGAIN ||
      errno == EINPROGRESS) {
    return fail("another daemon answers on the control socket " + path + "; is kairosd already running?");
  }
  if (errno != ECONNREFUSED) return fail("control socket " + path + ": " + errno_text(errno));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail("removing the stale control socket " + path + ": " + errno_text(errno));
  }
  return {};
}

Result<void> make_parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (parent.empty() || std::filesystem::exists(parent, ec)) return {};
  std::filesystem::create_directories(parent, ec);
  if (!ec) std::filesystem::permissions(parent, std::filesystem::perms(0755), ec);
  if (ec) return fail("creating " + parent.string() + " for the control socket: " + ec.message());
  return {};
}

std::string error_line(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

const char* to_string(ControlCommand command) {
  switch (command) {
    case ControlCommand::kStatus: return "status";
    case ControlCommand::kSources: return "sources";
    case ControlCommand::kClocks: return "clocks";
    case ControlCommand::kServer: return "server";
  }
  return "?";
}

Result<ControlCommand> parse_control_request(std::string_view line) {
  const json request = json::parse(line.begin(), line.end(), nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    return fail("a request is one JSON object per line, like {\"command\":\"status\"}");
  }
  for (const auto& [key, value] : request.items()) {
    if (key != "command") return fail("unknown key '" + key + "' in the request");
  }
  const auto it = request.find("command");
  if (it == request.end() || !it->is_string()) return fail("the request needs \"command\", a string");
  const std::string& name = it->get_ref<const std::string&>();
  for (ControlCommand c : kCommands) {
    if (name == to_string(c)) return c;
  }
  return fail("unknown command '" + name + "' (status, sources, clocks, server)");
}

Result<gid_t> group_id(const std::string& name) {
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) return fail("looking up group '" + name + "': " + errno_text(rc));
  if (!found) return fail("no group '" + name + "' on this system");
  return found->gr_gid;
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(EventLoop& loop, ControlServerOptions options,
                                                            Handler handler) {
  auto address = unix_address(options.path);
  if (!address) return std::unexpected(address.error());
  if (auto ok = make_parent_directory(options.path); !ok) return std::unexpected(ok.error());
  if (auto ok = clear_stale_socket(options.path, *address); !ok) return std::unexpected(ok.error());
  auto fd = unix_socket();
  if (!fd) return std::unexpected(fd.error());
  if (::bind(fd->get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) {
    return fail("binding the control socket " + options.path + ": " + errno_text(errno));
  }
  // Mode and group are set before listen(): until then nobody can connect, so no client ever
  // gets in through the umask's permissions.
  auto undo = [&](const std::string& what) {
    const int error = errno;
    ::unlink(options.path.c_str());
    return fail(what + " " + options.path + ": " + errno_text(error));
  };
  if (::chmod(options.path.c_str(), static_cast<mode_t>(options.mode)) != 0) return undo("chmod");
  if (options.group && ::chown(options.path.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
    return undo("chown (group)");
  }
  struct stat st{};
  if (::stat(options.path.c_str(), &st) != 0) return undo("stat");
  if (::listen(fd->get(), 16) != 0) return undo("listen on");
  auto server = std::unique_ptr<ControlServer>(
      new ControlServer(loop, std::move(options), std::move(handler), std::move(*fd), st.st_dev, st.st_ino));
  loop.watch(server->listener_.get(), POLLIN, [s = server.get()](short) { s->on_accept(); });
  return server;
}

ControlServer::ControlServer(EventLoop& loop, ControlServerOptions options, Handler handler, UniqueFd listener,
                             dev_t dev, ino_t ino)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      listener_(std::move(listener)),
      dev_(dev),
      ino_(ino) {}

ControlServer::~ControlServer() {
  loop_.unwatch(listener_.get());
  if (resume_timer_) loop_.cancel_timer(*resume_timer_);
  while (!connections_.empty()) close(connections_.begin()->first);
  // Only our own file: another daemon may have replaced it since (after we were declared dead).
  struct stat st{};
  if (::stat(options_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(options_.path.c_str());
}

void ControlServer::on_accept() {
  for (;;) {
    UniqueFd fd(::accept(listener_.get(), nullptr, nullptr));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) pause_accepting();
      return;
    }
    if (!set_nonblocking_cloexec(fd.get())) continue;
    if (connections_.size() >= options_.max_connections) {
      const std::string line = error_line("too many control connections");
      (void)!::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;  // closed here
    }
    const int raw = fd.get();
    Connection& c = connections_[raw];
    c.fd = std::move(fd);
    arm_deadline(raw, c);
    update_watch(raw, c);
  }
}

void ControlServer::pause_accepting() {
  loop_.unwatch(listener_.get());
  resume_timer_ = loop_.add_timer(kAcceptPause, [this] {
    resume_timer_.reset();
    loop_.watch(listener_.get(), POLLIN, [this](short) { on_accept(); });
  });
}

void ControlServer::arm_deadline(int fd, Connection& c) {
  if (c.deadline) loop_.cancel_timer(c.deadline);
  c.deadline = loop_.add_timer(options_.idle_timeout, [this, fd] {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    it->second.deadline = 0;
    fail_and_close(fd, "no complete request in time");
  });
}

void ControlServer::update_watch(int fd, const Connection& c) {
  // While an answer waits to be sent nothing more is read: a client that asks without reading
  // cannot make us buffer without bound.
  loop_.watch(fd, c.out.empty() ? POLLIN : POLLOUT, [this, fd](short revents) { on_ready(fd, revents); });
}

void ControlServer::on_ready(int fd, short revents) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& c = it->second;
  if (!c.out.empty()) {
    if (!flush(c) || (revents & (POLLERR | POLLNVAL))) return close(fd);
  } else {
    char buffer[4096];
    while (!c.closing && c.in.size() <= options_.max_request) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        c.in.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0) {
        c.closing = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        return close(fd);
      }
    }
  }
  if (c.out.empty()) {
    answer_requests(c);
    // answer_requests may have closed the connection (a bad request).
    it = connections_.find(fd);
    if (it == connections_.end()) return;
    if (!flush(c)) return close(fd);
  }
  if (c.closing && c.out.empty()) return close(fd);
  update_watch(fd, c);
}

void ControlServer::answer_requests(Connection& c) {
  const int fd = c.fd.get();
  std::size_t newline;
  while ((newline = c.in.find('\n')) != std::string::npos) {
    if (newline > options_.max_request) break;
    std::string_view line(c.in.data(), newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto command = parse_control_request(line);
    if (!command) return fail_and_close(fd, command.error().message);
    c.out += handler_(*command);
    c.out += '\n';
    c.in.erase(0, newline + 1);
    arm_deadline(fd, c);
  }
  if (c.in.size() > options_.max_request) {
    return fail_and_close(fd, "request longer than " + std::to_string(options_.max_request) + " bytes");
  }
}

bool ControlServer::flush(Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  return true;
}

void ControlServer::fail_and_close(int fd, const std::string& message) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  // Best effort: whatever answers were pending, then the error; the connection ends either way.
  it->second.out += error_line(message);
  flush(it->second);
  close(fd);
}

void ControlServer::close(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  if (it->second.deadline) loop_.cancel_timer(it->second.deadline);
  loop_.unwatch(fd);
  connections_.erase(it);
}

}  // namespace kairos
