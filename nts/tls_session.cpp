#include "nts/tls_session.hpp"

#include "nts/openssl_error.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>

namespace kairos {
namespace {

constexpr unsigned char kAlpnWire[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};
constexpr char kServerGroups[] = "X25519:P-256";
// OpenSSL's TLS 1.3 suites, all three still accepted, in the server's order: ChaCha20-Poly1305
// first because it comes with SHA-256, which x86 CPUs compute in hardware (SHA-NI) where SHA-384
// is SHA-512 in software, and a handshake hashes its transcript and runs HKDF ~20 times: ~7 % of
// the server's CPU per handshake (bench_ke_server). Its key is 256 bits like AES-256-GCM's, so no
// client gets a weaker cipher than the client's order (AES-256-GCM first by default) gave it; a
// client without ChaCha20 (FIPS) still gets AES-256-GCM, and one with AES-128-GCM only, that.
constexpr char kServerSuites[] = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";

bool is_ip_address(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// Server side: accept only ntske/1 (RFC 8915 §4: no other protocol is spoken on this port).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnWire, sizeof kAlpnWire, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Result<SslCtxPtr> new_context(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return fail(openssl_error("cannot create TLS context"));
  // RFC 8915 §3: NTS-KE requires TLS 1.3 or later.
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1) return fail("cannot require TLS 1.3");
  return ctx;
}

}  // namespace

void SslCtxDeleter::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
void TlsSession::SslDeleter::operator()(SSL* ssl) const { SSL_free(ssl); }

Result<SslCtxPtr> make_tls_client_context(const TlsClientOptions& options) {
  auto ctx = new_context(TLS_client_method());
  if (!ctx) return ctx;
  if (options.system_trust && SSL_CTX_set_default_verify_paths(ctx->get()) != 1) {
    return fail(openssl_error("cannot load the system trust store"));
  }
  if (options.ca_file && SSL_CTX_load_verify_locations(ctx->get(), options.ca_file->c_str(), nullptr) != 1) {
    return fail(openssl_error("cannot load CA file " + *options.ca_file));
  }
  SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

namespace {

// What every server context gets once its certificate and key are in.
Result<SslCtxPtr> finish_server_context(SslCtxPtr ctx);

}  // namespace

Result<SslCtxPtr> make_tls_server_context(const std::string& chain_file, const std::string& key_file) {
  auto ctx = new_context(TLS_server_method());
  if (!ctx) return ctx;
  if (SSL_CTX_use_certificate_chain_file(ctx->get(), chain_file.c_str()) != 1) {
    return fail(openssl_error("cannot load certificate chain " + chain_file));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx->get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(openssl_error("cannot load private key " + key_file));
  }
  if (SSL_CTX_check_private_key(ctx->get()) != 1) {
    return fail("private key " + key_file + " does not match certificate " + chain_file);
  }
  return finish_server_context(std::move(*ctx));
}

Result<SslCtxPtr> make_tls_server_context_from_pem(const std::string& chain_pem, const std::string& key_pem) {
  auto ctx = new_context(TLS_server_method());
  if (!ctx) return ctx;
  std::unique_ptr<BIO, decltype(&BIO_free)> chain(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())),
                                                  BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                BIO_free);
  if (!chain || !key) return fail("cannot create TLS buffers");
  // The leaf first, then whatever chain follows it.
  X509* leaf = PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr);
  if (!leaf || SSL_CTX_use_certificate(ctx->get(), leaf) != 1) {
    X509_free(leaf);
    return fail(openssl_error("cannot load the certificate"));
  }
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx->get(), extra) != 1) {
      X509_free(extra);
      return fail(openssl_error("cannot load the certificate chain"));
    }
  }
  ERR_clear_error();  // the end of the chain reads as an error
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
  if (!pkey || SSL_CTX_use_PrivateKey(ctx->get(), pkey) != 1) {
    EVP_PKEY_free(pkey);
    return fail(openssl_error("cannot load the private key"));
  }
  EVP_PKEY_free(pkey);
  if (SSL_CTX_check_private_key(ctx->get()) != 1) return fail("the private key does not match the certificate");
  return finish_server_context(std::move(*ctx));
}

namespace {

Result<SslCtxPtr> finish_server_context(SslCtxPtr ctx) {
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
  // Key exchange groups named, cheapest first: X25519 costs a fraction of P-256, and OpenSSL's
  // default list also accepts X448, P-384, P-521 and the FFDHE groups, each far dearer for a
  // server to compute when a client asks for it. Every TLS 1.3 client offers X25519 or P-256
  // (RFC 8446 §9.1: P-256 is mandatory, X25519 should be offered).
  if (SSL_CTX_set1_groups_list(ctx.get(), kServerGroups) != 1) return fail(openssl_error("cannot set TLS groups"));
  if (SSL_CTX_set_ciphersuites(ctx.get(), kServerSuites) != 1) return fail(openssl_error("cannot set TLS cipher suites"));
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An NTS-KE connection is one request and one answer, and clients do not resume sessions:
  // TLS 1.3 session tickets would cost an encryption and a record per handshake for nothing.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

}  // namespace

TlsSession::TlsSession(std::unique_ptr<SSL, SslDeleter> ssl) : ssl_(std::move(ssl)) {}

std::string TlsSession::peer_certificate_sha256() const {
  X509* leaf = SSL_get0_peer_certificate(ssl_.get());
  if (!leaf) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(leaf, EVP_sha256(), digest, &length) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string TlsSession::key_exchange_group() const {
  if (!handshake_done_) return {};
  const auto nid = static_cast<int>(SSL_get_negotiated_group(ssl_.get()));
  const char* name = nid > 0 ? OBJ_nid2sn(nid) : nullptr;
  return name ? name : "";
}

std::string TlsSession::cipher_suite() const {
  if (!handshake_done_) return {};
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get());
  const char* name = cipher ? SSL_CIPHER_standard_name(cipher) : nullptr;
  return name ? name : "";
}

TlsSession::TlsSession(TlsSession&&) noexcept = default;
TlsSession& TlsSession::operator=(TlsSession&&) noexcept = default;
TlsSession::~TlsSession() = default;

static Result<std::unique_ptr<SSL, void (*)(SSL*)>> new_ssl_with_bios(SSL_CTX* ctx) {
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(ctx), SSL_free);
  if (!ssl) return fail(openssl_error("cannot create TLS session"));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    return fail("cannot create TLS buffers");
  }
  // An empty read BIO means "would block", not end of file.
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl.get(), in, out);
  return ssl;
}

