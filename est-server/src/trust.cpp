#include "fca/est/trust.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <filesystem>

#include "fca/core/x509.hpp"

namespace fca::est {
namespace {

Result<std::vector<X509Ptr>> read_certificates(const std::string& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return fail_openssl(Errc::invalid_input, "cannot read " + file);
  std::vector<X509Ptr> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) return fail(Errc::invalid_input, file + " holds no PEM certificate");
  return out;
}

Result<std::vector<X509CrlPtr>> read_crls(const std::string& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return fail_openssl(Errc::invalid_input, "cannot read " + file);
  std::vector<X509CrlPtr> out;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(crl);
  ERR_clear_error();
  if (out.empty()) {
    BioPtr der(BIO_new_file(file.c_str(), "rb"));
    if (X509_CRL* crl = der ? d2i_X509_CRL_bio(der.get(), nullptr) : nullptr) out.emplace_back(crl);
  }
  if (out.empty()) return fail(Errc::invalid_input, file + " holds no CRL");
  return out;
}

}  // namespace

Result<std::shared_ptr<const TrustStore>> TrustStore::load(const TrustStoreFiles& files) {
  auto made = std::shared_ptr<TrustStore>(new TrustStore());
  made->store_.reset(X509_STORE_new());
  if (!made->store_) return fail_openssl(Errc::internal, "X509_STORE_new");
  for (const auto& file : files.roots) {
    auto certs = read_certificates(file);
    if (!certs) return std::unexpected(certs.error());
    for (auto& cert : *certs) {
      if (X509_STORE_add_cert(made->store_.get(), cert.get()) != 1) return fail_openssl(Errc::invalid_input, file);
      ++made->roots_;
    }
  }
  for (const auto& file : files.intermediates) {
    auto certs = read_certificates(file);
    if (!certs) return std::unexpected(certs.error());
    for (auto& cert : *certs) made->intermediates_.push_back(std::move(cert));
  }
  for (const auto& file : files.crl_files) {
    auto crls = read_crls(file);
    if (!crls) return std::unexpected(crls.error());
    for (auto& crl : *crls) X509_STORE_add_crl(made->store_.get(), crl.get());
    made->check_crls_ = true;
  }
  if (!files.crl_hash_dir.empty()) {
    // Only the CRL files (<hash>.rN): OpenSSL's own hash-directory lookup would also take the CA
    // certificates kept there (<hash>.N) as trusted roots.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(files.crl_hash_dir, ec)) {
      const std::string name = entry.path().filename().string();
      const auto dot = name.rfind(".r");
      if (dot == std::string::npos || dot + 2 >= name.size() ||
          !std::ranges::all_of(name.substr(dot + 2), [](char c) { return c >= '0' && c <= '9'; })) {
        continue;
      }
      auto crls = read_crls(entry.path().string());
      if (!crls) return std::unexpected(crls.error());
      for (auto& crl : *crls) X509_STORE_add_crl(made->store_.get(), crl.get());
    }
    if (ec) return fail(Errc::invalid_input, "CRL hash directory " + files.crl_hash_dir + ": " + ec.message());
    made->check_crls_ = true;
  }
  made->accept_expired_ = files.accept_expired;
  return std::shared_ptr<const TrustStore>(std::move(made));
}

Result<VerifiedClient> TrustStore::verify(const std::vector<std::vector<std::uint8_t>>& chain, TimePoint now) const {
  std::vector<X509Ptr> parsed;
  for (const auto& der : chain) {
    const unsigned char* p = der.data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (!cert) return fail(Errc::policy_refused, "client certificate does not parse");
    parsed.emplace_back(cert);
  }
  std::vector<X509*> certificates;
  for (const auto& cert : parsed) certificates.push_back(cert.get());
  return verify_parsed(certificates, now);
}

Result<VerifiedClient> TrustStore::verify(const std::vector<std::shared_ptr<X509>>& chain, TimePoint now) const {
  std::vector<X509*> certificates;
  for (const auto& cert : chain) certificates.push_back(cert.get());
  return verify_parsed(certificates, now);
}

Result<VerifiedClient> TrustStore::verify_parsed(std::span<X509* const> chain, TimePoint now) const {
  if (chain.empty()) return fail(Errc::policy_refused, "no client certificate");
  if (roots_ == 0) return fail(Errc::policy_refused, "no manufacturer root is trusted here");
  X509StackPtr untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i]);
  for (const auto& cert : intermediates_) sk_X509_push(untrusted.get(), cert.get());

  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), chain.front(), untrusted.get()) != 1) {
    return fail_openssl(Errc::internal, "X509_STORE_CTX_init");
  }
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (check_crls_) flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  X509_STORE_CTX_set_flags(ctx.get(), flags);
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
  if (accept_expired_) {
    // An expired manufacturer certificate still proves who made the device (BCP-003-03); its
    // revocation is still checked.
    X509_STORE_CTX_set_verify_cb(ctx.get(), [](int ok, X509_STORE_CTX* c) {
      const int error = X509_STORE_CTX_get_error(c);
      if (!ok && error == X509_V_ERR_CERT_HAS_EXPIRED) return 1;
      return ok;
    });
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    return fail(Errc::policy_refused, std::string("client certificate not trusted: ") +
                                          X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  X509* anchor = sk_X509_value(built, sk_X509_num(built) - 1);
  VerifiedClient out;
  out.subject = name_to_string(X509_get_subject_name(chain.front()));
  out.anchor = name_to_string(X509_get_subject_name(anchor));
  X509_up_ref(chain.front());
  out.leaf.reset(chain.front());
  return out;
}

}  // namespace fca::est
