#pragma once
// What the core needs from storage. Implemented in db/ (SQLite); the core never sees SQL.
// Every call that changes state takes the AuditEvent that records it and commits both in one
// transaction; a call returns only after its transaction is committed.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"

namespace fca {

// RFC 5280 CRLReason codes.
enum class RevocationReason : int {
  unspecified = 0,
  key_compromise = 1,
  ca_compromise = 2,
  affiliation_changed = 3,
  superseded = 4,
  cessation_of_operation = 5,
  certificate_hold = 6,
  remove_from_crl = 8,
  privilege_withdrawn = 9,
  aa_compromise = 10,
};
Result<RevocationReason> parse_revocation_reason(std::string_view name);  // "keyCompromise" or "1"
const char* to_string(RevocationReason reason);                         // "keyCompromise"

enum class CertificateStatus { valid, revoked, on_hold };
const char* to_string(CertificateStatus status);  // "valid", "revoked", "on-hold"
Result<CertificateStatus> parse_certificate_status(std::string_view name);

enum class CaState { active, pending };  // pending: key made, CSR out to an external root

struct CaRecord {
  std::int64_t id = 0;
  std::string name;
  CaState state = CaState::active;
  std::string certificate_pem;               // empty while pending
  std::string csr_pem;                       // set while pending
  std::string key_uri;
  std::optional<std::int64_t> parent_id;     // issuing CA held in this instance; none for roots and external
  std::string chain_pem;                     // certificates above this one when its root is external
  bool is_default = false;
  std::string subject;
  TimePoint not_before{};
  TimePoint not_after{};
  TimePoint created_at{};
  // CA rollover (docs/architecture.md): the name in the URLs its certificates carry (CDP, caIssuers),
  // fixed when the CA is made ("" until stored: the name); `name` may move to a newer generation.
  std::string publication_name;
  int generation = 1;                        // counts up at each rollover under one name
  std::optional<std::int64_t> successor_id;  // the generation that took the name; this one issues no more
  std::string rollover_pem;                  // a root's new generation: OldWithNew, then NewWithOld (RFC 4210 §4.4)

