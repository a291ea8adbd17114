#include "fca/http/tls.hpp"

#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "tls_impl.hpp"

namespace fca::http {
namespace {

std::string openssl_reason() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// The key file is unencrypted (mode 0600); an encrypted one is refused, never prompted for on a tty.
int no_passphrase(char*, int, int, void*) { return 0; }

int accept_any_chain(int, X509_STORE_CTX*) { return 1; }

int staple(SSL* ssl, void* arg) {
  const auto* impl = static_cast<const TlsContext::Impl*>(arg);
  X509* leaf = SSL_get_certificate(ssl);
  if (leaf == nullptr || !impl->stapler) return SSL_TLSEXT_ERR_NOACK;
  const auto der = impl->stapler(leaf);
  if (der.empty()) return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der.size()));  // OpenSSL frees it with the connection
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, der.data(), der.size());
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size()));
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TlsContext::TlsContext() : impl_(std::make_unique<Impl>()) {}
TlsContext::~TlsContext() = default;

std::expected<std::shared_ptr<TlsContext>, std::string> TlsContext::bcp003_server() {
  std::shared_ptr<TlsContext> made(new TlsContext());
  SSL_CTX* ctx = made->native();
  const bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
                  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                  SSL_CTX_set_ciphersuites(ctx, kBcp003Tls13Suites) == 1 &&
                  SSL_CTX_set_cipher_list(ctx, kBcp003Tls12Ciphers) == 1;
  if (!ok) return std::unexpected("TLS policy refused by OpenSSL: " + openssl_reason());
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // thousands of idle connections keep no 34 KB buffers
  SSL_CTX_set_dh_auto(ctx, 1);
  made->set_session_tickets(false);
  return made;
}

std::expected<void, std::string> TlsContext::add_certificate(const std::string& chain_pem_file, const std::string& key_pem_file) {
  // The pair is checked on its own first: OpenSSL keeps one slot per key type, and checking the
  // context afterwards would compare a key with whichever certificate of its type is installed.
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new_file(chain_pem_file.c_str(), "r"), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr,
                                                  &X509_free);
  if (!leaf) return std::unexpected("cannot load certificate chain " + chain_pem_file + ": " + openssl_reason());
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new_file(key_pem_file.c_str(), "r"), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr) : nullptr, &EVP_PKEY_free);
  if (!key) return std::unexpected("cannot load key " + key_pem_file + ": " + openssl_reason());
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return std::unexpected("key " + key_pem_file + " does not match " + chain_pem_file + ": " + openssl_reason());
  }
  SSL_CTX* ctx = native();
  if (SSL_CTX_use_certificate_chain_file(ctx, chain_pem_file.c_str()) != 1) {
    return std::unexpected("cannot load certificate chain " + chain_pem_file + ": " + openssl_reason());
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return std::unexpected("cannot use key " + key_pem_file + ": " + openssl_reason());
  }
  return {};
}

void TlsContext::request_client_certificates() {
  SSL_CTX_set_verify(native(), SSL_VERIFY_PEER, accept_any_chain);
  // Resumed sessions keep the peer certificate; OpenSSL refuses them without a context id.
  static constexpr unsigned char kContext[] = "facility-ca";
  SSL_CTX_set_session_id_context(native(), kContext, sizeof kContext - 1);
}

void TlsContext::set_session_tickets(bool enabled) {
  if (enabled) {
    SSL_CTX_clear_options(native(), SSL_OP_NO_TICKET);
  } else {
    SSL_CTX_set_options(native(), SSL_OP_NO_TICKET);
  }
}

void TlsContext::staple_ocsp(Stapler stapler) {
  impl_->stapler = std::move(stapler);
  SSL_CTX_set_tlsext_status_cb(native(), staple);
  SSL_CTX_set_tlsext_status_arg(native(), impl_.get());
}

SSL_CTX* TlsContext::native() { return impl_->context.native_handle(); }

}  // namespace fca::http
