#pragma once
// Who may enrol for the first time: a TLS client certificate that chains to one of a label's
// manufacturer roots. The server holds the manufacturers' intermediates (a client may send only its
// leaf); revocation comes from the configured CRL files or hash directory; an expired manufacturer
// certificate passes when configured (BCP-003-03), never a revoked one.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"

namespace fca::est {

struct TrustStoreFiles {
  std::vector<std::string> roots;          // PEM files, each may hold several certificates
  std::vector<std::string> intermediates;  // PEM files of intermediates the clients may not send
  std::vector<std::string> crl_files;      // PEM or DER CRLs; with any CRL, revocation is checked on every level
  std::string crl_hash_dir;                // an OpenSSL hash directory of CRLs ("" none)
  bool accept_expired = false;
};

// What vouched for a client: its leaf and the root it chains to.
struct VerifiedClient {
  X509Ptr leaf;
  std::string subject;  // RFC 2253
  std::string anchor;   // the root's subject
};

class TrustStore {
 public:
  static Result<std::shared_ptr<const TrustStore>> load(const TrustStoreFiles& files);

  // `chain`: DER, leaf first, as the TLS layer gave it. Errc::policy_refused with the reason when it
  // does not chain, is revoked, or is expired (unless accepted).
  Result<VerifiedClient> verify(const std::vector<std::vector<std::uint8_t>>& chain, TimePoint now) const;
  // The same for a chain the TLS layer parsed already (http::Request::client_certificates).
  Result<VerifiedClient> verify(const std::vector<std::shared_ptr<X509>>& chain, TimePoint now) const;

  bool empty() const { return roots_ == 0; }

 private:
  Result<VerifiedClient> verify_parsed(std::span<X509* const> chain, TimePoint now) const;

  X509StorePtr store_;
  std::vector<X509Ptr> intermediates_;
  bool check_crls_ = false;
  bool accept_expired_ = false;
  std::size_t roots_ = 0;
};

}  // namespace fca::est
