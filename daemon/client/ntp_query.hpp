#pragma once
// One NTP exchange, with kernel RX/TX timestamps where the socket gives them and user-space stamps
// otherwise. Basic mode: a fresh UDP socket per request, so a new random source port each time
// (RFC 9109 §3). Interleaved mode: the association keeps one socket (NtpClientSocket) for its
// exchanges. The RFC's matching does not need the port — servers key their state by receive
// timestamp — but a server with several workers behind SO_REUSEPORT (kairosd) finds the previous
// exchange only on the worker that served it, and the 4-tuple hash sends a fixed port back there.
// What RFC 9109 protects with a fresh port (off-path guessing of the exchange) the random 64-bit
// origin cookies and, with NTS, authentication still protect; the port is random once per socket.
// PendingNtpExchange is driven by readiness (kairosd's poll loop); run_ntp_exchange wraps it in
// a blocking wait for kairosctl and tests.
#include <poll.h>

#include <chrono>
#include <expected>
#include <optional>
#include <string>

#include "daemon/client/net.hpp"
#include "hwts/packet_timestamps.hpp"
#include "hwts/stamp_choice.hpp"
#include "nts/ntp_client.hpp"

namespace kairos {

// Whether a datagram's source is the server: family, address and port, never the padding.
bool same_address(const sockaddr_storage& a, socklen_t a_length, const SocketAddress& b);

// A connected UDP socket kept across exchanges, with the OPT_ID count of datagrams it has sent.
class NtpClientSocket {
 public:
  // With `hardware`, the socket also asks for NIC stamps (and the interface that took them); a
  // kernel that refuses gets a software-only socket.
  // `portable` (an interposing simulator, event_loop.hpp): the error queue is read once right
  // after each send and its stamp taken whatever OPT_ID it carries — simulators count OPT_IDs
  // their own way, and their read of an empty error queue takes the next datagram instead.
  // `bind`: hardware stamps in a PTP virtual clock's time, the socket bound to its NIC
  // (packet_timestamps.hpp); a refusal is an error (the operator asked for it), not a fallback.
  static Result<NtpClientSocket> open(const SocketAddress& server, bool hardware = false, bool portable = false,
                                      const std::optional<PhcBinding>& bind = std::nullopt);

  int fd() const { return fd_.get(); }
  const SocketAddress& server() const { return server_; }
  bool kernel_stamps() const { return kernel_stamps_; }
  bool hardware_stamps() const { return hardware_stamps_; }
  // Sends one datagram; returns the OPT_ID its transmit stamp will carry.
  Result<std::uint32_t> send(std::span<const std::uint8_t> bytes);
  // Reads the error queue: the stamps of datagram `id` that are there (others are dropped).
  TxStamps take_tx_stamps(std::uint32_t id);

 private:
  NtpClientSocket(UniqueFd fd, SocketAddress server, bool kernel_stamps, bool hardware_stamps, bool portable)
      : fd_(std::move(fd)),
        server_(server),
        kernel_stamps_(kernel_stamps),
        hardware_stamps_(hardware_stamps),
        portable_(portable) {}
  UniqueFd fd_;
  SocketAddress server_;
  bool kernel_stamps_ = false;
  bool hardware_stamps_ = false;
  bool portable_ = false;
  bool stamp_unread_ = false;  // portable: a datagram was sent and its stamp not read yet
  std::uint32_t next_id_ = 0;
};

struct NtpExchangeResult {
  NtpSample sample;
  StampSource t1_source = StampSource::kDaemon;
  StampSource t4_source = StampSource::kDaemon;
  // The clock the sample's offset is against: 0 the system clock, else the interface whose PHC
  // stamped the exchange it describes (hardware t1 and t4).
  int phc_ifindex = 0;
  // RFC 5905 reference IDs (reference_id_of_address) of the server's address, which our own server
  // announces while synchronized to it, and of our address on the path to it, which that server
  // would announce if it were synchronized to us (a loop); 0 when unknown.
  std::uint32_t server_reference_id = 0;
  std::uint32_t local_reference_id = 0;
  std::size_t request_length = 0;
  std::size_t response_length = 0;
  std::size_t rejected = 0;  // responses that arrived but were not accepted (forged, stale…)
  std::string last_rejection;
};

struct NtpExchangeError {
  std::optional<ResponseProblem> problem;  // set when a response was received and refused
  std::string message;
  std::size_t rejected = 0;
};

using NtpExchangeOutcome = std::expected<NtpExchangeResult, NtpExchangeError>;

// What one exchange makes of the datagrams from its server and of its deadline, sans IO: kairosd's
// PendingNtpExchange and kairos-sim's simulated network both hand each datagram to it. Responses
// that fail the checks are counted and skipped (an attacker's packet must not end the wait for the
// real one), except kiss codes and an unsynchronized server, which end the exchange. An NTS NAK is
// unauthenticated: it is remembered, the wait goes on for a valid answer, and the timeout reports
// it (RFC 8915 §5.7).
class ResponseCheck {
 public:
  // nullopt: wait on. Else the sample (the caller completes the result) or the error that ends it.
  std::optional<std::expected<NtpSample, NtpExchangeError>> on_response(const NtpClientExchange& exchange,
                                                                        ByteView response, const timespec& t1,
                                                                        const timespec& t4, NtsClientSession* session);
  // The deadline passed without an accepted response; `server` names it in the message.
  NtpExchangeError timed_out(const std::string& server, std::chrono::milliseconds timeout) const;
  std::size_t rejected() const { return rejected_; }

