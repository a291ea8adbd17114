#pragma once
// The one path every front end calls — the CLI today, EST and the REST API next: read CAs,
// certificates, enrolments and the audit log; issue, keygen-issue, revoke, hold, release, renew,
// re-enrol; enrolment requests; the CA lifecycle. Every call names its Principal, which is checked in
// one place (authorize) and becomes the actor of the audit entries the call writes. No SQL, no HTTP:
// storage comes in as the core's repository interfaces.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fca/core/authority.hpp"
#include "fca/core/clock.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/repository.hpp"
#include "fca/service/credentials.hpp"
#include "fca/service/principal.hpp"

namespace fca::service {

// One page of a listing. next_cursor is opaque to callers: hand it back as `cursor` for the next page;
// std::nullopt when this page is the last.
template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;
};

struct CaInfo {
  CaRecord record;
  std::string parent;       // name of the parent CA in this instance, "" when none
  std::string predecessor;  // the generation this one replaced at a rollover, "" when none
  std::string successor;    // the generation that replaced this one, "" when none
};

struct CertificateInfo {
  CertificateRecord record;
  std::string ca;  // name of the issuing CA
};

struct EnrollmentInfo {
  EnrollmentRecord record;
  std::string ca;
};

struct Issued {
  IssuedCertificate certificate;
  std::string ca;
};

struct CertificateQuery {
  std::optional<std::string> ca;
  std::optional<CertificateStatus> status;
  std::optional<std::string> profile;
  std::optional<std::string> common_name;
  std::optional<int> expiring_within_days;  // unexpired, notAfter within N days of now
  std::optional<std::string> name_contains;  // subject, CN or a SAN contains this (case-insensitive)
  std::optional<TimePoint> expiring_before;  // notAfter before this
  std::optional<TimePoint> issued_after;
  std::optional<std::string> cursor;
  std::size_t limit = 100;                  // at most kMaxPage
};

struct EnrollmentQuery {
  std::optional<EnrollmentState> state;
  std::optional<std::string> cursor;
  std::size_t limit = 100;
};

// Audit entries by actor, action and time. The log is read forward from the cursor in chunks; a page
// ends when it is full or after kMaxAuditScan rows were read without filling it (next_cursor then
// continues the scan), so a filter that matches little never reads the whole log in one call.
struct AuditQuery {
  std::optional<std::string> actor;   // exact, e.g. "api:ansible"
  std::optional<std::string> action;  // exact ("certificate.revoke"), or a prefix ending in '.' ("certificate.")
  std::optional<TimePoint> since;     // at >= since
  std::optional<TimePoint> until;     // at < until
  std::optional<std::string> cursor;
  std::size_t limit = 100;
};

struct KeygenRequest {
  std::string common_name;
  std::vector<SubjectAltName> sans;
  KeySpec key;
  std::string profile;
  std::optional<std::string> ca;
  std::optional<int> validity_days;
  std::optional<std::string> pkcs12_password;  // without it: a plaintext key PEM and no PKCS#12
};

// What a front end signs with on a CA's behalf (EST serverkeygen's key package, RFC 7030 §4.4.2).
struct CaSigner {
  std::shared_ptr<SigningKey> key;
  std::vector<X509Ptr> chain;  // the CA's certificate first, then up to the root
};

struct EnrollmentSubmission {
  std::string csr;  // PEM or DER
  std::string profile;
  std::optional<std::string> ca;
  std::string label;
};

struct AuditCheck {
  bool intact = false;
  std::int64_t entries = 0;
  std::optional<std::int64_t> first_bad_sequence;
  std::string reason;
  std::optional<std::int64_t> keyed_from;  // first entry that must carry an HMAC (none: unsealed log)
  std::int64_t head_count = 0;             // entries the head file outside the database vouches for
};

