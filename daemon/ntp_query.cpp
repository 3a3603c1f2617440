#include "daemon/ntp_query.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace kairos {
namespace {

std::unexpected<NtpExchangeError> io_error(std::string message, std::size_t rejected = 0) {
  return std::unexpected(NtpExchangeError{std::nullopt, std::move(message), rejected});
}

bool same_address(const sockaddr_storage& a, socklen_t a_length, const SocketAddress& b) {
  return a_length == b.length && std::memcmp(&a, &b.storage, b.length) == 0;
}

}  // namespace

std::expected<NtpExchangeResult, NtpExchangeError> run_ntp_exchange(const SocketAddress& server,
                                                                    const NtpClientExchange& exchange,
                                                                    NtsClientSession* session,
                                                                    std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  auto fd = open_socket(server.family(), SOCK_DGRAM);
  if (!fd) return io_error(fd.error().message);
  const bool kernel_stamps = enable_timestamping(fd->get(), false).has_value();
  if (connect(fd->get(), server.get(), server.length) != 0) {
    return io_error("connect to " + server.to_string() + ": " + std::strerror(errno));
  }

  NtpExchangeResult result;
  result.request_length = exchange.request().size();
  PacketStamp t1{realtime_now(), StampSource::kDaemon};
  const ssize_t sent = send(fd->get(), exchange.request().data(), exchange.request().size(), 0);
  if (sent != static_cast<ssize_t>(exchange.request().size())) {
    return io_error("send to " + server.to_string() + ": " + std::strerror(errno));
  }

  bool have_tx_stamp = !kernel_stamps;
  std::vector<std::uint8_t> buffer(2048);
  for (;;) {
    auto revents = wait_for(fd->get(), POLLIN, deadline);
    if (!revents) return io_error(revents.error().message, result.rejected);
    if (*revents == 0) {
      std::string why = "no valid response from " + server.to_string() + " within " +
                        std::to_string(timeout.count()) + " ms";
      if (result.rejected) why += " (" + std::to_string(result.rejected) + " rejected: " + result.last_rejection + ")";
      return io_error(why, result.rejected);
    }
    if (*revents & POLLERR) {
      auto tx = read_tx_stamp(fd->get());
      if (tx && *tx && (*tx)->id == 0) {
        t1 = (*tx)->stamp;
        have_tx_stamp = true;
      } else if (tx && !*tx) {
        // POLLERR with an empty error queue: a pending socket error such as an ICMP
        // port unreachable. Without reading it poll would keep waking up.
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return io_error(server.to_string() + ": " + std::strerror(error), result.rejected);
      }
    }
    if (!(*revents & POLLIN)) continue;
    auto packet = receive_packet(fd->get(), buffer);
    if (!packet) return io_error(packet.error().message, result.rejected);
    if (!*packet) continue;
    const timespec t4_fallback = realtime_now();
    if (!same_address((*packet)->from, (*packet)->from_length, server)) continue;

    // The TX stamp is queued before the response can arrive; collect it if poll has not said so.
    while (!have_tx_stamp) {
      auto tx = read_tx_stamp(fd->get());
      if (!tx || !*tx) break;
      if ((*tx)->id == 0) {
        t1 = (*tx)->stamp;
        have_tx_stamp = true;
      }
    }
    const PacketStamp t4 = (*packet)->stamps.best().value_or(PacketStamp{t4_fallback, StampSource::kDaemon});
    auto sample = exchange.handle_response({buffer.data(), (*packet)->length}, t1.time, t4.time, session);
    if (!sample) {
      const ResponseProblem p = sample.error().problem;
      if (p == ResponseProblem::kNtsNak || p == ResponseProblem::kDenied || p == ResponseProblem::kRateLimited ||
          p == ResponseProblem::kUnsynchronized) {
        return std::unexpected(NtpExchangeError{p, sample.error().message, result.rejected});
      }
      ++result.rejected;
      result.last_rejection = std::string(to_string(p)) + ": " + sample.error().message;
      continue;
    }
    result.sample = *sample;
    result.t1_source = t1.source;
    result.t4_source = t4.source;
    result.response_length = (*packet)->length;
    return result;
  }
}

}  // namespace kairos
