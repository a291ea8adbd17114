#pragma once
// Full CRLs per CA: built from the repository, signed through SigningKey, persisted, and
// regenerated on every status change and before nextUpdate. Whether a CRL is stale is read from the
// database (its revocation revision against the issuer's), never kept in memory: a revocation whose
// process died before making the CRL is repaired by the next refresh of any process.
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/refresh_status.hpp"
#include "fca/core/repository.hpp"
#include "fca/core/settings.hpp"
#include "fca/core/signing.hpp"

namespace fca {

struct CrlSettings {
  std::chrono::seconds validity{std::chrono::hours(24)};         // nextUpdate - thisUpdate
  std::chrono::seconds refresh_before{std::chrono::hours(12)};   // regenerate when nextUpdate is this close
  std::chrono::seconds backdate{std::chrono::minutes(5)};        // thisUpdate skew allowance
  bool keep_expired = false;  // list revoked certificates after their notAfter (RFC 5280 allows dropping them)
};

// Builds and signs a CRL. Entries need not be sorted. `distribution_point` (the URL certificates carry
// in their CDP) becomes the issuingDistributionPoint, which Windows clients match; empty leaves it out.
Result<X509CrlPtr> build_crl(const X509* ca_cert, SigningKey& key, const std::vector<RevokedEntry>& entries,
                             std::int64_t crl_number, TimePoint this_update, TimePoint next_update,
                             const std::string& distribution_point);

class CrlService {
 public:
  using PublishedHandler = std::function<void(const CaRecord&, const CrlRecord&)>;

  CrlService(CaRepository& cas, CrlRepository& crls, SigningKeys& keys, const Clock& clock, CrlSettings settings,
             PublicationUrls urls);

  // Builds the next CRL for the CA (number = last + 1), stores it, and tells the handlers.
  Result<CrlRecord> regenerate(const CaRecord& ca, std::string_view actor);
  // The CA's latest CRL, generated first when there is none, it is due, or it misses a change; the
  // previous one while it has not expired when that generation fails.
  Result<CrlRecord> current(const CaRecord& ca);
  // Regenerates every active CA's CRL that is missing, due, or older than the CA's latest status
  // change; returns how many were made. A CA that fails does not stop the others: the error names
  // every CA that failed, and each outcome is in status().
  Result<int> refresh_due();
  // The outcome of the last regeneration of each CA's CRL, by CA id.
  std::map<std::int64_t, CaRefreshStatus> status();
  // Called after each publication (hash directory writer, caches).
  void on_published(PublishedHandler handler);

  const CrlSettings& settings() const { return settings_; }

 private:
  bool due(const CrlRecord& crl) const;
  // Missing, due, or behind the issuer's revocation revision.
  Result<bool> needs_regeneration(const CaRecord& ca, const Result<CrlRecord>& last);
  Result<CrlRecord> build_and_store(const CaRecord& ca, std::string_view actor);

  CaRepository& cas_;
  CrlRepository& crls_;
  SigningKeys& keys_;
  const Clock& clock_;
  CrlSettings settings_;
  PublicationUrls urls_;
  std::mutex mutex_;  // one CRL generation at a time keeps CRL numbers strictly increasing
  std::vector<PublishedHandler> handlers_;
  RefreshStatusBoard status_;
};

}  // namespace fca
