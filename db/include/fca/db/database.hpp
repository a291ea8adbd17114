#pragma once
// SQLite store: WAL, busy_timeout, foreign keys; numbered migrations applied at open.
// Two connections, each serialised by its own mutex: one for writes (SQLite has one writer anyway),
// one for reads, which WAL lets run while a write commits. Certificate inserts from
// concurrent threads are group-committed: one durable transaction (one WAL fsync) and one audit-head
// update per batch, each insert in its own savepoint.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "fca/core/api_repository.hpp"
#include "fca/core/lab_faults.hpp"
#include "fca/core/est_credential_repository.hpp"
#include "fca/core/repository.hpp"

struct sqlite3;

namespace fca::db {

struct AuditHead;  // audit_chain.hpp

struct AuditVerification {
  bool intact = false;
  std::int64_t entries = 0;
  std::optional<std::int64_t> first_bad_sequence;
  std::string reason;  // why the chain breaks at first_bad_sequence
  std::optional<std::int64_t> keyed_from;  // first entry that must carry an HMAC (none: unsealed database)
  std::int64_t head_count = 0;             // entries the head file vouches for
};

// Keys the audit chain and keeps its head outside the database, so that whoever can write the
// database file alone can neither rewrite entries (the MAC needs the key) nor drop the newest ones
// (the head file remembers how many there were). See docs/operations.md for what it cannot detect.
struct AuditSeal {
  std::vector<unsigned char> key;   // HMAC-SHA256 key (32 bytes); never stored in the database
  std::filesystem::path head_file;  // "keyed_from, count, newest MAC", replaced atomically after each append
};

// The audit key file: 32 random bytes, created 0600 with O_EXCL when it does not exist yet.
Result<std::vector<unsigned char>> load_or_create_audit_key(const std::filesystem::path& file);

class Database final : public CaRepository,
                       public CertificateRepository,
                       public AuditLog,
                       public CrlRepository,
                       public OcspSignerRepository,
                       public EnrollmentRepository,
                       public ApiTokenRepository,
                       public IdempotencyRepository,
                       public EstCredentialRepository,
                       public StoreStatistics,
                       public InstanceMarks,
                       public LabFaultRepository {
 public:
  // store_crl keeps this many CRLs per issuer (the newest) and deletes older ones in the same
  // transaction: a CRL of a large CA runs to megabytes, and only the latest is ever served.
  static constexpr std::int64_t kCrlsKeptPerIssuer = 10;

  // Opens (creating when missing, mode 0600, as are its -wal and -shm files) and migrates. A database
  // whose schema is newer than this build knows is refused with Errc::conflict. With a seal, new audit
  // entries carry an HMAC and the head file is kept; a missing head file is started at the next entry
  // (the entries before it are verified as they are, their chain pinned by the first keyed entry).
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& file,
                                                std::optional<AuditSeal> seal = std::nullopt);
  ~Database() override;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  static int latest_schema_version();
  int schema_version() const { return schema_version_; }

  // Online backup (SQLite backup API) to a new file that opens as a database of its own.
  Result<void> backup_to(const std::filesystem::path& file);
  // Recomputes the audit chain (MACs from keyed_from on) and checks it against the head file.
  Result<AuditVerification> verify_audit();
  // PRAGMA integrity_check == "ok"
  Result<bool> integrity_ok();

  // CaRepository
  Result<std::int64_t> insert_ca(const CaRecord& ca, const AuditEvent& audit) override;
  Result<std::int64_t> insert_subordinate_ca(const CaRecord& ca, const AuditEvent& audit,
                                             const CertificateRecord& certificate,
                                             const AuditEvent& certificate_audit) override;
  Result<void> update_ca(const CaRecord& ca, const AuditEvent& audit) override;
  Result<std::vector<CaRecord>> list_cas() override;
  Result<CaRecord> find_ca(std::string_view name) override;
  Result<CaRecord> find_ca(std::int64_t id) override;
  Result<CaRecord> find_ca_by_publication_name(std::string_view publication_name) override;
  Result<std::int64_t> insert_successor_ca(
      const CaRecord& previous, std::string_view previous_name_before, const CaRecord& successor, const AuditEvent& audit,
      const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent) override;
  Result<CaRecord> default_ca() override;
  Result<void> set_default_ca(std::int64_t id, const AuditEvent& audit) override;