Result<TlsSession> TlsSession::client(SSL_CTX* ctx, const std::string& server_name) {
  auto ssl = new_ssl_with_bios(ctx);
  if (!ssl) return std::unexpected(ssl.error());
  SSL* s = ssl->get();
  if (is_ip_address(server_name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), server_name.c_str()) != 1) {
      return fail("bad server address " + server_name);
    }
  } else {
    // SNI and the host name check; RFC 6066 forbids IP literals in SNI.
    if (SSL_set_tlsext_host_name(s, server_name.c_str()) != 1 || SSL_set1_host(s, server_name.c_str()) != 1) {
      return fail("bad server name " + server_name);
    }
  }
  if (SSL_set_alpn_protos(s, kAlpnWire, sizeof kAlpnWire) != 0) return fail("cannot offer ALPN ntske/1");
  SSL_set_connect_state(s);
  return TlsSession(std::unique_ptr<SSL, SslDeleter>(ssl->release()));
}

Result<TlsSession> TlsSession::server(SSL_CTX* ctx) {
  auto ssl = new_ssl_with_bios(ctx);
  if (!ssl) return std::unexpected(ssl.error());
  SSL_set_accept_state(ssl->get());
  return TlsSession(std::unique_ptr<SSL, SslDeleter>(ssl->release()));
}

Result<void> TlsSession::feed(ByteView from_peer) {
  if (from_peer.empty()) return {};
  if (from_peer.size() > INT32_MAX) return fail("TLS input too large");
  BIO* in = SSL_get_rbio(ssl_.get());
  if (BIO_write(in, from_peer.data(), static_cast<int>(from_peer.size())) != static_cast<int>(from_peer.size())) {
    return fail("cannot buffer TLS input");
  }
  return {};
}

std::size_t TlsSession::drain(std::vector<std::uint8_t>& out) {
  BIO* bio = SSL_get_wbio(ssl_.get());
  const std::size_t pending = BIO_ctrl_pending(bio);
  if (pending == 0) return 0;
  const std::size_t old = out.size();
  out.resize(old + pending);
  const int n = BIO_read(bio, out.data() + old, static_cast<int>(pending));
  out.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
  return out.size() - old;
}

bool TlsSession::wants_to_send() const { return BIO_ctrl_pending(SSL_get_wbio(ssl_.get())) > 0; }

Result<void> TlsSession::check_alpn() {
  const unsigned char* alpn = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &alpn, &length);
  if (length != sizeof kAlpnWire - 1 || std::memcmp(alpn, kAlpnWire + 1, length) != 0) {
    return fail("peer did not agree to ALPN protocol ntske/1");
  }
  return {};
}

Result<TlsSession::Progress> TlsSession::handshake() {
  if (handshake_done_) return Progress::kDone;
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    if (auto ok = check_alpn(); !ok) return std::unexpected(ok.error());
    handshake_done_ = true;
    return Progress::kDone;
  }
  const int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Progress::kWantIo;
  const long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK) {
    return fail(std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify));
  }
  return fail(openssl_error("TLS handshake failed"));
}

Result<void> TlsSession::write(ByteView data) {
  if (!handshake_done_) return fail("TLS write before the handshake completed");
  if (data.empty()) return {};
  if (data.size() > INT32_MAX) return fail("TLS write too large");
  ERR_clear_error();
  // Memory BIOs grow as needed, so a write completes in one call.
  const int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
  if (n != static_cast<int>(data.size())) return fail(openssl_error("TLS write failed"));
  return {};
}

Result<TlsSession::Progress> TlsSession::read(std::vector<std::uint8_t>& out, std::size_t max_total) {
  std::uint8_t buf[4096];
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_.get(), buf, static_cast<int>(sizeof buf));
    if (n > 0) {
      if (out.size() + static_cast<std::size_t>(n) > max_total) {
        return fail("peer sent more than " + std::to_string(max_total) + " bytes");
      }
      out.insert(out.end(), buf, buf + n);
      continue;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Progress::kWantIo;
    if (err == SSL_ERROR_ZERO_RETURN) return Progress::kDone;
    return fail(openssl_error("TLS read failed"));
  }
}

void TlsSession::shutdown() { SSL_shutdown(ssl_.get()); }

Result<void> TlsSession::export_key(const std::string& label, ByteView context, std::span<std::uint8_t> out) const {
  if (!handshake_done_) return fail("key export before the handshake completed");
  if (SSL_export_keying_material(ssl_.get(), out.data(), out.size(), label.data(), label.size(), context.data(),
                                 context.size(), 1) != 1) {
    return fail(openssl_error("TLS key export failed"));
  }
  return {};
}

}  // namespace kairos
