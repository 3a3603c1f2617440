#pragma once
// A throwaway PKI for tests: a CA and leaf certificates it signs, written as PEM files into a
// fresh temporary directory that is removed afterwards.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace kairos::test {

enum class LeafKey { kEcdsaP256, kRsa2048 };

class TestPki {
 public:
  // Two CAs trusted together need names of their own: a verifier finds the issuer by its name.
  explicit TestPki(const char* ca_name = "kairos test CA") {
    char tmpl[] = "/tmp/kairos-pki.XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    ca_key_ = EVP_EC_gen("P-256");
    ca_cert_ = make_cert(ca_key_, ca_name, nullptr, nullptr, true, 0, 3600);
    write_cert(ca_cert_, path("ca.crt"));
  }
  ~TestPki() {
    X509_free(ca_cert_);
    EVP_PKEY_free(ca_key_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string ca_file() const { return path("ca.crt"); }

  // Writes NAME.crt (leaf then CA: a full chain) and NAME.key; san like "DNS:localhost,IP:127.0.0.1".
  void issue(const std::string& name, const std::string& san, long not_before = 0, long not_after = 3600,
             LeafKey key_type = LeafKey::kEcdsaP256) {
    EVP_PKEY* key = key_type == LeafKey::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509* cert = make_cert(key, "kairos test server", ca_key_, ca_cert_, false, not_before, not_after, san);
    FILE* f = std::fopen(path(name + ".key").c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    f = std::fopen(path(name + ".crt").c_str(), "w");
    PEM_write_X509(f, cert);
    PEM_write_X509(f, ca_cert_);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }

 private:
  static X509* make_cert(EVP_PKEY* key, const char* cn, EVP_PKEY* issuer_key, X509* issuer, bool is_ca,
                         long not_before, long not_after, const std::string& san = "") {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before - 60);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add(NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!san.empty()) add(NID_subject_alt_name, san);
    X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256());
    return cert;
  }
  static void write_cert(X509* cert, const std::string& file) {
    FILE* f = std::fopen(file.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
  }

  std::string dir_;
  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_cert_ = nullptr;
};

}  // namespace kairos::test