// What the service is built from. The audit chain check is the store's (it recomputes hashes over
// the rows), handed in as a function so the service stays free of any storage class.
struct ServiceContext {
  CaRepository& cas;
  CertificateRepository& certificates;
  AuditLog& audit;
  EnrollmentRepository& enrollments;
  InstanceMarks& marks;
  CertificateAuthority& authority;
  const Clock& clock;
  std::function<Result<AuditCheck>()> verify_audit;
};

class Service {
 public:
  static constexpr std::size_t kMaxPage = 1000;

  explicit Service(ServiceContext context);

  // --- CAs (public data: every principal may read them)
  Result<std::vector<CaInfo>> list_cas(const Principal& who);
  Result<CaInfo> get_ca(const Principal& who, std::string_view name);  // pending CAs too
  // The CA's certificate followed by every certificate above it, as PEM.
  Result<std::string> ca_chain_pem(const Principal& who, std::string_view name);
  // The CA whose certificates' URLs (CDP, caIssuers) carry `publication_name`: a rolled-over generation
  // keeps answering at the URLs it put in its certificates.
  Result<CaInfo> get_published_ca(const Principal& who, std::string_view publication_name);
  // What EST /cacerts sends (RFC 7030 §4.1.3, BCP-003-03): the CA's certificate, then its chain, then,
  // while a rollover of the root it chains to is under way (the link certificates unexpired by the
  // clock), OldWithNew and NewWithOld (RFC 4210 §4.4) and the root generation the chain does not end
  // at: OldWithOld below a new root, the new root below an old one.
  Result<std::vector<X509Ptr>> ca_certificates_with_rollover(const Principal& who, std::string_view name);

  // --- CA lifecycle (administrators). `requester` in the requests is replaced by who.id.
  // On a lab instance a CA's common name always carries "LAB" (prefixed when it does not).
  Result<CaRecord> create_ca(const Principal& who, CreateCaRequest request);
  Result<CaRecord> create_external_ca_csr(const Principal& who, ExternalCaCsrRequest request);
  Result<CaRecord> import_signed_ca(const Principal& who, std::string_view name, std::string_view certificate_chain_pem);
  Result<CaRecord> import_ca(const Principal& who, ImportCaRequest request);
  Result<void> set_default_ca(const Principal& who, std::string_view name);
  // Re-keys the CA under its name (CertificateAuthority::rollover_ca), audited as ca.rollover.
  Result<CaRollover> rollover_ca(const Principal& who, RolloverCaRequest request);

  // --- certificates
  Result<Page<CertificateInfo>> list_certificates(const Principal& who, const CertificateQuery& query);
  Result<CertificateInfo> get_certificate(const Principal& who, std::string_view serial, std::optional<std::string_view> ca);
  Result<Issued> issue(const Principal& who, IssueRequest request);
  Result<GeneratedCredentials> keygen_issue(const Principal& who, const KeygenRequest& request);
  // The key and chain of `ca` (never the default: the caller names the CA it issued under), for whoever
  // may keygen-issue there, while the CA may issue (the issuer-status gate).
  Result<CaSigner> ca_signer(const Principal& who, std::string_view ca);
  // reason certificateHold puts on hold
  Result<CertificateInfo> revoke(const Principal& who, RevokeRequest request);
  Result<CertificateInfo> release_hold(const Principal& who, std::string_view serial, std::optional<std::string_view> ca);
  Result<Issued> renew(const Principal& who, std::string_view serial, std::optional<std::string_view> ca,
                       std::string_view csr);
  // Re-enrolment by the certificate a client presents (EST simplereenroll): it must be one this
  // instance issued, valid (never revoked or held) and unexpired, and the CSR must ask for exactly its
  // subject CN and SANs. The old certificate stays as it is.
  Result<Issued> reenroll(const Principal& who, std::string_view presented_certificate, std::string_view csr);

