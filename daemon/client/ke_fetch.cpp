#include "daemon/client/ke_fetch.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace kairos {

Result<PendingKe> PendingKe::start(const KeFetchOptions& options, const std::optional<SocketAddress>& source) {
  auto addresses = resolve(options.host, options.port, SOCK_STREAM);
  if (!addresses) return std::unexpected(addresses.error());
  return connect(options, addresses->front(), source);
}

Result<PendingKe> PendingKe::connect(const KeFetchOptions& options, const SocketAddress& address,
                                     const std::optional<SocketAddress>& source) {
  auto ctx = make_tls_client_context(
      {.server_name = options.host, .ca_file = options.ca_file, .system_trust = options.system_trust});
  if (!ctx) return std::unexpected(ctx.error());
  auto fd = open_socket(address.family(), SOCK_STREAM);
  if (!fd) return std::unexpected(fd.error());
  if (source && ::bind(fd->get(), source->get(), source->length) != 0) {
    return fail("NTS-KE bind to " + source->to_string() + ": " + std::strerror(errno));
  }
  if (::connect(fd->get(), address.get(), address.length) != 0 && errno != EINPROGRESS) {
    return fail("NTS-KE connect to " + address.to_string() + ": " + std::strerror(errno));
  }
  return PendingKe(std::move(*ctx), std::move(*fd), address, options);
}

short PendingKe::events() const {
  if (!client_) return POLLOUT;  // waiting for the TCP connection
  return static_cast<short>(POLLIN | (outgoing_.empty() ? 0 : POLLOUT));
}

Result<void> PendingKe::on_connected() {
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return fail("NTS-KE connect to " + address_.to_string() + ": " + std::strerror(error));
  auto client = KeClient::start(ctx_.get(), {.server_name = options_.host, .aeads = options_.aeads});
  if (!client) return std::unexpected(client.error());
  client_.emplace(std::move(*client));
  return flush();
}

Result<void> PendingKe::flush() {
  client_->drain(outgoing_);
  while (!outgoing_.empty()) {
    const ssize_t n = send(fd(), outgoing_.data(), outgoing_.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {};
      return fail(std::string("NTS-KE send: ") + std::strerror(errno));
    }
    outgoing_.erase(outgoing_.begin(), outgoing_.begin() + n);
  }
  return {};
}

std::optional<Result<KeClientResult>> PendingKe::on_ready(short revents) {
  if (!client_) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return std::nullopt;
    if (auto ok = on_connected(); !ok) return std::unexpected(ok.error());
    return std::nullopt;
  }
  if (revents & POLLOUT) {
    if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  }
  if (!(revents & (POLLIN | POLLERR | POLLHUP))) return std::nullopt;
  std::uint8_t buf[4096];
  for (;;) {
    const ssize_t n = recv(fd(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      return std::unexpected(Error{std::string("NTS-KE receive: ") + std::strerror(errno)});
    }
    if (n == 0) {
      if (auto ok = client_->peer_closed(); !ok) return std::unexpected(ok.error());
      break;
    }
    if (auto ok = client_->receive({buf, static_cast<std::size_t>(n)}); !ok) return std::unexpected(ok.error());
    if (client_->done()) break;
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  if (client_->done()) return client_->result();
  return std::nullopt;
}

Result<KeClientResult> fetch_nts_ke(const KeFetchOptions& options) {
  const Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  auto pending = PendingKe::start(options);
  if (!pending) return std::unexpected(pending.error());
  for (;;) {
    auto revents = wait_for(pending->fd(), pending->events(), deadline);
    if (!revents) return std::unexpected(revents.error());
    if (*revents == 0) return fail("NTS-KE with " + options.host + " timed out");
    if (auto outcome = pending->on_ready(*revents)) return *outcome;
  }
}

}  // namespace kairos
