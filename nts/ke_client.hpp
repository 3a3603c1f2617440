#pragma once
// The client side of NTS-KE (RFC 8915 §4), sans IO: bytes from the TCP connection go in with
// receive(), bytes to send come out of drain(). When done() the result holds the negotiated
// AEAD, the C2S/S2C keys exported from TLS (§4.3), the cookies and where to send NTP.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"
#include "nts/ke_message.hpp"
#include "nts/nts_keys.hpp"
#include "nts/tls_session.hpp"

namespace kairos {

inline constexpr std::uint16_t kNtpDefaultPort = 123;
inline constexpr std::uint16_t kNtsKeDefaultPort = 4460;

struct KeClientOptions {
  std::string server_name;  // host name or address the certificate must match
  std::vector<std::uint16_t> aeads{17, 16, 15};  // our order of preference
};

struct KeClientResult {
  NtsKeys keys;
  std::vector<std::vector<std::uint8_t>> cookies;
  std::string ntp_server;  // from Server Negotiation, else the NTS-KE server itself
  std::uint16_t ntp_port = kNtpDefaultPort;
  bool server_negotiated = false;
  bool port_negotiated = false;
  // The NTS-KE server's leaf certificate, SHA-256 in hex ("" when unknown: a state saved by an
  // older kairosd); what the evidence log names the server by.
  std::string certificate_sha256;
};

class KeClient {
 public:
  static Result<KeClient> start(SSL_CTX* ctx, KeClientOptions options);

  // Bytes that arrived on the connection.
  Result<void> receive(ByteView bytes);
  // The peer closed the connection (before a complete response is an error).
  Result<void> peer_closed();
  // Bytes to send; returns how many were appended to out.
  std::size_t drain(std::vector<std::uint8_t>& out) { return tls_.drain(out); }

  bool done() const { return result_.has_value(); }
  const KeClientResult& result() const { return *result_; }

 private:
  KeClient(TlsSession tls, KeClientOptions options) : tls_(std::move(tls)), options_(std::move(options)) {}
  Result<void> advance();
  Result<void> finish(std::size_t message_length);

  TlsSession tls_;
  KeClientOptions options_;
  KeRequest request_;
  bool request_sent_ = false;
  std::vector<std::uint8_t> received_;
  std::optional<KeClientResult> result_;
};

}  // namespace kairos