  // --- enrolment requests
  Result<EnrollmentInfo> submit_enrollment(const Principal& who, const EnrollmentSubmission& submission);
  Result<Page<EnrollmentInfo>> list_enrollments(const Principal& who, const EnrollmentQuery& query);
  Result<EnrollmentInfo> get_enrollment(const Principal& who, std::int64_t id);
  // Issues the stored CSR (policy and gates decide as for any issue) and records the serial.
  Result<Issued> approve_enrollment(const Principal& who, std::int64_t id);
  Result<EnrollmentInfo> reject_enrollment(const Principal& who, std::int64_t id, std::string reason);

  // --- the lab mark (docs/lab.md)
  Result<bool> is_lab_instance();
  // Administrators only; done by `init --lab` before it makes any CA.
  Result<void> mark_lab_instance(const Principal& who);
  // Errc::policy_refused unless this is a lab instance: the gate of every lab command.
  Result<void> require_lab_instance();
  // On a lab instance, the CAs the lab kit makes (an expired and a revoked intermediate on purpose,
  // the manufacturer root, ...) are named with this prefix; health checks leave them out.
  static constexpr std::string_view kLabCaPrefix = "lab-";
  // The lab kit's issuance (docs/lab.md; CertificateAuthority::lab_issue): administrators only, on a
  // lab instance only. A new key of `key` (any size: RSA-1024 included) and its certificate; a
  // self-signed one has no row and is recorded in the audit log alone.
  Result<GeneratedCredentials> lab_issue(const Principal& who, LabIssueRequest request, const KeySpec& key);
  // A CA the lab needs (an expired intermediate, a root outside the trust anchors, a long chain):
  // the explicit validity window is the lab's; "LAB" goes into its name as for every lab CA.
  Result<CaRecord> lab_create_ca(const Principal& who, LabCaRequest request);

  // --- audit
  Result<Page<AuditEntry>> audit_entries(const Principal& who, std::optional<std::string> cursor, std::size_t limit);
  Result<Page<AuditEntry>> audit_entries(const Principal& who, const AuditQuery& query);
  static constexpr std::size_t kMaxAuditScan = 20000;
  // A front end's decision about a request, with the facts the service does not know (EST: the trust
  // anchor that vouched for the client, the label, the result, refusals included). The actor is who.id.
  Result<void> record_decision(const Principal& who, std::string action, std::string object, std::string detail);
  Result<AuditCheck> verify_audit(const Principal& who);

  const Clock& clock() const { return ctx_.clock; }

 private:
  enum class Action {
    read_cas,
    read_certificates,
    issue,         // issue, keygen-issue, approve (by an operator), re-enrol (by an enrollee)
    reenroll,
    change_status,  // revoke, hold, release
    renew,
    submit_enrollment,
    decide_enrollment,
    read_enrollments,
    read_audit,
    manage_cas,
  };
  // The one place that decides. `ca` and `profile` are what the call would use (empty: none).
  Result<void> authorize(const Principal& who, Action action, std::string_view ca = {},
                         std::string_view profile = {}) const;
  static const char* describe(Action action);
  Result<std::string> ca_name(std::int64_t id);
  // Predecessor and successor names of `ca` among `cas`.
  static CaInfo describe_ca(const CaRecord& ca, const std::vector<CaRecord>& cas);
  // True when `ca` names an old generation of a CA in who's scope (a scope names a CA by the name
  // its current generation holds).
  bool in_scope_by_successor(const Principal& who, std::string_view ca) const;
  // An enrolment request `who` may approve or reject: its role and its CA/profile scope both allow it.
  Result<EnrollmentInfo> decidable_enrollment(const Principal& who, std::int64_t id);
  // The certificate and its CA's name, before any principal is checked.
  Result<CertificateInfo> locate(std::string_view serial, std::optional<std::string_view> ca);
  Result<std::optional<std::vector<std::int64_t>>> ca_scope_ids(const Principal& who);
  Result<Issued> issued(IssuedCertificate certificate);

  ServiceContext ctx_;
};

// The cursor after `last_id`, and back; a cursor that is not one of ours is Errc::invalid_input.
std::string make_cursor(std::int64_t last_id);
Result<std::int64_t> parse_cursor(std::string_view cursor);

}  // namespace fca::service
