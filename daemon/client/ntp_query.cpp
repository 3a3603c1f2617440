#include "daemon/client/ntp_query.hpp"

#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "nts/ntp_responder.hpp"

namespace kairos {
namespace {

// An IPv4 address (or one mapped into IPv6) as its 4 octets, an IPv6 one as its 16.
std::uint32_t reference_id_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    return reference_id_of_address(std::span(reinterpret_cast<const std::uint8_t*>(&v4.sin_addr), 4));
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    const std::span<const std::uint8_t, 16> bytes(v6.sin6_addr.s6_addr, 16);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) return reference_id_of_address(bytes.subspan(12));
    return reference_id_of_address(bytes);
  }
  return 0;
}


NtpExchangeError io_error(std::string message, std::size_t rejected = 0) {
  return NtpExchangeError{std::nullopt, std::move(message), rejected};
}

}  // namespace

// Family, address and port: a sockaddr's padding (sin_zero) and flow info are not part of the
// address, and whoever filled them in (a kernel, a simulator) may leave anything there.
bool same_address(const sockaddr_storage& a, socklen_t a_length, const SocketAddress& b) {
  if (a_length < sizeof(sa_family_t) || a.ss_family != b.storage.ss_family) return false;
  if (a.ss_family == AF_INET) {
    if (a_length < sizeof(sockaddr_in)) return false;
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.storage);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    if (a_length < sizeof(sockaddr_in6)) return false;
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b.storage);
    return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}

namespace {

// An NTS NAK is not among them: it is unauthenticated, and one forged by whoever saw the request
// must not keep the genuine answer that follows from being used (RFC 8915 §5.7).
bool ends_exchange(ResponseProblem p) {
  return p == ResponseProblem::kDenied || p == ResponseProblem::kRateLimited || p == ResponseProblem::kUnsynchronized;
}

}  // namespace

Result<NtpClientSocket> NtpClientSocket::open(const SocketAddress& server, bool hardware, bool portable,
                                              const std::optional<PhcBinding>& bind) {
  auto fd = open_socket(server.family(), SOCK_DGRAM);
  if (!fd) return std::unexpected(fd.error());
  if (bind) {
    if (auto bound = enable_bound_timestamping(fd->get(), *bind); !bound) return std::unexpected(bound.error());
  }
  const bool hardware_stamps = bind || (hardware && enable_timestamping(fd->get(), true).has_value());
  const bool kernel_stamps = hardware_stamps || enable_timestamping(fd->get(), false).has_value();
  if (connect(fd->get(), server.get(), server.length) != 0) {
    return fail("connect to " + server.to_string() + ": " + std::strerror(errno));
  }
  return NtpClientSocket(std::move(*fd), server, kernel_stamps, hardware_stamps, portable);
}

