#pragma once
// Full and delta CRLs per CA (RFC 5280 5.2.4): built from the repository, signed through SigningKey,
// persisted. A status change makes a delta CRL at once (the changes since the full CRL, read through an
// index: cheap at any size); the full CRL is rebuilt off the revocation path (`serve`'s background
// rebuild, `crl generate`) and before nextUpdate. Whether a CRL is stale is read from the database (its
// revocation revision against the issuer's), never kept in memory: a revocation whose process died
// before making its CRL is repaired by the next refresh of any process.
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

// What makes a CRL full or delta, and where it points.
struct CrlScope {
  // The URL certificates carry in their CDP: the issuingDistributionPoint, which Windows clients match,
  // and which a delta CRL must share with its base. Empty leaves it out.
  std::string distribution_point;
  // A full CRL's freshestCRL: where its delta CRLs are. Empty leaves it out (a delta never has one).
  std::string freshest;
  // A delta CRL: the base CRL's number, in a critical deltaCRLIndicator.
  std::optional<std::int64_t> delta_base;
};

// Builds and signs a CRL. Entries need not be sorted.
Result<X509CrlPtr> build_crl(const X509* ca_cert, SigningKey& key, const std::vector<RevokedEntry>& entries,
                             std::int64_t crl_number, TimePoint this_update, TimePoint next_update,
                             const CrlScope& scope);

class CrlService {
 public:
  using PublishedHandler = std::function<void(const CaRecord&, const CrlRecord&)>;

  CrlService(CaRepository& cas, CrlRepository& crls, SigningKeys& keys, const Clock& clock, CrlSettings settings,
             PublicationUrls urls);

  // Builds the CA's next full CRL, stores it, tells the handlers, then makes a delta CRL against it.
  // Returns the full CRL.
  Result<CrlRecord> regenerate(const CaRecord& ca, std::string_view actor);
  // Builds a delta CRL against the CA's latest full CRL from the changes since that one (a full CRL
  // instead when there is none yet) and stores it. Returns the CRL made.
  Result<CrlRecord> regenerate_delta(const CaRecord& ca, std::string_view actor);
  // The CA's latest full CRL, generated first when there is none or it has expired, and, unless the
  // rebuild runs in the background, also when it is due or misses a change; the previous one while
  // it has not expired when that generation fails.
  Result<CrlRecord> current(const CaRecord& ca);
  // The CA's latest delta CRL against its current full CRL, made first when there is none or it
  // misses a change (cheap: the changes only).
  Result<CrlRecord> current_delta(const CaRecord& ca);
  // Regenerates every active CA's full CRL that is missing, due, or older than the CA's latest status
  // change (each followed by a fresh delta); returns how many were made. A CA that fails does not stop
  // the others: the error names every CA that failed, and each outcome is in status().
  Result<int> refresh_due();
  // `serve` rebuilds full CRLs on a thread of its own (refresh_due every second): current() then serves
  // a full CRL that misses changes, the delta CRL carrying them, instead of rebuilding it on a request.
  void set_rebuild_in_background(bool background) { rebuild_in_background_ = background; }
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
  Result<CrlRecord> build_and_store_delta(const CaRecord& ca, std::string_view actor);
  // What one build lists: the record's number, base (a delta) and revision, and its entries.
  struct CrlDraft {
    CrlRecord record;
    std::vector<RevokedEntry> entries;
  };
  // Drafts from a fresh snapshot (draw(now)), fills the record's times and entry count, builds and
  // signs the CRL (a delta when the record names a base) and stores it with its crl.publish audit
  // entry. A number another build stored first (Errc::conflict) is drawn again, up to three times.
  Result<CrlRecord> sign_and_store(const CaRecord& ca, std::string_view actor,
                                   const std::function<Result<CrlDraft>(TimePoint)>& draw);
  // The outcome of a build, for status(): under a lock of its own, so /readyz and /metrics do not wait
  // for a build in progress (seconds at 10^6 certificates).
  void record_outcome(const CaRecord& ca, std::optional<std::string> failure);

  CaRepository& cas_;
  CrlRepository& crls_;
  SigningKeys& keys_;
  const Clock& clock_;
  CrlSettings settings_;
  PublicationUrls urls_;
  std::mutex mutex_;         // one full CRL build at a time; the handlers
  std::mutex delta_mutex_;   // one delta build at a time; never waits for a full build
  std::mutex status_mutex_;  // status_ only; never held while building
  bool rebuild_in_background_ = false;
  std::vector<PublishedHandler> handlers_;
  RefreshStatusBoard status_;
};

}  // namespace fca
