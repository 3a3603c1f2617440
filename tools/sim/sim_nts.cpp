#include "sim_nts.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>

#include "nts/ke_server.hpp"

namespace kairos::sim {
namespace {

// Far more than a TLS 1.3 handshake and one request and answer take (about four flights).
constexpr int kMaxRounds = 16;

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

// A self-signed P-256 certificate for the names, valid for a day around now (the TLS library
// checks it against the host's real clock, not the simulated one).
Result<X509Ptr> self_signed(EVP_PKEY* key, const std::vector<std::string>& names) {
  X509Ptr cert(X509_new(), X509_free);
  if (!cert) return fail("cannot create the simulated server's certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kairos-sim NTS-KE server"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san;
  for (const std::string& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
                                   {NID_key_usage, "critical,digitalSignature"},
                                   {NID_ext_key_usage, "serverAuth"},
                                   {NID_subject_alt_name, san}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return fail("cannot build the simulated server's certificate");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) return fail("cannot sign the simulated server's certificate");
  return cert;
}

}  // namespace

Result<SimNtsKe> SimNtsKe::create(const std::vector<std::string>& server_names) {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return fail("cannot make a key for the simulated NTS-KE server");
  auto cert = self_signed(key.get(), server_names);
  if (!cert) return std::unexpected(cert.error());
  BioPtr cert_pem(BIO_new(BIO_s_mem()), BIO_free);
  BioPtr key_pem(BIO_new(BIO_s_mem()), BIO_free);
  if (!cert_pem || !key_pem || PEM_write_bio_X509(cert_pem.get(), cert->get()) != 1 ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail("cannot write the simulated server's certificate");
  }
  auto server = make_tls_server_context_from_pem(bio_text(cert_pem.get()), bio_text(key_pem.get()));
  if (!server) return std::unexpected(server.error());
  // The client trusts this one certificate, nothing of the host.
  auto client = make_tls_client_context(TlsClientOptions{.server_name = "", .ca_file = std::nullopt, .system_trust = false});
  if (!client) return std::unexpected(client.error());
  if (X509_STORE_add_cert(SSL_CTX_get_cert_store(client->get()), cert->get()) != 1) {
    return fail("cannot trust the simulated server's certificate");
  }
  return SimNtsKe(std::move(*client), std::move(*server));
}

Result<KeClientResult> SimNtsKe::exchange(const KeClientOptions& options, KeyRing& ring) const {
  auto client = KeClient::start(client_.get(), options);
  if (!client) return std::unexpected(client.error());
  auto server = KeServerSession::start(server_.get(), KeServerOptions{});
  if (!server) return std::unexpected(server.error());
  std::vector<std::uint8_t> bytes;
  for (int round = 0; round < kMaxRounds; ++round) {
    bytes.clear();
    if (client->drain(bytes) > 0) server->receive(bytes, ring);
    bytes.clear();
    const std::size_t answered = server->drain(bytes);
    if (answered > 0) {
      if (auto ok = client->receive(bytes); !ok) return std::unexpected(ok.error());
    }
    if (client->done()) return client->result();
    const KeServerSession::State state = server->state();
    if (answered == 0 && (state == KeServerSession::State::kDone || state == KeServerSession::State::kFailed)) {
      if (auto ok = client->peer_closed(); !ok) {
        return fail(ok.error().message + (server->failure().empty() ? "" : " (server: " + server->failure() + ")"));
      }
    }
  }
  return fail("the simulated NTS-KE did not finish");
}

}  // namespace kairos::sim
