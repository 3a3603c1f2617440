#pragma once
// One NTP exchange on a fresh UDP socket (a new random source port per request), with kernel
// RX/TX timestamps where the socket gives them and user-space stamps otherwise.
#include <chrono>
#include <expected>
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

// Sends the exchange's request to `server` and waits until the deadline for a response that the
// exchange accepts; responses that fail the checks are counted and skipped (an attacker's
// packet must not end the wait for the real one), except NAK and kiss codes, which end it.
std::expected<NtpExchangeResult, NtpExchangeError> run_ntp_exchange(const SocketAddress& server,
                                                                    const NtpClientExchange& exchange,
                                                                    NtsClientSession* session,
                                                                    std::chrono::milliseconds timeout);

}  // namespace kairos