 private:
  std::size_t rejected_ = 0;
  std::string last_rejection_;
  bool nak_seen_ = false;  // an NTS NAK came; the timeout reports it if nothing valid followed
};

// Responses that fail the checks are counted and skipped (ResponseCheck), except NAK and kiss
// codes, which end the exchange.
class PendingNtpExchange {
 public:
  // Opens the socket and sends the request.
  // `hardware` names the interfaces whose NIC stamps may be used (none: system clock only).
  static std::expected<PendingNtpExchange, NtpExchangeError> start(const SocketAddress& server,
                                                                   NtpClientExchange exchange,
                                                                   HardwareInterfaces hardware = {});
  // Sends the request on a kept socket (interleaved mode); release_socket() gives it back.
  static std::expected<PendingNtpExchange, NtpExchangeError> start(NtpClientSocket socket,
                                                                   NtpClientExchange exchange,
                                                                   HardwareInterfaces hardware = {});
  NtpClientSocket release_socket() && { return std::move(socket_); }
  // The OPT_ID of this exchange's request, for a transmit stamp that comes after the answer.
  std::uint32_t request_id() const { return request_id_; }
  bool have_tx_stamp() const { return have_tx_stamp_; }

  int fd() const { return socket_.fd(); }
  short events() const { return POLLIN; }  // POLLERR (TX stamps, ICMP) is always reported
  // Handles what poll reported; nullopt while the exchange goes on.
  std::optional<NtpExchangeOutcome> on_ready(short revents, NtsClientSession* session);
  // The deadline passed without an accepted response.
  NtpExchangeError timed_out(std::chrono::milliseconds timeout) const;

 private:
  PendingNtpExchange(NtpClientSocket socket, NtpClientExchange exchange, HardwareInterfaces hardware)
      : socket_(std::move(socket)), exchange_(std::move(exchange)), hardware_(std::move(hardware)) {}
  std::optional<NtpExchangeError> take_tx_stamp();

  NtpClientSocket socket_;
  NtpClientExchange exchange_;
  HardwareInterfaces hardware_;
  std::uint32_t request_id_ = 0;
  timespec t1_daemon_{};
  TxStamps tx_;
  bool have_tx_stamp_ = false;
  ResponseCheck check_;
  NtpExchangeResult result_;
};

// Linux turns software RX timestamping on for the whole stack when the first socket asks for it,
// through deferred work, and off again when the last such socket closes: packets arriving in that
// window carry no stamp. Each exchange opens a fresh socket, so the process holds one
// timestamping socket for its whole life to keep the stamps flowing.
Result<UniqueFd> hold_rx_timestamping();

NtpExchangeOutcome run_ntp_exchange(const SocketAddress& server, const NtpClientExchange& exchange,
                                    NtsClientSession* session, std::chrono::milliseconds timeout);

}  // namespace kairos