  // CertificateRepository
  // Queues the insert; the first waiting thread commits everything queued in one transaction, each
  // insert in a savepoint (a conflict or error rolls back that insert alone, its audit entry with
  // it), and answers every waiter once the COMMIT is durable. The committing thread moves the audit
  // head after answering the others, so only its own call waits for the head file.
  Result<std::int64_t> insert_certificate(const CertificateRecord& cert, const AuditEvent& audit) override;
  Result<CertificateRecord> find_certificate(std::int64_t issuer_id, std::string_view serial) override;
  Result<std::vector<CertificateRecord>> find_by_serial(std::string_view serial) override;
  Result<std::vector<CertificateRecord>> list_certificates(const CertificateFilter& filter) override;
  Result<std::int64_t> count_certificates() override;
  Result<CertificateRecord> change_status(std::int64_t issuer_id, std::string_view serial, const StatusChange& change,
                                          const AuditEvent& audit) override;

  // Benchmark fixtures (bench/seed_certificates; db/src/seeding.cpp), never issuance or revocation:
  // many rows per write transaction with one prepared statement, and ONE audit entry (`audit`) for
  // the whole call instead of one per certificate. seed_certificates writes each row as
  // insert_certificate does (Errc::conflict on an existing serial: nothing of the call is written);
  // seed_status_changes runs change_status's UPDATE per serial (so the revision triggers fire per
  // row), Errc::conflict when one is not in `change.expected`. Both return the rows written.
  Result<std::int64_t> seed_certificates(std::span<const CertificateRecord> certificates, const AuditEvent& audit);
  Result<std::int64_t> seed_status_changes(std::int64_t issuer_id, std::span<const std::string> serials,
                                           const StatusChange& change, const AuditEvent& audit);

  // AuditLog
  // Joins the certificate inserts' group commit (see insert_certificate).
  Result<void> append(const AuditEvent& event) override;
  Result<std::vector<AuditEntry>> entries(std::int64_t after_sequence = 0, std::size_t limit = 1000) override;

