#include "nts/ke_client.hpp"

namespace kairos {

Result<KeClient> KeClient::start(SSL_CTX* ctx, KeClientOptions options) {
  if (options.aeads.empty()) return fail("no AEAD algorithm to offer");
  for (std::uint16_t id : options.aeads) {
    if (!aead_key_length(id)) return fail("AEAD algorithm " + std::to_string(id) + " is not supported");
  }
  auto tls = TlsSession::client(ctx, options.server_name);
  if (!tls) return std::unexpected(tls.error());
  KeClient client(std::move(*tls), std::move(options));
  client.request_.next_protocols = {kNextProtocolNtpv4};
  client.request_.aead_algorithms = client.options_.aeads;
  // Produce the ClientHello.
  if (auto ok = client.advance(); !ok) return std::unexpected(ok.error());
  return client;
}

Result<void> KeClient::receive(ByteView bytes) {
  if (done()) return {};
  if (auto ok = tls_.feed(bytes); !ok) return ok;
  return advance();
}

Result<void> KeClient::peer_closed() {
  if (done()) return {};
  return fail(tls_.handshake_done() ? "NTS-KE server closed the connection before a complete response"
                                    : "NTS-KE server closed the connection during the TLS handshake");
}

Result<void> KeClient::advance() {
  auto progress = tls_.handshake();
  if (!progress) return std::unexpected(progress.error());
  if (*progress != TlsSession::Progress::kDone) return {};

  if (!request_sent_) {
    auto message = encode_request(request_);
    if (!message) return std::unexpected(message.error());
    // One write: some servers expect the whole request in one TLS record.
    if (auto ok = tls_.write(*message); !ok) return ok;
    request_sent_ = true;
  }
  auto read = tls_.read(received_, kKeDefaultMaxMessageLength);
  if (!read) return std::unexpected(read.error());
  auto scan = scan_message(received_);
  if (!scan) return fail("bad NTS-KE response: " + scan.error().message);
  if (scan->complete) return finish(scan->message_length);
  if (*read == TlsSession::Progress::kDone) return fail("NTS-KE server closed the connection mid-response");
  return {};
}

Result<void> KeClient::finish(std::size_t message_length) {
  auto response = decode_response(ByteView(received_).first(message_length), request_);
  if (!response) return std::unexpected(response.error());
  if (auto usable = check_usable(*response); !usable) return usable;
  if (!response->aead || !response->next_protocol) return fail("NTS-KE server agreed to no protocol or AEAD");
  if (response->cookies.empty()) return fail("NTS-KE server sent no cookies");

  auto keys = export_nts_keys(tls_, *response->next_protocol, *response->aead);
  if (!keys) return std::unexpected(keys.error());
  result_ = KeClientResult{
      .keys = std::move(*keys),
      .cookies = std::move(response->cookies),
      .ntp_server = response->server.value_or(options_.server_name),
      .ntp_port = response->port.value_or(kNtpDefaultPort),
      .server_negotiated = response->server.has_value(),
      .port_negotiated = response->port.has_value(),
      .certificate_sha256 = tls_.peer_certificate_sha256(),
  };
  tls_.shutdown();
  return {};
}

}  // namespace kairos