Result<std::uint32_t> NtpClientSocket::send(std::span<const std::uint8_t> bytes) {
  if (::send(fd(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return fail("send to " + server_.to_string() + ": " + std::strerror(errno));
  }
  stamp_unread_ = true;
  return next_id_++;
}

TxStamps NtpClientSocket::take_tx_stamps(std::uint32_t id) {
  TxStamps found;
  if (portable_) {
    if (!stamp_unread_) return found;
    stamp_unread_ = false;
    if (auto tx = read_tx_stamp(fd()); tx && *tx) found.merge(**tx);
    return found;
  }
  return kairos::take_tx_stamps(fd(), id, hardware_stamps_);
}

std::expected<PendingNtpExchange, NtpExchangeError> PendingNtpExchange::start(const SocketAddress& server,
                                                                              NtpClientExchange exchange,
                                                                              HardwareInterfaces hardware) {
  auto socket = NtpClientSocket::open(server, static_cast<bool>(hardware));
  if (!socket) return std::unexpected(io_error(socket.error().message));
  return start(std::move(*socket), std::move(exchange), std::move(hardware));
}

std::expected<PendingNtpExchange, NtpExchangeError> PendingNtpExchange::start(NtpClientSocket socket,
                                                                              NtpClientExchange exchange,
                                                                              HardwareInterfaces hardware) {
  if (!socket.hardware_stamps()) hardware = {};
  PendingNtpExchange pending(std::move(socket), std::move(exchange), std::move(hardware));
  pending.have_tx_stamp_ = !pending.socket_.kernel_stamps();
  pending.result_.request_length = pending.exchange_.request().size();
  pending.t1_daemon_ = realtime_now();
  auto id = pending.socket_.send(pending.exchange_.request());
  if (!id) return std::unexpected(io_error(id.error().message));
  pending.request_id_ = *id;
  // The kernel queues a software TX stamp during the send itself: take it now. Waiting for the
  // response would do on a kernel, but an interposing simulator stamps the error queue when it is
  // read, and a T1 taken at T4 halves the delay out of every sample.
  if (!pending.have_tx_stamp_) {
    if (auto error = pending.take_tx_stamp()) return std::unexpected(*error);
  }
  return pending;
}

// Reads the error queue for our packet's TX stamp (by its OPT_ID). An empty queue with a pending
// socket error means an ICMP error such as port unreachable.
std::optional<NtpExchangeError> PendingNtpExchange::take_tx_stamp() {
  const TxStamps stamps = socket_.take_tx_stamps(request_id_);
  if (stamps.software) tx_.software = stamps.software;
  if (stamps.hardware) tx_.hardware = stamps.hardware;
  if (tx_.software) have_tx_stamp_ = true;
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return io_error(socket_.server().to_string() + ": " + std::strerror(error), result_.rejected);
  return std::nullopt;
}

std::optional<NtpExchangeOutcome> PendingNtpExchange::on_ready(short revents, NtsClientSession* session) {
  if (revents & POLLERR) {
    if (auto error = take_tx_stamp()) return std::unexpected(*error);
  }
  if (!(revents & POLLIN)) return std::nullopt;
  std::uint8_t buffer[2048];
  for (;;) {
    auto packet = receive_packet(fd(), buffer);
    if (!packet) return std::unexpected(io_error(packet.error().message, result_.rejected));
    if (!*packet) return std::nullopt;
    const timespec t4_fallback = realtime_now();
    if (!same_address((*packet)->from, (*packet)->from_length, socket_.server())) continue;
    // The TX stamp is queued before the response can arrive; collect it if poll did not say so.
    if (!have_tx_stamp_) {
      if (auto error = take_tx_stamp()) return std::unexpected(*error);
    }
    const ControlStamps& rx = (*packet)->stamps;
    // Without the NIC's transmit stamp the exchange uses the system clock's pair.
    if (hardware_ && rx.hardware && !tx_.hardware) {
      wait_for_hardware_tx_stamp(fd(), tx_, [this] { return socket_.take_tx_stamps(request_id_); });
    }
    const ExchangeStamps stamps = choose_stamps(t1_daemon_, tx_, rx, t4_fallback, (*packet)->length,
                                                socket_.server().family() == AF_INET6, hardware_);
    auto checked = check_.on_response(exchange_, {buffer, (*packet)->length}, stamps.t1, stamps.t4, session);
    result_.rejected = check_.rejected();
    if (!checked) continue;
    if (!*checked) return std::unexpected(checked->error());
    const NtpSample* sample = &**checked;
    result_.sample = *sample;
    result_.sample.next.phc_ifindex = stamps.phc_ifindex;
    result_.t1_source = stamps.t1_source;
    result_.t4_source = stamps.t4_source;
    // An interleaved answer completes the previous exchange: its stamps, its clock.
    result_.phc_ifindex = sample->interleaved && exchange_.previous() ? exchange_.previous()->phc_ifindex
                                                                       : stamps.phc_ifindex;
    result_.response_length = (*packet)->length;
    result_.server_reference_id = reference_id_of(socket_.server().storage);
    sockaddr_storage local{};
    socklen_t local_length = sizeof local;
    if (::getsockname(socket_.fd(), reinterpret_cast<sockaddr*>(&local), &local_length) == 0) {
      result_.local_reference_id = reference_id_of(local);
    }
    return result_;
  }
}

NtpExchangeError PendingNtpExchange::timed_out(std::chrono::milliseconds timeout) const {
  return check_.timed_out(socket_.server().to_string(), timeout);
}

std::optional<std::expected<NtpSample, NtpExchangeError>> ResponseCheck::on_response(const NtpClientExchange& exchange,
                                                                                     ByteView response,
                                                                                     const timespec& t1,
                                                                                     const timespec& t4,
                                                                                     NtsClientSession* session) {
  auto sample = exchange.handle_response(response, t1, t4, session);
  if (sample) return std::move(*sample);
  const ResponseProblem p = sample.error().problem;
  if (ends_exchange(p)) return std::unexpected(NtpExchangeError{p, sample.error().message, rejected_});
  if (p == ResponseProblem::kNtsNak) {
    nak_seen_ = true;  // counted as a NAK if no authenticated answer comes by the timeout
    return std::nullopt;
  }
  ++rejected_;
  last_rejection_ = std::string(to_string(p)) + ": " + sample.error().message;
  return std::nullopt;
}

NtpExchangeError ResponseCheck::timed_out(const std::string& server, std::chrono::milliseconds timeout) const {
  std::string why = "no valid response from " + server + " within " + std::to_string(timeout.count()) + " ms";
  if (rejected_) why += " (" + std::to_string(rejected_) + " rejected: " + last_rejection_ + ")";
  if (nak_seen_) return NtpExchangeError{ResponseProblem::kNtsNak, "NTS NAK (unauthenticated) and " + why, rejected_};
  return io_error(why, rejected_);
}

Result<UniqueFd> hold_rx_timestamping() {
  auto fd = open_socket(AF_INET, SOCK_DGRAM);
  if (!fd) return fd;
  if (auto ok = enable_timestamping(fd->get(), false); !ok) return std::unexpected(ok.error());
  return fd;
}

NtpExchangeOutcome run_ntp_exchange(const SocketAddress& server, const NtpClientExchange& exchange,
                                    NtsClientSession* session, std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  auto pending = PendingNtpExchange::start(server, exchange);
  if (!pending) return std::unexpected(pending.error());
  for (;;) {
    auto revents = wait_for(pending->fd(), pending->events(), deadline);
    if (!revents) return std::unexpected(io_error(revents.error().message));
    if (*revents == 0) return std::unexpected(pending->timed_out(timeout));
    if (auto outcome = pending->on_ready(*revents, session)) return *outcome;
  }
}

}  // namespace kairos