  // CrlRepository
  // Ordered by serial. An on-hold certificate is reported with reason certificateHold; a revoked
  // one with its stored reason (unspecified when none was given).
  Result<std::vector<RevokedEntry>> revoked_entries(std::int64_t issuer_id,
                                                    std::optional<TimePoint> not_expired_at) override;
  // Errc::conflict when the number is taken or (a full CRL) a stored full CRL has a higher number or
  // revision (nothing is written then); Errc::not_found when the issuer does not exist. created_at is
  // audit.at. The newest kCrlsKeptPerIssuer full CRLs and as many delta CRLs are kept.
  Result<void> store_crl(const CrlRecord& crl, const AuditEvent& audit) override;
  Result<CrlRecord> latest_crl(std::int64_t issuer_id) override;
  Result<CrlRecord> latest_crl_header(std::int64_t issuer_id) override;
  // One read transaction on a connection of its own (no lock shared with other reads): revoked_entries,
  // then the latest number, then the revision.
  Result<CrlSnapshot> crl_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at) override;
  Result<std::int64_t> revocation_revision(std::int64_t issuer_id) override;
  Result<std::int64_t> reserve_crl_number(std::int64_t issuer_id) override;
  // One write transaction (brief: the changes only, through an index): the base, the number, the changes.
  Result<DeltaSnapshot> delta_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at,
                                       TimePoint released_at) override;
  Result<CrlRecord> latest_delta_crl(std::int64_t issuer_id) override;
  // Test seam: runs inside crl_snapshot between reading the entries and reading the CRL number, the
  // very moment another process's revoke + publish would break a snapshot that was not one.
  void set_crl_snapshot_hook(std::function<void()> hook) { crl_snapshot_hook_ = std::move(hook); }

  // OcspSignerRepository
  Result<OcspSignerRecord> current_ocsp_signer(std::int64_t issuer_id) override;
  // Errc::not_found when the issuer does not exist. created_at is audit.at.
  Result<void> store_ocsp_signer(const OcspSignerRecord& signer, const AuditEvent& audit) override;

  // EnrollmentRepository
  // Errc::not_found when the issuer does not exist.
  Result<std::int64_t> insert_enrollment(const EnrollmentRecord& enrollment, const AuditEvent& audit) override;
  Result<EnrollmentRecord> find_enrollment(std::int64_t id) override;
  Result<std::vector<EnrollmentRecord>> list_enrollments(const EnrollmentFilter& filter) override;
  Result<EnrollmentRecord> change_enrollment(std::int64_t id, const EnrollmentChange& change,
                                             const AuditEvent& audit) override;

  // ApiTokenRepository
  Result<std::int64_t> insert_token(const ApiTokenRecord& token, const AuditEvent& audit) override;
  Result<std::vector<ApiTokenRecord>> list_tokens() override;
  Result<ApiTokenRecord> find_token(std::int64_t id) override;
  Result<ApiTokenRecord> find_token_by_hash(std::string_view secret_sha256) override;
  Result<ApiTokenRecord> revoke_token(std::int64_t id, TimePoint at, const AuditEvent& audit) override;
  Result<void> touch_token(std::int64_t id, TimePoint at) override;

  // EstCredentialRepository
  Result<std::int64_t> insert_est_credential(const EstCredentialRecord& credential, const AuditEvent& audit) override;
  Result<std::vector<EstCredentialRecord>> list_est_credentials(std::optional<std::string_view> label) override;
  Result<EstCredentialRecord> find_usable_est_credential(std::string_view label, std::string_view username) override;
  Result<EstCredentialRecord> revoke_est_credential(std::int64_t id, TimePoint at, const AuditEvent& audit) override;
  Result<void> use_est_credential(std::int64_t id, bool one_time, TimePoint at, const AuditEvent& audit) override;

  // IdempotencyRepository. A key is forgotten a day after its claim (kIdempotencyKeySeconds).
  static constexpr std::int64_t kIdempotencyKeySeconds = 86400;
  Result<std::optional<IdempotencyRecord>> claim_idempotency_key(const IdempotencyRecord& claim) override;
  Result<void> complete_idempotency_key(const IdempotencyRecord& done) override;
  Result<void> release_idempotency_key(std::string_view actor, std::string_view key) override;

  // StoreStatistics
  Result<std::vector<CertificateCount>> certificate_counts() override;
  Result<std::optional<TimePoint>> soonest_certificate_expiry(TimePoint now) override;
  Result<void> check_writable() override;

  // InstanceMarks (the settings row 'instance.lab')
  Result<bool> is_lab_instance() override;
  Result<void> mark_lab_instance(const AuditEvent& audit) override;

  // LabFaultRepository (db/src/lab_faults.cpp)
  Result<std::int64_t> insert_lab_fault(const LabFault& fault, const AuditEvent& audit) override;
  Result<std::vector<LabFault>> list_lab_faults() override;
  Result<std::int64_t> delete_lab_faults(std::optional<std::int64_t> id, const AuditEvent& audit) override;

  // Where a group commit stands when the commit hook runs.
  enum class CommitPoint {
    before_commit,  // every insert of the batch written in its savepoint, COMMIT not yet run
    after_commit,   // COMMIT durable; no waiter answered yet, the audit head not yet moved
    answered,       // every waiter answered; the audit head not yet moved
  };
  // Test seam: runs on the committing thread at each CommitPoint with the batch size, so a test can
  // hold a batch open while others queue, or end the process between two steps of a commit.
  void set_commit_hook(std::function<void(CommitPoint, std::size_t)> hook) { commit_hook_ = std::move(hook); }
  // Certificate inserts queued for the next batch.
  std::size_t queued_inserts();

  // SQLite's EXPLAIN QUERY PLAN for the exact statement revoked_entries runs (with or without the
  // notAfter filter), one plan line per row: lets tests and operators see that it uses an index.
  Result<std::string> revoked_entries_query_plan(bool not_expired_filter);

 private:
  explicit Database(sqlite3* handle);
  // For repositories kept in source files of their own: `body` runs on this connection under the
  // mutex, in a write transaction that appends `audit` too (any failure rolls both back).
  Result<std::int64_t> audited_write(std::string_view what, const AuditEvent& audit,
                                     const std::function<Result<std::int64_t>(sqlite3*)>& body);
  Result<void> read_connection(const std::function<Result<void>(sqlite3*)>& body);
  // Queues a certificate insert (or, with no certificate, an audit entry alone) for the next group
  // commit and waits until it is durable.
  Result<std::int64_t> commit_in_batch(const CertificateRecord* cert, const AuditEvent& audit);
  void lead_insert_batch();
  void write_audit_head(AuditHead head);
  struct Impl;
  struct ReadAccess;
  ReadAccess read_access();
  std::unique_ptr<Impl> impl_;  // the writer: every write transaction and group commit
  int schema_version_ = 0;
  std::mutex mutex_;
  std::unique_ptr<Impl> reader_;  // every read; none for an in-memory database
  std::mutex read_mutex_;
  std::string file_;  // the database file, for connections of their own; empty for an in-memory database
  std::function<void()> crl_snapshot_hook_;
  struct InsertQueue;
  std::unique_ptr<InsertQueue> inserts_;
  std::function<void(CommitPoint, std::size_t)> commit_hook_;
};

// The SQL migrations compiled in, ordered by number (generated from db/migrations/NNN_name.sql).
struct Migration {
  int version;
  const char* name;
  const char* sql;
};
const std::vector<Migration>& embedded_migrations();

}  // namespace fca::db
