#pragma once
// A TLS 1.3 endpoint over memory BIOs: the caller moves bytes between it and a socket, so the
// same NTS-KE code runs in the daemon, in tests (two sessions wired back to back) and in fuzzers.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/bytes.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace kairos {

inline constexpr char kNtsKeAlpn[] = "ntske/1";  // RFC 8915 §4

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct TlsClientOptions {
  std::string server_name;           // checked against the certificate (DNS name or IP address)
  std::optional<std::string> ca_file;  // extra trust anchors (PEM)
  bool system_trust = true;          // also trust the system store
};

// A client context for NTS-KE: TLS 1.3 only, peer verification on, ALPN ntske/1.
Result<SslCtxPtr> make_tls_client_context(const TlsClientOptions& options);
// A server context from a PEM certificate chain and private key: TLS 1.3 only, ALPN ntske/1,
// groups X25519 and P-256, ChaCha20-Poly1305 (SHA-256) preferred, no session tickets.
Result<SslCtxPtr> make_tls_server_context(const std::string& chain_file, const std::string& key_file);
// The same from PEM text in memory (kairos-sim's throwaway certificate: no files).
Result<SslCtxPtr> make_tls_server_context_from_pem(const std::string& chain_pem, const std::string& key_pem);

class TlsSession {
 public:
  enum class Progress { kWantIo, kDone };

  static Result<TlsSession> client(SSL_CTX* ctx, const std::string& server_name);
  static Result<TlsSession> server(SSL_CTX* ctx);

  TlsSession(TlsSession&&) noexcept;
  TlsSession& operator=(TlsSession&&) noexcept;
  ~TlsSession();

  // Bytes that arrived from the peer.
  Result<void> feed(ByteView from_peer);
  // Bytes to send to the peer (appended to out); returns how many were appended.
  std::size_t drain(std::vector<std::uint8_t>& out);
  bool wants_to_send() const;

  // Drives the handshake; kDone once it completed and ALPN ntske/1 was agreed.
  Result<Progress> handshake();
  bool handshake_done() const { return handshake_done_; }

  // Application data: write queues (after the handshake), read appends what has arrived.
  Result<void> write(ByteView data);
  // Appends decrypted bytes to out, at most max_total in out; kDone when the peer closed.
  Result<Progress> read(std::vector<std::uint8_t>& out, std::size_t max_total);
  // Sends close_notify.
  void shutdown();

  // The SHA-256 of the peer's leaf certificate (DER), lowercase hex, as `openssl x509
  // -fingerprint -sha256` shows it without colons; "" before the handshake or without one. The
  // evidence log names an NTS server by it (issue 25).
  std::string peer_certificate_sha256() const;

  // The key exchange group agreed ("X25519", "prime256v1", …: OpenSSL's short names); "" before
  // the handshake.
  std::string key_exchange_group() const;

  // The TLS 1.3 cipher suite agreed, by its RFC 8446 name ("TLS_AES_256_GCM_SHA384", …); "" before
  // the handshake.
  std::string cipher_suite() const;

  // RFC 5705 keying material exporter (RFC 8446 §7.5), used for the NTS keys.
  Result<void> export_key(const std::string& label, ByteView context, std::span<std::uint8_t> out) const;

 private:
  struct SslDeleter {
    void operator()(SSL* ssl) const;
  };
  explicit TlsSession(std::unique_ptr<SSL, SslDeleter> ssl);
  Result<void> check_alpn();

  std::unique_ptr<SSL, SslDeleter> ssl_;
  bool handshake_done_ = false;
};

}  // namespace kairos
