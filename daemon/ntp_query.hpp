#pragma once
// One NTP exchange on a fresh UDP socket (a new random source port per request), with kernel
// RX/TX timestamps where the socket gives them and user-space stamps otherwise.
// PendingNtpExchange is driven by readiness (kairosd's poll loop); run_ntp_exchange wraps it in
// a blocking wait for kairosctl and tests.
#include <poll.h>

#include <chrono>
#include <expected>
#include <optional>
#include <string>

#include "daemon/net.hpp"
#include "hwts/packet_timestamps.hpp"
#include "nts/ntp_client.hpp"

namespace kairos {

struct NtpExchangeResult {
  NtpSample sample;
  StampSource t1_source = StampSource::kDaemon;
  StampSource t4_source = StampSource::kDaemon;
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

// Responses that fail the checks are counted and skipped (an attacker's packet must not end the
// wait for the real one), except NAK and kiss codes, which end the exchange.
class PendingNtpExchange {
 public:
  // Opens the socket and sends the request.
  static std::expected<PendingNtpExchange, NtpExchangeError> start(const SocketAddress& server,
                                                                   NtpClientExchange exchange);

  int fd() const { return fd_.get(); }
  short events() const { return POLLIN; }  // POLLERR (TX stamps, ICMP) is always reported
  // Handles what poll reported; nullopt while the exchange goes on.
  std::optional<NtpExchangeOutcome> on_ready(short revents, NtsClientSession* session);
  // The deadline passed without an accepted response.
  NtpExchangeError timed_out(std::chrono::milliseconds timeout) const;

 private:
  PendingNtpExchange(UniqueFd fd, SocketAddress server, NtpClientExchange exchange)
      : fd_(std::move(fd)), server_(server), exchange_(std::move(exchange)) {}
  std::optional<NtpExchangeError> take_tx_stamp();

  UniqueFd fd_;
  SocketAddress server_;
  NtpClientExchange exchange_;
  PacketStamp t1_;
  bool have_tx_stamp_ = false;
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
