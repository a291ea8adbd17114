#pragma once
// OCSP (RFC 6960, RFC 5019 profile) answers, independent of HTTP: DER request in, DER response out.
// Responses are signed by a delegated responder certificate per CA (profile ocsp-signer, key in the
// same key store), issued and renewed here. Answers to nonce-less single requests are pre-signed and
// kept in the ready-to-send index (ocsp_index.hpp), keyed by the request's CertID; before an indexed
// answer is sent, the issuer's revocation revision is compared with the one the answer was found true
// at, so a revocation by any process is visible in the very next answer.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "fca/core/authority.hpp"
#include "fca/core/clock.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/refresh_status.hpp"
#include "fca/core/repository.hpp"
#include "fca/core/signing.hpp"

namespace fca {

struct OcspSettings {
  std::chrono::seconds validity{std::chrono::hours(4)};        // nextUpdate - thisUpdate
  std::chrono::seconds refresh_before{std::chrono::hours(2)};  // re-sign a cached answer this close to nextUpdate
  std::chrono::seconds backdate{std::chrono::minutes(5)};      // thisUpdate skew allowance
  bool sign_with_ca_key = false;                               // instead of a delegated responder certificate
  int signer_validity_days = 30;
  int renew_signer_before_days = 7;
  std::size_t max_nonce_length = 32;  // RFC 8954
  std::size_t max_cache_entries = 100000;
};

// HTTP caching fields of a pre-signed answer, made once when it is signed rather than per request.
struct OcspAnswerHeaders {
  std::string etag;           // quoted SHA-256 of the DER
  std::string last_modified;  // IMF-fixdate of thisUpdate
  std::string expires;        // IMF-fixdate of nextUpdate
};

enum class OcspOutcome { successful, malformed_request, internal_error, unauthorized };

struct OcspAnswer {
  OcspOutcome outcome = OcspOutcome::internal_error;
  std::vector<std::uint8_t> der;        // always a complete OCSPResponse
  bool cacheable = false;               // successful and without a nonce: HTTP caches may keep it
  TimePoint produced_at{};
  std::optional<TimePoint> this_update;  // earliest of the single responses
  std::optional<TimePoint> next_update;  // earliest of the single responses
  std::string reason;                    // why it was not successful, for the log
  std::shared_ptr<const OcspAnswerHeaders> headers;  // set on answers from the index
};

class OcspIndex;
class OcspStatusSource;
struct OcspCertStatus;
struct OcspReadyAnswer;
struct OcspStamp;

class OcspService {
 public:
  OcspService(CaRepository& cas, CertificateRepository& certificates, OcspSignerRepository& signers,
              CertificateAuthority& authority, SigningKeys& keys, const Clock& clock, OcspSettings settings);
  ~OcspService();
  OcspService(const OcspService&) = delete;
  OcspService& operator=(const OcspService&) = delete;

  OcspAnswer respond(std::span<const std::uint8_t> request_der);
  // The same answer when it needs no signature (a pre-signed answer still current, or an error);
  // nullopt when only respond() can make it. Never signs, so it may run where signing must not.
  std::optional<OcspAnswer> respond_cached(std::span<const std::uint8_t> request_der);

  // Issues or renews each active CA's responder certificate when missing or due; reloads the CA list.
  // A CA that fails keeps its previous responder (if any) and does not stop the others; the error
  // names every CA that failed, and signer_status() holds each CA's outcome.
  Result<int> ensure_signers();
  // Re-signs cached answers close to their nextUpdate; returns how many. Per CA as ensure_signers.
  Result<int> refresh_cache();
  std::map<std::int64_t, CaRefreshStatus> signer_status();
  std::map<std::int64_t, CaRefreshStatus> cache_status();
  // Drops cached answers for the certificate so the next answer is made from the new status.
  void status_changed(const CertificateRecord& certificate);

  // Where certificate statuses are read (db/'s per-thread read-only connections). Without one, the
  // repository is asked and every indexed answer re-reads its status. Set before answering.
  void use_status_source(std::shared_ptr<OcspStatusSource> source);

  std::size_t cached_answers();
  // The responder key and certificate answering for a CA, for the lab's stale answers (lab_faults.hpp);
  // nullopt when this service has no responder for it.
  std::optional<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> responder_signer(std::int64_t issuer_id);
  const OcspSettings& settings() const { return settings_; }

 private:
  struct Responder;  // one CA this service answers for

  std::optional<OcspAnswer> answer(std::span<const std::uint8_t> request_der, bool may_sign);
  std::optional<OcspAnswer> serve_indexed(const std::shared_ptr<const OcspReadyAnswer>& ready, const OcspStamp& stamp);
  std::shared_ptr<const Responder> find_responder(OCSP_CERTID* id);
  std::shared_ptr<const Responder> responder_of(std::int64_t issuer_id);
  Result<OcspStamp> stamp_of(std::int64_t issuer_id, std::optional<std::int64_t> parent_id);
  Result<std::optional<OcspCertStatus>> effective_status(std::int64_t issuer_id, std::optional<std::int64_t> parent_id,
                                                         const std::string& ca_serial, const std::string& serial);
  Result<X509Ptr> issue_signer(const CaRecord& ca, std::shared_ptr<SigningKey>& key_out, std::string& key_uri_out);
  OcspAnswer error_answer(OcspOutcome outcome, std::string reason);
  Result<OcspAnswer> sign_answer(const Responder& responder, const std::vector<OCSP_CERTID*>& ids,
                                 const std::vector<const OcspCertStatus*>& statuses, OCSP_REQUEST* nonce_from);

  CaRepository& cas_;
  CertificateRepository& certificates_;
  OcspSignerRepository& signers_;
  CertificateAuthority& authority_;
  SigningKeys& keys_;
  const Clock& clock_;
  OcspSettings settings_;

  std::shared_ptr<OcspStatusSource> source_;
  std::unique_ptr<OcspIndex> index_;  // locks of its own, per shard

  std::mutex mutex_;  // guards responders_ and the status boards only
  std::vector<std::shared_ptr<const Responder>> responders_;
  RefreshStatusBoard signer_status_;  // guarded by mutex_
  RefreshStatusBoard cache_status_;   // guarded by mutex_
};

}  // namespace fca
