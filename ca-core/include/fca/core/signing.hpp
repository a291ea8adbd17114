#pragma once
// One signing path for certificates, CSRs and CRLs (OCSP joins later), whatever holds the key.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fca/core/error.hpp"
#include "fca/core/key_store.hpp"
#include "fca/core/ossl.hpp"

namespace fca {

// An opened private key. Signing is serialised when the key store says the key takes one operation
// at a time (a PKCS#11 session); a key in memory signs on every thread at once, each signature with
// its own context (openssl-threads(7)), so OCSP nonce answers and issuance use every core.
class SigningKey {
 public:
  explicit SigningKey(PKeyPtr key, bool one_at_a_time = true) : key_(std::move(key)), one_at_a_time_(one_at_a_time) {}
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  Result<void> sign(X509* cert);
  // With a digest of the caller's choosing instead of the key's own: only the lab's sha1-signature
  // kind (CertificateAuthority::lab_issue) asks for a weaker one.
  Result<void> sign_with_digest(X509* cert, const EVP_MD* digest);
  Result<void> sign(X509_REQ* req);
  Result<void> sign(X509_CRL* crl);
  // Signs an OCSP response as `signer` (the certificate of this key), including `certs` in it.
  Result<void> sign(OCSP_BASICRESP* response, X509* signer, STACK_OF(X509) * certs, unsigned long flags);
  // For callers that need the key itself (CMS signing): runs fn(EVP_PKEY*), under the lock when the
  // key takes one operation at a time.
  template <class Fn>
  auto with_key(Fn&& fn) {
    auto lock = exclusive();
    return fn(key_.get());
  }
  // The key's public half is safe to read without the lock (parameters do not change).
  const EVP_PKEY* key() const { return key_.get(); }

 private:
  Result<MdCtxPtr> make_sign_context();
  std::unique_lock<std::mutex> exclusive() {
    return one_at_a_time_ ? std::unique_lock(mutex_) : std::unique_lock<std::mutex>();
  }
  PKeyPtr key_;
  bool one_at_a_time_;
  std::mutex mutex_;
};

// Opened keys by URI: a PKCS#11 login or a PBKDF2 decryption happens once, not per signature.
class SigningKeys {
 public:
  explicit SigningKeys(KeyStore& store) : store_(store) {}
  Result<std::shared_ptr<SigningKey>> get(const std::string& uri);
  KeyStore& store() { return store_; }

 private:
  KeyStore& store_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<SigningKey>, std::less<>> keys_;
};

}  // namespace fca
