#include "fca/core/signing.hpp"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

namespace fca {

Result<MdCtxPtr> SigningKey::make_sign_context() {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, signature_digest(key_.get()), nullptr, key_.get()) != 1) {
    return fail_openssl(Errc::key_failure, "cannot start a signature with the CA key");
  }
  return ctx;
}

Result<void> SigningKey::sign(X509* cert) {
  auto lock = exclusive();
  auto ctx = make_sign_context();
  if (!ctx) return std::unexpected(ctx.error());
  if (X509_sign_ctx(cert, ctx->get()) <= 0) return fail_openssl(Errc::key_failure, "signing the certificate failed");
  return {};
}

Result<void> SigningKey::sign_with_digest(X509* cert, const EVP_MD* digest) {
  auto lock = exclusive();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest, nullptr, key_.get()) != 1) {
    return fail_openssl(Errc::key_failure, "cannot start a signature with the CA key");
  }
  if (X509_sign_ctx(cert, ctx.get()) <= 0) return fail_openssl(Errc::key_failure, "signing the certificate failed");
  return {};
}

Result<void> SigningKey::sign(X509_REQ* req) {
  auto lock = exclusive();
  auto ctx = make_sign_context();
  if (!ctx) return std::unexpected(ctx.error());
  if (X509_REQ_sign_ctx(req, ctx->get()) <= 0) return fail_openssl(Errc::key_failure, "signing the CSR failed");
  return {};
}

Result<void> SigningKey::sign(X509_CRL* crl) {
  auto lock = exclusive();
  auto ctx = make_sign_context();
  if (!ctx) return std::unexpected(ctx.error());
  if (X509_CRL_sign_ctx(crl, ctx->get()) <= 0) return fail_openssl(Errc::key_failure, "signing the CRL failed");
  return {};
}

Result<void> SigningKey::sign(OCSP_BASICRESP* response, X509* signer, STACK_OF(X509) * certs, unsigned long flags) {
  auto lock = exclusive();
  auto ctx = make_sign_context();
  if (!ctx) return std::unexpected(ctx.error());
  if (OCSP_basic_sign_ctx(response, signer, ctx->get(), certs, flags) != 1) {
    return fail_openssl(Errc::key_failure, "signing the OCSP response failed");
  }
  return {};
}

Result<std::shared_ptr<SigningKey>> SigningKeys::get(const std::string& uri) {
  std::lock_guard lock(mutex_);
  if (auto found = keys_.find(uri); found != keys_.end()) return found->second;
  auto key = store_.open(uri);
  if (!key) return std::unexpected(key.error());
  auto signing_key = std::make_shared<SigningKey>(std::move(*key), store_.signs_one_at_a_time(uri));
  keys_.emplace(uri, signing_key);
  return signing_key;
}

}  // namespace fca
