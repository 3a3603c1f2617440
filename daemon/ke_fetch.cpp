#include "daemon/ke_fetch.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace kairos {
namespace {

Result<void> send_all(int fd, std::vector<std::uint8_t>& pending, Deadline deadline) {
  std::size_t sent = 0;
  while (sent < pending.size()) {
    const ssize_t n = send(fd, pending.data() + sent, pending.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return fail(std::string("NTS-KE send: ") + std::strerror(errno));
    }
    auto ready = wait_for(fd, POLLOUT, deadline);
    if (!ready) return std::unexpected(ready.error());
    if (*ready == 0) return fail("NTS-KE timed out sending");
  }
  pending.clear();
  return {};
}

}  // namespace

Result<KeClientResult> fetch_nts_ke(const KeFetchOptions& options) {
  const Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  auto ctx = make_tls_client_context(
      {.server_name = options.host, .ca_file = options.ca_file, .system_trust = options.system_trust});
  if (!ctx) return std::unexpected(ctx.error());
  auto addresses = resolve(options.host, options.port, SOCK_STREAM);
  if (!addresses) return std::unexpected(addresses.error());
  auto fd = connect_tcp(*addresses, deadline);
  if (!fd) return std::unexpected(fd.error());

  auto client = KeClient::start(ctx->get(), {.server_name = options.host, .aeads = options.aeads});
  if (!client) return std::unexpected(client.error());
  std::vector<std::uint8_t> out;
  std::uint8_t buf[4096];
  while (!client->done()) {
    client->drain(out);
    if (auto ok = send_all(fd->get(), out, deadline); !ok) return std::unexpected(ok.error());
    auto ready = wait_for(fd->get(), POLLIN, deadline);
    if (!ready) return std::unexpected(ready.error());
    if (*ready == 0) return fail("NTS-KE with " + options.host + " timed out");
    const ssize_t n = recv(fd->get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return fail(std::string("NTS-KE receive: ") + std::strerror(errno));
    }
    if (n == 0) {
      if (auto ok = client->peer_closed(); !ok) return std::unexpected(ok.error());
      break;
    }
    if (auto ok = client->receive({buf, static_cast<std::size_t>(n)}); !ok) return std::unexpected(ok.error());
  }
  // Best effort close_notify; the result does not depend on it.
  client->drain(out);
  if (!out.empty()) (void)send(fd->get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return client->result();
}

}  // namespace kairos