  const std::string& url_name() const { return publication_name.empty() ? name : publication_name; }
};

struct CertificateRecord {
  std::int64_t id = 0;
  std::int64_t issuer_id = 0;               // CaRecord::id of the issuer
  std::string serial;                        // uppercase hex
  std::string subject;                       // RFC 2253
  std::string common_name;
  std::vector<std::string> sans;             // "DNS:x", "IP:y"
  std::string profile;
  std::string key_type;                      // "rsa2048", "p256", ...
  TimePoint not_before{};
  TimePoint not_after{};
  CertificateStatus status = CertificateStatus::valid;
  std::optional<TimePoint> revoked_at;
  std::optional<RevocationReason> revocation_reason;
  std::optional<TimePoint> invalidity_date;
  std::vector<std::uint8_t> der;
  std::string fingerprint_sha256;
  std::string requester;
  std::optional<std::string> renewal_of;     // serial of the certificate this one renews
  TimePoint issued_at{};                     // when it was made, even when notBefore is back-dated (lab)
  bool lab_made = false;                     // minted by the lab kit (docs/lab.md), never by issuance
};

struct AuditEvent {
  std::string actor;    // "cli:root", "api:token-name", "system"
  std::string action;   // "certificate.issue", "certificate.revoke", "ca.create", ...
  std::string object;   // "ca:issuing", "certificate:issuing/0A1B..."
  std::string detail;   // JSON object with the facts of the change; never a secret
  TimePoint at{};
};

struct AuditEntry {
  std::int64_t sequence = 0;
  AuditEvent event;
  std::string previous_hash;  // hex hash of the previous entry ("" for the first)
  // hex HMAC-SHA256 (keyed with the instance's audit key, which never enters the database) over
  // previous_hash and this entry's fields; plain SHA-256 for entries written before the key existed.
  std::string hash;
};

struct CertificateFilter {
  std::optional<std::int64_t> issuer_id;
  std::optional<CertificateStatus> status;
  std::optional<TimePoint> expiring_before;  // notAfter < this
  std::optional<TimePoint> not_expired_at;   // notAfter >= this
  std::optional<std::string> profile;
  std::optional<std::string> common_name;
  std::optional<std::string> name_contains;  // in the subject, the CN or any SAN (case-insensitive)
  std::optional<TimePoint> issued_after;     // issued_at > this
  std::optional<std::vector<std::int64_t>> issuer_in;  // any of these issuers (a principal's CA scope)
  std::optional<std::int64_t> after_id;                // keyset pagination: rows with id above this
  std::size_t limit = 1000;
  std::size_t offset = 0;
};

struct StatusChange {
  CertificateStatus expected;  // the change applies only from this status (else Errc::conflict)
  CertificateStatus next;
  std::optional<TimePoint> revoked_at;
  std::optional<RevocationReason> reason;
  std::optional<TimePoint> invalidity_date;
};

// A CRL entry: a revoked or held certificate.
struct RevokedEntry {
  std::string serial;  // uppercase hex
  TimePoint revoked_at{};
  RevocationReason reason = RevocationReason::unspecified;
  std::optional<TimePoint> invalidity_date;
};

struct CrlRecord {
  std::int64_t issuer_id = 0;
  std::int64_t number = 0;  // cRLNumber, strictly increasing per issuer
  TimePoint this_update{};
  TimePoint next_update{};
  std::int64_t entries = 0;
  std::vector<std::uint8_t> der;
  // The issuer's revocation revision the entries were read at: below the issuer's current revision,
  // this CRL misses a change (see CrlRepository::revocation_revision).
  std::int64_t revocation_revision = 0;
  // A delta CRL (RFC 5280 5.2.4) against the full CRL of this number; none for a full CRL.
  std::optional<std::int64_t> base_number;
};

// What the next CRL of an issuer is built from, read in one database snapshot, so a CRL another
// process publishes meanwhile cannot slip in between the entries and the number.
struct CrlSnapshot {
  std::vector<RevokedEntry> entries;
  std::optional<std::int64_t> latest_number;  // none before the issuer's first CRL
  std::int64_t revocation_revision = 0;        // the revision the entries reflect
};

// What a delta CRL is built from, read in one write transaction (so its number, taken there, orders it
// against every other CRL of the issuer): the base it refers to and the certificates changed since.
struct DeltaSnapshot {
  CrlRecord base;                      // the latest full CRL, without its DER
  std::int64_t number = 0;             // this delta's cRLNumber, taken from the issuer's sequence
  std::vector<RevokedEntry> changes;   // changed since base.revocation_revision; a release is removeFromCRL
  std::int64_t revocation_revision = 0;
};

// The delegated OCSP responder certificate of a CA (profile ocsp-signer) and where its key is.
struct OcspSignerRecord {
  std::int64_t issuer_id = 0;
  std::string serial;
  std::string key_uri;
  std::string certificate_pem;
  TimePoint not_after{};
};

// An enrolment request waiting for an operator: submit -> pending -> approved (a certificate is
// issued and its serial recorded) or rejected.
enum class EnrollmentState { pending, approved, rejected };
const char* to_string(EnrollmentState state);  // "pending", "approved", "rejected"
Result<EnrollmentState> parse_enrollment_state(std::string_view name);

struct EnrollmentRecord {
  std::int64_t id = 0;
  std::string label;                  // what the requester calls it (an EST label, a device name)
  std::string requester;              // principal that submitted it
  std::int64_t issuer_id = 0;         // the CA it asks for
  std::string profile;
  std::string common_name;            // as the CSR asks; policy decides at approval
  std::string csr_pem;
  EnrollmentState state = EnrollmentState::pending;
  TimePoint created_at{};
  std::optional<std::string> decided_by;
  std::optional<TimePoint> decided_at;
  std::optional<std::string> reason;              // why it was rejected
  std::optional<std::string> certificate_serial;  // set once the approved certificate is stored
};

struct EnrollmentFilter {
  std::optional<EnrollmentState> state;
  std::optional<std::vector<std::int64_t>> issuer_in;
  std::optional<std::string> requester;
  std::optional<std::int64_t> after_id;
  std::size_t limit = 1000;
};

struct EnrollmentChange {
  EnrollmentState expected;  // applies only from this state (else Errc::conflict naming the current one)
  EnrollmentState next;
  std::optional<std::string> decided_by;
  std::optional<TimePoint> decided_at;
  std::optional<std::string> reason;
  std::optional<std::string> certificate_serial;
};

class EnrollmentRepository {
 public:
  virtual ~EnrollmentRepository() = default;
  virtual Result<std::int64_t> insert_enrollment(const EnrollmentRecord& enrollment, const AuditEvent& audit) = 0;
  virtual Result<EnrollmentRecord> find_enrollment(std::int64_t id) = 0;
  virtual Result<std::vector<EnrollmentRecord>> list_enrollments(const EnrollmentFilter& filter) = 0;  // by id
  // Compare-and-set on state, with the audit entry, in one transaction; returns the new row.
  virtual Result<EnrollmentRecord> change_enrollment(std::int64_t id, const EnrollmentChange& change,
                                                     const AuditEvent& audit) = 0;
};

// Facts about the instance as a whole, kept in the database so every process sees them.
class InstanceMarks {
 public:
  virtual ~InstanceMarks() = default;
  // A lab instance (made by `init --lab`) may mint deliberately bad certificates and answer
  // revocation faults to order; any other instance refuses both.
  virtual Result<bool> is_lab_instance() = 0;
  // Idempotent: marking a lab instance again changes nothing and writes no audit entry.
  virtual Result<void> mark_lab_instance(const AuditEvent& audit) = 0;
};

class CaRepository {
 public:
  virtual ~CaRepository() = default;
  // Errc::conflict when the name is taken. Setting is_default clears it on every other CA.
  virtual Result<std::int64_t> insert_ca(const CaRecord& ca, const AuditEvent& audit) = 0;
  // A CA signed by another CA of this instance, with its certificate's row in the parent's register,
  // in one transaction. Errc::conflict on a taken name or serial.
  virtual Result<std::int64_t> insert_subordinate_ca(const CaRecord& ca, const AuditEvent& audit,
                                                     const CertificateRecord& certificate,
                                                     const AuditEvent& certificate_audit) = 0;
  // Replaces every field of the CA with ca.id.
  virtual Result<void> update_ca(const CaRecord& ca, const AuditEvent& audit) = 0;
  virtual Result<std::vector<CaRecord>> list_cas() = 0;
  virtual Result<CaRecord> find_ca(std::string_view name) = 0;
  virtual Result<CaRecord> find_ca(std::int64_t id) = 0;
  // The CA whose certificates' URLs carry this name (CaRecord::publication_name).
  virtual Result<CaRecord> find_ca_by_publication_name(std::string_view publication_name) = 0;
  virtual Result<CaRecord> default_ca() = 0;
  // A rollover, in one transaction: `previous` (the CA now holding the name) is renamed to
  // previous.name, loses the default mark to `successor` and gets it as its successor; `successor` is
  // inserted under the old name (with its certificate's row in the parent's register when it has a
  // parent here). Errc::conflict when the CA was renamed or rolled over meanwhile, or a name is taken.
  virtual Result<std::int64_t> insert_successor_ca(
      const CaRecord& previous, std::string_view previous_name_before, const CaRecord& successor,
      const AuditEvent& audit, const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent) = 0;
  virtual Result<void> set_default_ca(std::int64_t id, const AuditEvent& audit) = 0;
};

class CertificateRepository {
 public:
  virtual ~CertificateRepository() = default;
  // Errc::conflict when (issuer, serial) exists already. Returns the row id.
  virtual Result<std::int64_t> insert_certificate(const CertificateRecord& cert, const AuditEvent& audit) = 0;
  virtual Result<CertificateRecord> find_certificate(std::int64_t issuer_id, std::string_view serial) = 0;
  // Every certificate with this serial, whichever CA issued it (for the CLI's SERIAL argument).
  virtual Result<std::vector<CertificateRecord>> find_by_serial(std::string_view serial) = 0;
  virtual Result<std::vector<CertificateRecord>> list_certificates(const CertificateFilter& filter) = 0;
  virtual Result<std::int64_t> count_certificates() = 0;
  // Compare-and-set on status: Errc::conflict (with the current status named) when it is not `expected`.
  virtual Result<CertificateRecord> change_status(std::int64_t issuer_id, std::string_view serial,
                                                  const StatusChange& change, const AuditEvent& audit) = 0;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual Result<void> append(const AuditEvent& event) = 0;
  virtual Result<std::vector<AuditEntry>> entries(std::int64_t after_sequence = 0, std::size_t limit = 1000) = 0;
};

class CrlRepository {
 public:
  virtual ~CrlRepository() = default;
  // Revoked and held certificates of the issuer; with not_expired_at, only those whose notAfter >= it.
  virtual Result<std::vector<RevokedEntry>> revoked_entries(std::int64_t issuer_id,
                                                            std::optional<TimePoint> not_expired_at) = 0;
  // revoked_entries, the latest CRL number and the revocation revision, all from one snapshot.
  virtual Result<CrlSnapshot> crl_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at) = 0;
  // Counts up with every committed change that can alter the issuer's CRL (0 before the first).
  virtual Result<std::int64_t> revocation_revision(std::int64_t issuer_id) = 0;
  // Stores a CRL. Errc::conflict when its number is taken, or, for a full CRL, when a full CRL with a
  // higher number or a higher revocation revision is stored (this one would be older than that one).
  virtual Result<void> store_crl(const CrlRecord& crl, const AuditEvent& audit) = 0;
  // The highest-numbered full CRL of the issuer; Errc::not_found when none was made yet.
  virtual Result<CrlRecord> latest_crl(std::int64_t issuer_id) = 0;
  // latest_crl without the DER (a full CRL runs to megabytes): what deciding whether it is due needs.
  virtual Result<CrlRecord> latest_crl_header(std::int64_t issuer_id) = 0;
  // The next cRLNumber of the issuer's one sequence (full and delta CRLs alike), above every stored one.
  virtual Result<std::int64_t> reserve_crl_number(std::int64_t issuer_id) = 0;
  // Reads the changes since the latest full CRL and takes the delta's number; Errc::not_found when the
  // issuer has no full CRL yet. A certificate released from hold is listed as removeFromCRL at
  // `released_at`; with not_expired_at, only certificates whose notAfter >= it.
  virtual Result<DeltaSnapshot> delta_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at,
                                               TimePoint released_at) = 0;
  // The highest-numbered delta CRL of the issuer; Errc::not_found when none.
  virtual Result<CrlRecord> latest_delta_crl(std::int64_t issuer_id) = 0;
};

class OcspSignerRepository {
 public:
  virtual ~OcspSignerRepository() = default;
  // The newest signer of the issuer; Errc::not_found when none.
  virtual Result<OcspSignerRecord> current_ocsp_signer(std::int64_t issuer_id) = 0;
  virtual Result<void> store_ocsp_signer(const OcspSignerRecord& signer, const AuditEvent& audit) = 0;
};

}  // namespace fca
