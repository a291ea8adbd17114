#include "fca/db/database.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>
#include <variant>

#include "audit_chain.hpp"
#include "sqlite.hpp"

namespace fca::db {
namespace {

using sqlite::Statement;
using sqlite::storage_error;

// Long enough to ride out another process's write transaction (the CLI next to `serve`),
// short enough that a stuck writer surfaces as an error rather than a hang.
constexpr int kBusyTimeoutMs = 5000;
// Pages copied per backup step; the mutex is released between steps so requests keep flowing.
constexpr int kBackupPagesPerStep = 1024;

constexpr const char* kCaColumns =
    "id, name, state, certificate_pem, csr_pem, key_uri, parent_id, chain_pem, is_default, subject, "
    "not_before, not_after, created_at, publication_name, generation, successor_id, rollover_pem";
constexpr const char* kCertificateColumns =
    "id, issuer_id, serial, subject, common_name, sans, profile, key_type, not_before, not_after, status, "
    "revoked_at, revocation_reason, invalidity_date, der, fingerprint_sha256, requester, renewal_of, issued_at, lab_made";
constexpr const char* kAuditColumns = "sequence, at, actor, action, object, detail, previous_hash, hash";
constexpr const char* kCrlColumns =
    "issuer_id, number, this_update, next_update, entries, der, revocation_revision, base_number";
constexpr const char* kOcspSignerColumns = "issuer_id, serial, key_uri, certificate_pem, not_after";
constexpr const char* kEnrollmentColumns =
    "id, label, requester, issuer_id, profile, common_name, csr_pem, state, created_at, decided_by, decided_at, reason, "
    "certificate_serial";

// CRL entries. Only the columns a CRL needs, never the DER. "status <> 'valid'" must appear word for
// word: it is what lets SQLite use the partial covering index certificates_revoked (migration 002),
// whose column order (issuer_id, serial, ...) also gives ORDER BY serial without a sort step.
constexpr const char* kRevokedEntriesQuery =
    "SELECT serial, status, revoked_at, revocation_reason, invalidity_date FROM certificates "
    "WHERE issuer_id = ?1 AND status <> 'valid' ORDER BY serial";
constexpr const char* kRevokedEntriesNotExpiredQuery =
    "SELECT serial, status, revoked_at, revocation_reason, invalidity_date FROM certificates "
    "WHERE issuer_id = ?1 AND status <> 'valid' AND not_after >= ?2 ORDER BY serial";

// Delta CRL entries: the rows changed since the base's revision, through the partial covering index
// certificates_revocation_changes (migration 010), so the cost follows the changes, not the revoked set.
constexpr const char* kChangedEntriesQuery =
    "SELECT serial, status, revoked_at, revocation_reason, invalidity_date FROM certificates "
    "WHERE issuer_id = ?1 AND revocation_revision IS NOT NULL AND revocation_revision > ?2 ORDER BY serial";
constexpr const char* kChangedEntriesNotExpiredQuery =
    "SELECT serial, status, revoked_at, revocation_reason, invalidity_date FROM certificates "
    "WHERE issuer_id = ?1 AND revocation_revision IS NOT NULL AND revocation_revision > ?2 AND not_after >= ?3 "
    "ORDER BY serial";

const char* revoked_entries_query(bool not_expired_filter) {
  return not_expired_filter ? kRevokedEntriesNotExpiredQuery : kRevokedEntriesQuery;
}

std::string sql(std::string_view head, const char* columns, std::string_view tail) {
  std::string text(head);
  text += columns;
  text += tail;
  return text;
}

std::int64_t clamp_to_int64(std::size_t value) {
  constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(value > max ? max : value);
}

std::optional<std::int64_t> optional_unix(const std::optional<TimePoint>& time) {
  if (!time) return std::nullopt;
  return to_unix(*time);
}

std::optional<TimePoint> optional_time(const std::optional<std::int64_t>& seconds) {
  if (!seconds) return std::nullopt;
  return from_unix(*seconds);
}

const char* to_text(CaState state) { return state == CaState::pending ? "pending" : "active"; }

Result<CaState> parse_ca_state(std::string_view text) {
  if (text == "active") return CaState::active;
  if (text == "pending") return CaState::pending;
  return fail(Errc::storage, "corrupt CA row: unknown state '" + std::string(text) + "'");
}

Result<RevocationReason> reason_from_code(std::int64_t code) {
  switch (code) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 8: case 9: case 10:
      return static_cast<RevocationReason>(code);
    default:
      return fail(Errc::storage, "corrupt certificate row: unknown revocation reason code " + std::to_string(code));
  }
}

Result<std::string> encode_sans(const std::vector<std::string>& sans) {
  try {
    return nlohmann::json(sans).dump();
  } catch (const nlohmann::json::exception&) {
    return fail(Errc::invalid_input, "subject alternative names must be valid UTF-8");
  }
}

Result<std::vector<std::string>> decode_sans(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return fail(Errc::storage, "corrupt certificate row: sans is not a JSON array");
  std::vector<std::string> sans;
  sans.reserve(parsed.size());
  for (const auto& item : parsed) {
    if (!item.is_string()) return fail(Errc::storage, "corrupt certificate row: sans holds a non-string");
    sans.push_back(item.get<std::string>());
  }
  return sans;
}

CaRecord read_ca(const Statement& row, CaState state) {
  CaRecord ca;
  ca.id = row.column_int(0);
  ca.name = row.column_text(1);
  ca.state = state;
  ca.certificate_pem = row.column_text(3);
  ca.csr_pem = row.column_text(4);
  ca.key_uri = row.column_text(5);
  ca.parent_id = row.column_optional_int(6);
  ca.chain_pem = row.column_text(7);
  ca.is_default = row.column_int(8) != 0;
  ca.subject = row.column_text(9);
  ca.not_before = from_unix(row.column_int(10));
  ca.not_after = from_unix(row.column_int(11));
  ca.created_at = from_unix(row.column_int(12));
  ca.publication_name = row.column_text(13);
  ca.generation = static_cast<int>(row.column_int(14));
  ca.successor_id = row.column_optional_int(15);
  ca.rollover_pem = row.column_text(16);
  return ca;
}

Result<CaRecord> read_ca(const Statement& row) {
  auto state = parse_ca_state(row.column_text(2));
  if (!state) return std::unexpected(state.error());
  return read_ca(row, *state);
}

Result<CertificateRecord> read_certificate(const Statement& row) {
  CertificateRecord cert;
  cert.id = row.column_int(0);
  cert.issuer_id = row.column_int(1);
  cert.serial = row.column_text(2);
  cert.subject = row.column_text(3);
  cert.common_name = row.column_text(4);
  auto sans = decode_sans(row.column_text(5));
  if (!sans) return std::unexpected(sans.error());
  cert.sans = std::move(*sans);
  cert.profile = row.column_text(6);
  cert.key_type = row.column_text(7);
  cert.not_before = from_unix(row.column_int(8));
  cert.not_after = from_unix(row.column_int(9));
  auto status = parse_certificate_status(row.column_text(10));
  if (!status) return fail(Errc::storage, "corrupt certificate row: " + status.error().message);
  cert.status = *status;
  cert.revoked_at = optional_time(row.column_optional_int(11));
  if (auto code = row.column_optional_int(12)) {
    auto reason = reason_from_code(*code);
    if (!reason) return std::unexpected(reason.error());
    cert.revocation_reason = *reason;
  }
  cert.invalidity_date = optional_time(row.column_optional_int(13));
  cert.der = row.column_blob(14);
  cert.fingerprint_sha256 = row.column_text(15);
  cert.requester = row.column_text(16);
  cert.renewal_of = row.column_optional_text(17);
  cert.issued_at = from_unix(row.column_int(18));
  cert.lab_made = row.column_int(19) != 0;
  return cert;
}

AuditEntry read_audit_entry(const Statement& row) {
  AuditEntry entry;
  entry.sequence = row.column_int(0);
  entry.event.at = from_unix(row.column_int(1));
  entry.event.actor = row.column_text(2);
  entry.event.action = row.column_text(3);
  entry.event.object = row.column_text(4);
  entry.event.detail = row.column_text(5);
  entry.previous_hash = row.column_text(6);
  entry.hash = row.column_text(7);
  return entry;
}

// One row of kRevokedEntriesQuery.
Result<RevokedEntry> read_revoked_entry(const Statement& row) {
  RevokedEntry entry;
  entry.serial = row.column_text(0);
  const std::string status = row.column_text(1);
  const auto revoked_at = row.column_optional_int(2);
  if (!revoked_at) {
    return fail(Errc::storage, "corrupt certificate row: " + entry.serial + " is " + status + " but has no revocation time");
  }
  entry.revoked_at = from_unix(*revoked_at);
  if (status == "on-hold") {
    // A held certificate goes on the CRL as certificateHold, whatever else the row says.
    entry.reason = RevocationReason::certificate_hold;
  } else if (status == "revoked") {
    if (auto code = row.column_optional_int(3)) {
      auto reason = reason_from_code(*code);
      if (!reason) return std::unexpected(reason.error());
      entry.reason = *reason;
    }
  } else {
    return fail(Errc::storage, "corrupt certificate row: " + entry.serial + " has unexpected status '" + status + "'");
  }
  entry.invalidity_date = optional_time(row.column_optional_int(4));
  return entry;
}

CrlRecord read_crl(const Statement& row) {
  CrlRecord crl;
  crl.issuer_id = row.column_int(0);
  crl.number = row.column_int(1);
  crl.this_update = from_unix(row.column_int(2));
  crl.next_update = from_unix(row.column_int(3));
  crl.entries = row.column_int(4);
  crl.der = row.column_blob(5);
  crl.revocation_revision = row.column_int(6);
  crl.base_number = row.column_optional_int(7);
  return crl;
}

OcspSignerRecord read_ocsp_signer(const Statement& row) {
  OcspSignerRecord signer;
  signer.issuer_id = row.column_int(0);
  signer.serial = row.column_text(1);
  signer.key_uri = row.column_text(2);
  signer.certificate_pem = row.column_text(3);
  signer.not_after = from_unix(row.column_int(4));
  return signer;
}

Result<EnrollmentRecord> read_enrollment(const Statement& row) {
  EnrollmentRecord enrollment;
  enrollment.id = row.column_int(0);
  enrollment.label = row.column_text(1);
  enrollment.requester = row.column_text(2);
  enrollment.issuer_id = row.column_int(3);
  enrollment.profile = row.column_text(4);
  enrollment.common_name = row.column_text(5);
  enrollment.csr_pem = row.column_text(6);
  auto state = parse_enrollment_state(row.column_text(7));
  if (!state) return fail(Errc::storage, "corrupt enrolment row: " + state.error().message);
  enrollment.state = *state;
  enrollment.created_at = from_unix(row.column_int(8));
  enrollment.decided_by = row.column_optional_text(9);
  enrollment.decided_at = optional_time(row.column_optional_int(10));
  enrollment.reason = row.column_optional_text(11);
  enrollment.certificate_serial = row.column_optional_text(12);
  return enrollment;
}

// "revoked (keyCompromise)", "on-hold (certificateHold)", "valid".
std::string describe_status(const CertificateRecord& cert) {
  std::string text = to_string(cert.status);
  if (cert.status != CertificateStatus::valid && cert.revocation_reason) {
    text += " (";
    text += to_string(*cert.revocation_reason);
    text += ")";
  }
  return text;
}

// Runs a single-row query and maps "no row" to Errc::not_found with `missing`.
template <class Record, class Reader>
Result<Record> query_one(Statement& statement, std::string_view what, Reader&& reader, std::string missing) {
  auto row = statement.step(what);
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(Errc::not_found, std::move(missing));
  return reader(statement);
}

template <class Record, class Reader>
Result<std::vector<Record>> query_all(Statement& statement, std::string_view what, Reader&& reader) {
  std::vector<Record> records;
  for (;;) {
    auto row = statement.step(what);
    if (!row) return std::unexpected(row.error());
    if (!*row) return records;
    auto record = reader(statement);
    if (!record) return std::unexpected(record.error());
    records.push_back(std::move(*record));
  }
}

// A listing: fixed SQL fragments joined to a SELECT, every value bound, never spliced into the text.
class FilteredQuery {
 public:
  using Value = std::variant<std::int64_t, std::string>;

  explicit FilteredQuery(std::string select) : text_(std::move(select) + " WHERE 1 = 1") {}

  // " AND <clause> ?N<after>"
  void where(const char* clause, Value value, const char* after = "") {
    values_.push_back(std::move(value));
    text_ += " AND ";
    text_ += clause;
    text_ += " ?" + std::to_string(values_.size()) + after;
  }
  // " AND <column> IN (?N, ...)"; an empty set matches nothing.
  void where_in(const char* column, const std::vector<std::int64_t>& ids) {
    if (ids.empty()) {
      text_ += " AND 0 = 1";
      return;
    }
    text_ += std::string(" AND ") + column + " IN (";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      values_.push_back(ids[i]);
      text_ += (i == 0 ? "?" : ", ?") + std::to_string(values_.size());
    }
    text_ += ")";
  }
  // " ORDER BY id LIMIT ?N [OFFSET ?M]"
  void page(std::size_t limit, std::optional<std::size_t> offset = std::nullopt) {
    values_.push_back(clamp_to_int64(limit));
    text_ += " ORDER BY id LIMIT ?" + std::to_string(values_.size());
    if (offset) {
      values_.push_back(clamp_to_int64(*offset));
      text_ += " OFFSET ?" + std::to_string(values_.size());
    }
  }

  const std::string& text() const { return text_; }
  void bind(Statement& statement) const {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      const int index = static_cast<int>(i + 1);
      if (const auto* number = std::get_if<std::int64_t>(&values_[i])) {
        statement.bind(index, *number);
      } else {
        statement.bind(index, std::string_view(std::get<std::string>(values_[i])));
      }
    }
  }

 private:
  std::string text_;
  std::vector<Value> values_;
};

// One insert_certificate or append call waiting for its batch; lives on the caller's stack until
// `done`. An append has no certificate: its audit entry is all it writes.
struct PendingInsert {
  const CertificateRecord* cert;  // none for an audit entry of its own
  const AuditEvent* audit;
  std::optional<Result<std::int64_t>> result;
  std::exception_ptr exception;
  bool done = false;
};

}  // namespace

struct Database::InsertQueue {
  std::mutex mutex;
  std::condition_variable answered;
  std::vector<PendingInsert*> waiting;
  std::condition_variable queued;  // an insert joined `waiting`
  bool leading = false;  // a thread is committing a batch; the others wait for it
  // The last batch: how many inserts it held and how long its COMMIT took. Callers answered by a
  // batch of several come back with their next insert while the next leader would already commit.
  std::size_t last_batch = 0;
  std::chrono::steady_clock::duration last_commit{};
  // The newest committed batch's audit head not yet written, and the count of the last one written:
  // only the newest head matters, so heads that queue up while one is written are written once.
  std::optional<AuditHead> head_wanted;
  std::int64_t head_written = 0;
  std::mutex head_writer;  // held while a head is written
};

struct Database::Impl {
  explicit Impl(sqlite3* handle) : connection(handle), statements(handle) {}

  // Declared in this order so cached statements are finalized before the connection closes.
  sqlite::ConnectionPtr connection;
  sqlite::StatementCache statements;

  sqlite3* db() const { return connection.get(); }

  // Keys the audit chain and keeps its head (see AuditSeal); none for an unsealed database.
  std::optional<AuditSeal> seal;
  // The head an audit entry of the open transaction moves to once it commits.
  std::optional<AuditHead> pending_head;
  // The head file as read once per write transaction (under the write lock), by its first append.
  std::optional<std::optional<AuditHead>> head_at_begin;

  Result<Statement> prepare(const std::string& text) { return statements.prepare(text); }

  // Transaction control through the statement cache: sqlite3_exec compiles its text on every call,
  // which a profile of group-committed issuance put at 7 % of the process (a batch runs a SAVEPOINT
  // and a RELEASE per insert).
  Result<void> execute_cached(const char* text, std::string_view what) {
    auto statement = prepare(text);
    if (!statement) return std::unexpected(statement.error());
    return statement->run(what);
  }

  void rollback() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) end the transaction by themselves.
    if (sqlite3_get_autocommit(db()) == 0) sqlite3_exec(db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

  // BEGIN IMMEDIATE takes the write lock up front, so the reads a change depends on (the last
  // audit hash, the current status) cannot go stale before the write. Any failure rolls back
  // everything the body wrote, the audit entry included.
  template <class Body>
  auto write_transaction(std::string_view what, Body&& body) -> decltype(body()) {
    if (auto begun = execute_cached("BEGIN IMMEDIATE", what); !begun) {
      return std::unexpected(begun.error());
    }
    pending_head.reset();
    head_at_begin.reset();
    try {
      auto result = body();
      if (!result) {
        rollback();
        pending_head.reset();
        return result;
      }
      if (auto committed = execute_cached("COMMIT", what); !committed) {
        rollback();
        pending_head.reset();
        return std::unexpected(committed.error());
      }
      advance_head();
      return result;
    } catch (...) {
      rollback();
      pending_head.reset();
      throw;
    }
  }

  // After the commit, never before: a crash in between leaves the head one append behind (the entry is
  // still MAC-checked; only its deletion would go unseen until the next append moves the head on),
  // where a head written first would claim an entry that never committed. The change is committed, so
  // a head that cannot be written does not fail it; the next append writes the newer head.
  void advance_head() {
    if (!pending_head || !seal) return;
    (void)advance_audit_head(seal->head_file, *pending_head);
    pending_head.reset();
  }

  // Under the write lock: starts the head at the next entry when there is none (a new instance, or
  // one from before the audit key). Entries already there are verified as they are.
  Result<void> start_head_if_missing() {
    if (!seal) return {};
    auto existing = read_audit_head(seal->head_file);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) return {};
    return write_transaction("starting the audit head", [&]() -> Result<void> {
      auto last = prepare("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1");
      if (!last) return std::unexpected(last.error());
      auto has_last = last->step("reading the last audit entry");
      if (!has_last) return std::unexpected(has_last.error());
      const std::int64_t count = *has_last ? last->column_int(0) : 0;
      AuditHead head{count + 1, count, *has_last ? last->column_text(1) : std::string()};
      return advance_audit_head(seal->head_file, head);
    });
  }

  // A deferred transaction: one consistent snapshot for reads that span several statements.
  template <class Body>
  auto read_transaction(std::string_view what, Body&& body) -> decltype(body()) {
    if (auto begun = execute_cached("BEGIN", what); !begun) return std::unexpected(begun.error());
    try {
      auto result = body();
      rollback();  // nothing was written; ending the read is all that is left
      return result;
    } catch (...) {
      rollback();
      throw;
    }
  }

  // ---- audit ----

  Result<void> append_audit(const AuditEvent& event) {
    auto last = prepare("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1");
    if (!last) return std::unexpected(last.error());
    auto has_last = last->step("reading the last audit entry");
    if (!has_last) return std::unexpected(has_last.error());
    const std::int64_t sequence = *has_last ? last->column_int(0) + 1 : 1;
    const std::string previous_hash = *has_last ? last->column_text(1) : std::string();

    // Keyed once the head exists (read under the write lock, so every process switches at the same entry).
    std::optional<AuditHead> head;
    if (seal) {
      if (!head_at_begin) {
        auto current = read_audit_head(seal->head_file);
        if (!current) return std::unexpected(current.error());
        head_at_begin = *current;
      }
      head = *head_at_begin;
    }
    auto hash = head ? audit_entry_mac(seal->key, sequence, event, previous_hash)
                     : audit_entry_hash(sequence, event, previous_hash);
    if (!hash) return std::unexpected(hash.error());
    if (head) pending_head = AuditHead{head->keyed_from, sequence, *hash};
    auto insert = prepare(
        "INSERT INTO audit_log (sequence, at, actor, action, object, detail, previous_hash, hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, sequence)
        .bind(2, to_unix(event.at))
        .bind(3, std::string_view(event.actor))
        .bind(4, std::string_view(event.action))
        .bind(5, std::string_view(event.object))
        .bind(6, std::string_view(event.detail))
        .bind(7, std::string_view(previous_hash))
        .bind(8, std::string_view(*hash));
    return insert->run("writing the audit entry");
  }

  // ---- CAs ----

  Result<CaRecord> find_ca_by_id(std::int64_t id) {
    auto select = prepare(sql("SELECT ", kCaColumns, " FROM cas WHERE id = ?1"));
    if (!select) return std::unexpected(select.error());
    select->bind(1, id);
    return query_one<CaRecord>(*select, "looking up a CA", [](const Statement& row) { return read_ca(row); },
                               "no CA with id " + std::to_string(id));
  }

  // The id of the CA using `name`, if any.
  Result<std::optional<std::int64_t>> ca_id_named(std::string_view name) {
    auto select = prepare("SELECT id FROM cas WHERE name = ?1");
    if (!select) return std::unexpected(select.error());
    select->bind(1, name);
    auto row = select->step("looking up a CA name");
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(select->column_int(0));
  }

  Result<void> clear_default_except(std::int64_t keep_id) {
    auto clear = prepare("UPDATE cas SET is_default = 0 WHERE is_default = 1 AND id <> ?1");
    if (!clear) return std::unexpected(clear.error());
    clear->bind(1, keep_id);
    return clear->run("clearing the default CA");
  }

  Result<void> check_parent(const CaRecord& ca) {
    if (!ca.parent_id) return {};
    if (ca.id != 0 && *ca.parent_id == ca.id) {
      return fail(Errc::invalid_input, "CA '" + ca.name + "' cannot be its own parent");
    }
    auto parent = find_ca_by_id(*ca.parent_id);
    if (!parent) {
      if (parent.error().code == Errc::not_found) {
        return fail(Errc::not_found, "parent CA id " + std::to_string(*ca.parent_id) + " of '" + ca.name +
                                         "' does not exist");
      }
      return std::unexpected(parent.error());
    }
    return {};
  }

  // Binds every CaRecord column but id as ?1..?16, in kCaColumns order.
  static void bind_ca_fields(Statement& statement, const CaRecord& ca) {
    statement.bind(1, std::string_view(ca.name))
        .bind(2, std::string_view(to_text(ca.state)))
        .bind(3, std::string_view(ca.certificate_pem))
        .bind(4, std::string_view(ca.csr_pem))
        .bind(5, std::string_view(ca.key_uri))
        .bind(6, ca.parent_id)
        .bind(7, std::string_view(ca.chain_pem))
        .bind(8, std::int64_t{ca.is_default ? 1 : 0})
        .bind(9, std::string_view(ca.subject))
        .bind(10, to_unix(ca.not_before))
        .bind(11, to_unix(ca.not_after))
        .bind(12, to_unix(ca.created_at))
        .bind(13, std::string_view(ca.url_name()))
        .bind(14, std::int64_t{ca.generation})
        .bind(15, ca.successor_id)
        .bind(16, std::string_view(ca.rollover_pem));
  }

  Result<std::int64_t> insert_ca(const CaRecord& ca, const AuditEvent& audit) {
    return write_transaction("inserting a CA", [&] { return insert_ca_rows(ca, audit); });
  }

  // A CA signed by another CA of this instance, and its certificate in the parent's register: one
  // transaction, so neither exists without the other.
  Result<std::int64_t> insert_subordinate_ca(const CaRecord& ca, const AuditEvent& audit, const CertificateRecord& cert,
                                             const AuditEvent& cert_audit) {
    return write_transaction("inserting a subordinate CA", [&]() -> Result<std::int64_t> {
      if (auto inserted = insert_certificate_rows(cert, cert_audit); !inserted) return std::unexpected(inserted.error());
      return insert_ca_rows(ca, audit);
    });
  }

  Result<std::int64_t> insert_ca_rows(const CaRecord& ca, const AuditEvent& audit) {
    auto existing = ca_id_named(ca.name);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) return fail(Errc::conflict, "a CA named '" + ca.name + "' exists already");
    auto published = ca_id_published_as(ca.url_name());
    if (!published) return std::unexpected(published.error());
    if (*published) {
      return fail(Errc::conflict, "the URLs of another CA's certificates use the name '" + ca.url_name() + "' already");
    }
    if (auto parent = check_parent(ca); !parent) return std::unexpected(parent.error());
    if (ca.is_default) {
      if (auto cleared = clear_default_except(0); !cleared) return std::unexpected(cleared.error());
    }
    auto insert = prepare(
        "INSERT INTO cas (name, state, certificate_pem, csr_pem, key_uri, parent_id, chain_pem, is_default, "
        "subject, not_before, not_after, created_at, publication_name, generation, successor_id, rollover_pem) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!insert) return std::unexpected(insert.error());
    bind_ca_fields(*insert, ca);
    if (auto inserted = insert->run("inserting CA '" + ca.name + "'"); !inserted) {
      return std::unexpected(inserted.error());
    }
    const std::int64_t id = sqlite3_last_insert_rowid(db());
    if (auto logged = append_audit(audit); !logged) return std::unexpected(logged.error());
    return id;
  }

  Result<void> update_ca(const CaRecord& ca, const AuditEvent& audit) {
    return write_transaction("updating a CA", [&]() -> Result<void> {
      if (auto updated = update_ca_row(ca); !updated) return updated;
      return append_audit(audit);
    });
  }

  // The id of the CA whose certificates' URLs use `publication_name`, if any.
  Result<std::optional<std::int64_t>> ca_id_published_as(std::string_view publication_name) {
    auto select = prepare("SELECT id FROM cas WHERE publication_name = ?1");
    if (!select) return std::unexpected(select.error());
    select->bind(1, publication_name);
    auto row = select->step("looking up a CA publication name");
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(select->column_int(0));
  }

  Result<std::int64_t> insert_successor_ca(const CaRecord& previous, std::string_view previous_name_before,
                                           const CaRecord& successor, const AuditEvent& audit,
                                           const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent) {
    return write_transaction("rolling a CA over", [&]() -> Result<std::int64_t> {
      auto current = find_ca_by_id(previous.id);
      if (!current) return std::unexpected(current.error());
      // Compare-and-set: two rollovers of one CA cannot both make a successor.
      if (current->name != previous_name_before || current->successor_id) {
        return fail(Errc::conflict, "CA '" + std::string(previous_name_before) + "' was renamed or rolled over meanwhile");
      }
      // Renamed first, so the successor can take the name; the successor link once it has an id.
      CaRecord renamed = previous;
      renamed.is_default = false;
      renamed.successor_id.reset();
      if (auto updated = update_ca_row(renamed); !updated) return std::unexpected(updated.error());
      if (issued_by_parent) {
        if (auto inserted = insert_certificate_rows(issued_by_parent->first, issued_by_parent->second); !inserted) {
          return std::unexpected(inserted.error());
        }
      }
      auto id = insert_ca_rows(successor, audit);
      if (!id) return id;
      auto link = prepare("UPDATE cas SET successor_id = ?1 WHERE id = ?2");
      if (!link) return std::unexpected(link.error());
      link->bind(1, *id).bind(2, previous.id);
      if (auto linked = link->run("linking CA generations"); !linked) return std::unexpected(linked.error());
      return *id;
    });
  }

  Result<void> update_ca_row(const CaRecord& ca) {
    auto current = find_ca_by_id(ca.id);
    if (!current) return std::unexpected(current.error());
    // Issued certificates carry it in their URLs: it stays what it was, whatever the name becomes
    // (a record that leaves it empty keeps it).
    if (!ca.publication_name.empty() && current->publication_name != ca.publication_name) {
      return fail(Errc::invalid_input, "the publication name of CA '" + current->name + "' ('" +
                                           current->publication_name + "') never changes");
    }
    CaRecord row = ca;
    row.publication_name = current->publication_name;
    auto named = ca_id_named(ca.name);
    if (!named) return std::unexpected(named.error());
    if (*named && **named != ca.id) return fail(Errc::conflict, "a CA named '" + ca.name + "' exists already");
    if (auto parent = check_parent(ca); !parent) return std::unexpected(parent.error());
    if (ca.is_default) {
      if (auto cleared = clear_default_except(ca.id); !cleared) return std::unexpected(cleared.error());
    }
    auto update = prepare(
        "UPDATE cas SET name = ?1, state = ?2, certificate_pem = ?3, csr_pem = ?4, key_uri = ?5, parent_id = ?6, "
        "chain_pem = ?7, is_default = ?8, subject = ?9, not_before = ?10, not_after = ?11, created_at = ?12, "
        "publication_name = ?13, generation = ?14, successor_id = ?15, rollover_pem = ?16 WHERE id = ?17");
    if (!update) return std::unexpected(update.error());
    bind_ca_fields(*update, row);
    update->bind(17, ca.id);
    return update->run("updating CA '" + ca.name + "'");
  }

  Result<void> set_default_ca(std::int64_t id, const AuditEvent& audit) {
    return write_transaction("setting the default CA", [&]() -> Result<void> {
      if (auto ca = find_ca_by_id(id); !ca) return std::unexpected(ca.error());
      // Two statements, not one: the partial unique index is checked row by row, so setting
      // the new default before the old one is cleared would trip it.
      if (auto cleared = clear_default_except(id); !cleared) return cleared;
      auto set = prepare("UPDATE cas SET is_default = 1 WHERE id = ?1");
      if (!set) return std::unexpected(set.error());
      set->bind(1, id);
      if (auto updated = set->run("setting the default CA"); !updated) return updated;
      return append_audit(audit);
    });
  }

  // ---- instance marks ----

  Result<bool> is_lab_instance() {
    auto select = prepare("SELECT value FROM settings WHERE key = 'instance.lab'");
    if (!select) return std::unexpected(select.error());
    auto row = select->step("reading the lab mark");
    if (!row) return std::unexpected(row.error());
    return *row && select->column_text(0) == "1";
  }

  Result<void> mark_lab_instance(const AuditEvent& audit) {
    return write_transaction("marking a lab instance", [&]() -> Result<void> {
      auto marked = is_lab_instance();
      if (!marked) return std::unexpected(marked.error());
      if (*marked) return {};
      auto insert = prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('instance.lab', '1')");
      if (!insert) return std::unexpected(insert.error());
      if (auto inserted = insert->run("marking a lab instance"); !inserted) return inserted;
      return append_audit(audit);
    });
  }

  // ---- certificates ----

  Result<CertificateRecord> find_certificate(std::int64_t issuer_id, std::string_view serial) {
    auto select = prepare(sql("SELECT ", kCertificateColumns, " FROM certificates WHERE issuer_id = ?1 AND serial = ?2"));
    if (!select) return std::unexpected(select.error());
    select->bind(1, issuer_id).bind(2, serial);
    return query_one<CertificateRecord>(*select, "looking up a certificate", read_certificate,
                                        "no certificate with serial " + std::string(serial) + " issued by CA id " +
                                            std::to_string(issuer_id));
  }

  // One transaction for the whole batch, each insert in a savepoint: a failed insert (a serial
  // collision, a missing CA, an audit entry refused) rolls back its own rows and audit entry and
  // leaves the others in. A failed BEGIN or COMMIT fails every insert of the batch, none of which is
  // then stored. Returns the audit head to write once the waiters are answered.
  std::optional<AuditHead> commit_batch(const std::vector<PendingInsert*>& batch,
                                        const std::function<void(CommitPoint, std::size_t)>& hook) {
    const auto fail_all = [&](const Error& error) {
      for (auto* insert : batch) {
        if (!insert->exception) insert->result = std::unexpected(error);
      }
    };
    try {
      if (auto begun = execute_cached("BEGIN IMMEDIATE", "inserting certificates"); !begun) {
        fail_all(begun.error());
        return std::nullopt;
      }
      pending_head.reset();
      head_at_begin.reset();
      for (auto* insert : batch) {
        // An I/O error or a full disk ends the whole transaction by itself; nothing more may run outside it.
        if (sqlite3_get_autocommit(db()) != 0) {
          insert->result = fail(Errc::storage, (insert->cert ? "inserting certificate " + insert->cert->serial
                                                              : std::string("appending to the audit log")) +
                                                   ": the batch transaction was rolled back by an earlier error");
          continue;
        }
        const auto head_before = pending_head;
        const auto undo = [&] {
          sqlite3_exec(db(), "ROLLBACK TO certificate; RELEASE certificate", nullptr, nullptr, nullptr);
          pending_head = head_before;
        };
        if (auto saved = execute_cached("SAVEPOINT certificate", "inserting a certificate"); !saved) {
          insert->result = std::unexpected(saved.error());
          continue;
        }
        try {
          auto id = insert->cert ? insert_certificate_rows(*insert->cert, *insert->audit) : appended(*insert->audit);
          if (id) {
            if (auto released = execute_cached("RELEASE certificate", "inserting a certificate"); !released) {
              undo();
              insert->result = std::unexpected(released.error());
              continue;
            }
          } else {
            undo();
          }
          insert->result = std::move(id);
        } catch (...) {
          undo();
          insert->exception = std::current_exception();
        }
      }
      if (hook) hook(CommitPoint::before_commit, batch.size());
      if (auto committed = execute_cached("COMMIT", "inserting certificates"); !committed) {
        rollback();
        pending_head.reset();
        fail_all(committed.error());
        return std::nullopt;
      }
      if (hook) hook(CommitPoint::after_commit, batch.size());
      auto head = std::move(pending_head);
      pending_head.reset();
      return seal ? head : std::nullopt;
    } catch (...) {
      rollback();
      pending_head.reset();
      for (auto* insert : batch) {
        insert->result.reset();
        insert->exception = std::current_exception();
      }
      return std::nullopt;
    }
  }

  // An audit entry of its own in a batch: no row id to answer with.
  Result<std::int64_t> appended(const AuditEvent& event) {
    auto entry = append_audit(event);
    if (!entry) return std::unexpected(entry.error());
    return std::int64_t{0};
  }

  Result<std::int64_t> insert_certificate_rows(const CertificateRecord& cert, const AuditEvent& audit) {
    auto sans = encode_sans(cert.sans);
    if (!sans) return std::unexpected(sans.error());
    auto insert = prepare(
        "INSERT INTO certificates (issuer_id, serial, subject, common_name, sans, profile, key_type, not_before, "
        "not_after, status, revoked_at, revocation_reason, invalidity_date, der, fingerprint_sha256, requester, "
        "renewal_of, issued_at, lab_made) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)");
    if (!insert) return std::unexpected(insert.error());
    std::optional<std::int64_t> reason_code;
    if (cert.revocation_reason) reason_code = static_cast<std::int64_t>(*cert.revocation_reason);
    insert->bind(1, cert.issuer_id)
        .bind(2, std::string_view(cert.serial))
        .bind(3, std::string_view(cert.subject))
        .bind(4, std::string_view(cert.common_name))
        .bind(5, std::string_view(*sans))
        .bind(6, std::string_view(cert.profile))
        .bind(7, std::string_view(cert.key_type))
        .bind(8, to_unix(cert.not_before))
        .bind(9, to_unix(cert.not_after))
        .bind(10, std::string_view(to_string(cert.status)))
        .bind(11, optional_unix(cert.revoked_at))
        .bind(12, reason_code)
        .bind(13, optional_unix(cert.invalidity_date))
        .bind(14, std::span<const std::uint8_t>(cert.der))
        .bind(15, std::string_view(cert.fingerprint_sha256))
        .bind(16, std::string_view(cert.requester))
        .bind(17, cert.renewal_of)
        .bind(18, to_unix(cert.issued_at))
        .bind(19, std::int64_t{cert.lab_made ? 1 : 0});
    if (auto inserted = insert->run("inserting certificate " + cert.serial); !inserted) {
      switch (insert->extended_error_code()) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
          return fail(Errc::conflict, "serial " + cert.serial + " exists already for CA id " +
                                          std::to_string(cert.issuer_id));
        case SQLITE_CONSTRAINT_FOREIGNKEY:
          return fail(Errc::not_found, "issuing CA id " + std::to_string(cert.issuer_id) + " does not exist");
        default:
          return std::unexpected(inserted.error());
      }
    }
    const std::int64_t id = sqlite3_last_insert_rowid(db());
    if (auto logged = append_audit(audit); !logged) return std::unexpected(logged.error());
    return id;
  }

  Result<CertificateRecord> change_status(std::int64_t issuer_id, std::string_view serial, const StatusChange& change,
                                          const AuditEvent& audit) {
    const bool clears = change.next == CertificateStatus::valid;
    if (!clears && !change.revoked_at) {
      return fail(Errc::invalid_input, std::string("changing certificate ") + std::string(serial) + " to " +
                                           to_string(change.next) + " needs a revocation time");
    }
    return write_transaction("changing a certificate's status", [&]() -> Result<CertificateRecord> {
      auto current = find_certificate(issuer_id, serial);
      if (!current) return current;
      if (current->status != change.expected) {
        std::string message = "certificate " + current->serial + " is ";
        if (current->status == change.next) message += "already ";
        message += describe_status(*current);
        if (current->status != change.next) message += std::string(", not ") + to_string(change.expected);
        return fail(Errc::conflict, std::move(message));
      }
      std::optional<std::int64_t> reason_code;
      if (!clears && change.reason) reason_code = static_cast<std::int64_t>(*change.reason);
      auto update = prepare(
          "UPDATE certificates SET status = ?1, revoked_at = ?2, revocation_reason = ?3, invalidity_date = ?4 "
          "WHERE id = ?5 AND status = ?6");
      if (!update) return std::unexpected(update.error());
      update->bind(1, std::string_view(to_string(change.next)))
          .bind(2, clears ? std::nullopt : optional_unix(change.revoked_at))
          .bind(3, reason_code)
          .bind(4, clears ? std::nullopt : optional_unix(change.invalidity_date))
          .bind(5, current->id)
          .bind(6, std::string_view(to_string(change.expected)));
      if (auto updated = update->run("updating certificate " + current->serial); !updated) {
        return std::unexpected(updated.error());
      }
      if (sqlite3_changes(db()) != 1) {
        // Unreachable under BEGIN IMMEDIATE; kept so a broken assumption fails loudly, not silently.
        return fail(Errc::internal, "certificate " + current->serial + " changed while being updated");
      }
      if (auto logged = append_audit(audit); !logged) return std::unexpected(logged.error());
      return find_certificate(issuer_id, current->serial);
    });
  }

  Result<std::vector<CertificateRecord>> list_certificates(const CertificateFilter& filter) {
    FilteredQuery query(sql("SELECT ", kCertificateColumns, " FROM certificates"));
    if (filter.issuer_id) query.where("issuer_id =", *filter.issuer_id);
    if (filter.status) query.where("status =", std::string(to_string(*filter.status)));
    if (filter.expiring_before) query.where("not_after <", to_unix(*filter.expiring_before));
    if (filter.not_expired_at) query.where("not_after >=", to_unix(*filter.not_expired_at));
    if (filter.profile) query.where("profile =", *filter.profile);
    if (filter.common_name) query.where("common_name =", *filter.common_name);
    if (filter.name_contains) {
      query.where("instr(lower(subject || ' ' || common_name || ' ' || sans), lower(", *filter.name_contains, ")) > 0");
    }
    if (filter.issued_after) query.where("issued_at >", to_unix(*filter.issued_after));
    if (filter.after_id) query.where("id >", *filter.after_id);
    if (filter.issuer_in) query.where_in("issuer_id", *filter.issuer_in);
    query.page(filter.limit, filter.offset);

    auto select = prepare(query.text());
    if (!select) return std::unexpected(select.error());
    query.bind(*select);
    return query_all<CertificateRecord>(*select, "listing certificates", read_certificate);
  }

  // ---- enrolments ----

  Result<EnrollmentRecord> find_enrollment(std::int64_t id) {
    auto select = prepare(sql("SELECT ", kEnrollmentColumns, " FROM enrollments WHERE id = ?1"));
    if (!select) return std::unexpected(select.error());
    select->bind(1, id);
    return query_one<EnrollmentRecord>(*select, "looking up an enrolment", read_enrollment,
                                       "no enrolment request " + std::to_string(id));
  }

  Result<std::int64_t> insert_enrollment(const EnrollmentRecord& e, const AuditEvent& audit) {
    return write_transaction("storing an enrolment request", [&]() -> Result<std::int64_t> {
      auto insert = prepare(
          "INSERT INTO enrollments (label, requester, issuer_id, profile, common_name, csr_pem, state, created_at, "
          "decided_by, decided_at, reason, certificate_serial) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
      if (!insert) return std::unexpected(insert.error());
      insert->bind(1, std::string_view(e.label))
          .bind(2, std::string_view(e.requester))
          .bind(3, e.issuer_id)
          .bind(4, std::string_view(e.profile))
          .bind(5, std::string_view(e.common_name))
          .bind(6, std::string_view(e.csr_pem))
          .bind(7, std::string_view(to_string(e.state)))
          .bind(8, to_unix(e.created_at))
          .bind(9, e.decided_by)
          .bind(10, optional_unix(e.decided_at))
          .bind(11, e.reason)
          .bind(12, e.certificate_serial);
      if (auto inserted = insert->run("inserting an enrolment request"); !inserted) {
        if (insert->extended_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
          return fail(Errc::not_found, "issuing CA id " + std::to_string(e.issuer_id) + " does not exist");
        }
        return std::unexpected(inserted.error());
      }
      const std::int64_t id = sqlite3_last_insert_rowid(db());
      if (auto logged = append_audit(audit); !logged) return std::unexpected(logged.error());
      return id;
    });
  }

  Result<std::vector<EnrollmentRecord>> list_enrollments(const EnrollmentFilter& filter) {
    FilteredQuery query(sql("SELECT ", kEnrollmentColumns, " FROM enrollments"));
    if (filter.state) query.where("state =", std::string(to_string(*filter.state)));
    if (filter.requester) query.where("requester =", *filter.requester);
    if (filter.after_id) query.where("id >", *filter.after_id);
    if (filter.issuer_in) query.where_in("issuer_id", *filter.issuer_in);
    query.page(filter.limit);
    auto select = prepare(query.text());
    if (!select) return std::unexpected(select.error());
    query.bind(*select);
    return query_all<EnrollmentRecord>(*select, "listing enrolment requests", read_enrollment);
  }

  Result<EnrollmentRecord> change_enrollment(std::int64_t id, const EnrollmentChange& change, const AuditEvent& audit) {
    return write_transaction("changing an enrolment request", [&]() -> Result<EnrollmentRecord> {
      auto current = find_enrollment(id);
      if (!current) return current;
      if (current->state != change.expected) {
        return fail(Errc::conflict, "enrolment request " + std::to_string(id) + " is " + to_string(current->state) +
                                        ", not " + to_string(change.expected));
      }
      auto update = prepare(
          "UPDATE enrollments SET state = ?1, decided_by = ?2, decided_at = ?3, reason = ?4, certificate_serial = ?5 "
          "WHERE id = ?6 AND state = ?7");
      if (!update) return std::unexpected(update.error());
      update->bind(1, std::string_view(to_string(change.next)))
          .bind(2, change.decided_by)
          .bind(3, optional_unix(change.decided_at))
          .bind(4, change.reason)
          .bind(5, change.certificate_serial)
          .bind(6, id)
          .bind(7, std::string_view(to_string(change.expected)));
      if (auto updated = update->run("updating enrolment request " + std::to_string(id)); !updated) {
        return std::unexpected(updated.error());
      }
      if (sqlite3_changes(db()) != 1) {
        return fail(Errc::internal, "enrolment request " + std::to_string(id) + " changed while being updated");
      }
      if (auto logged = append_audit(audit); !logged) return std::unexpected(logged.error());
      return find_enrollment(id);
    });
  }

  // ---- CRLs ----

  Result<std::vector<RevokedEntry>> revoked_entries(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at) {
    auto select = prepare(revoked_entries_query(not_expired_at.has_value()));
    if (!select) return std::unexpected(select.error());
    select->bind(1, issuer_id);
    if (not_expired_at) select->bind(2, to_unix(*not_expired_at));
    return query_all<RevokedEntry>(*select, "reading the revoked certificates of CA id " + std::to_string(issuer_id),
                                   read_revoked_entry);
  }

  Result<std::optional<std::int64_t>> latest_crl_number(std::int64_t issuer_id) {
    auto highest = prepare("SELECT max(number) FROM crls WHERE issuer_id = ?1");
    if (!highest) return std::unexpected(highest.error());
    highest->bind(1, issuer_id);
    auto row = highest->step("reading the latest CRL number");
    if (!row) return std::unexpected(row.error());
    return *row ? highest->column_optional_int(0) : std::nullopt;
  }

  // Inside a write transaction. Above the stored numbers too, so CRLs stored with a number of their
  // own (tests, older builds) are never collided with.
  Result<std::int64_t> take_crl_number(std::int64_t issuer_id) {
    auto next = prepare(
        "INSERT INTO crl_numbers (issuer_id, last_number) "
        "VALUES (?1, coalesce((SELECT max(number) FROM crls WHERE issuer_id = ?1), 0) + 1) "
        "ON CONFLICT (issuer_id) DO UPDATE SET last_number = "
        "max(last_number, coalesce((SELECT max(number) FROM crls WHERE issuer_id = ?1), 0)) + 1 "
        "RETURNING last_number");
    if (!next) return std::unexpected(next.error());
    next->bind(1, issuer_id);
    auto row = next->step("taking a CRL number");
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(Errc::internal, "no CRL number taken for CA id " + std::to_string(issuer_id));
    const auto number = next->column_int(0);
    if (auto done = next->step("taking a CRL number"); !done) return std::unexpected(done.error());
    return number;
  }

  Result<std::int64_t> reserve_crl_number(std::int64_t issuer_id) {
    return write_transaction("taking a CRL number", [&]() -> Result<std::int64_t> {
      auto exists = prepare("SELECT 1 FROM cas WHERE id = ?1");
      if (!exists) return std::unexpected(exists.error());
      exists->bind(1, issuer_id);
      auto row = exists->step("looking up a CA");
      if (!row) return std::unexpected(row.error());
      if (!*row) return fail(Errc::not_found, "CA id " + std::to_string(issuer_id) + " does not exist");
      return take_crl_number(issuer_id);
    });
  }

  Result<DeltaSnapshot> delta_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at,
                                       TimePoint released_at) {
    return write_transaction("reading a delta CRL snapshot", [&]() -> Result<DeltaSnapshot> {
      DeltaSnapshot snapshot;
      {
        auto base = prepare(
            "SELECT issuer_id, number, this_update, next_update, entries, revocation_revision FROM crls "
            "WHERE issuer_id = ?1 AND base_number IS NULL ORDER BY number DESC LIMIT 1");
        if (!base) return std::unexpected(base.error());
        base->bind(1, issuer_id);
        auto found = base->step("reading the base CRL");
        if (!found) return std::unexpected(found.error());
        if (!*found) return fail(Errc::not_found, "no CRL has been made for CA id " + std::to_string(issuer_id) + " yet");
        snapshot.base.issuer_id = base->column_int(0);
        snapshot.base.number = base->column_int(1);
        snapshot.base.this_update = from_unix(base->column_int(2));
        snapshot.base.next_update = from_unix(base->column_int(3));
        snapshot.base.entries = base->column_int(4);
        snapshot.base.revocation_revision = base->column_int(5);
      }

      auto number = take_crl_number(issuer_id);
      if (!number) return std::unexpected(number.error());
      snapshot.number = *number;

      auto select = prepare(not_expired_at ? kChangedEntriesNotExpiredQuery : kChangedEntriesQuery);
      if (!select) return std::unexpected(select.error());
      select->bind(1, issuer_id).bind(2, snapshot.base.revocation_revision);
      if (not_expired_at) select->bind(3, to_unix(*not_expired_at));
      auto changes = query_all<RevokedEntry>(*select, "reading the changed certificates of CA id " + std::to_string(issuer_id),
                                             [&](const Statement& row) -> Result<RevokedEntry> {
                                               if (row.column_text(1) != "valid") return read_revoked_entry(row);
                                               // Released from hold since the base (RFC 5280 5.2.4).
                                               RevokedEntry entry;
                                               entry.serial = row.column_text(0);
                                               entry.revoked_at = released_at;
                                               entry.reason = RevocationReason::remove_from_crl;
                                               return entry;
                                             });
      if (!changes) return std::unexpected(changes.error());
      snapshot.changes = std::move(*changes);
      auto revision = revocation_revision(issuer_id);
      if (!revision) return std::unexpected(revision.error());
      snapshot.revocation_revision = *revision;
      return snapshot;
    });
  }

  Result<std::int64_t> revocation_revision(std::int64_t issuer_id) {
    auto select = prepare("SELECT revision FROM revocation_revisions WHERE issuer_id = ?1");
    if (!select) return std::unexpected(select.error());
    select->bind(1, issuer_id);
    auto row = select->step("reading the revocation revision");
    if (!row) return std::unexpected(row.error());
    return *row ? select->column_int(0) : 0;
  }

  Result<void> store_crl(const CrlRecord& crl, const AuditEvent& audit) {
    const std::string issuer = "CA id " + std::to_string(crl.issuer_id);
    if (crl.number < 0) {
      return fail(Errc::invalid_input, "CRL number " + std::to_string(crl.number) + " of " + issuer + " is negative");
    }
    return write_transaction("storing a CRL", [&]() -> Result<void> {
      // Read under the write lock (BEGIN IMMEDIATE), so two publishers cannot both pass the check. A
      // delta CRL may take a number above a full CRL still being built; a full CRL must not be older
      // than a stored one (a lower number, or entries read at a lower revision), nor number above a
      // delta that saw a newer change: a relying party holding both uses the full CRL alone.
      if (!crl.base_number) {
        auto newest = prepare(
            "SELECT number, revocation_revision FROM crls WHERE issuer_id = ?1 AND revocation_revision > ?3 "
            "AND (base_number IS NULL OR number < ?2) "
            "UNION ALL SELECT number, revocation_revision FROM crls WHERE issuer_id = ?1 AND base_number IS NULL "
            "AND number >= ?2 LIMIT 1");
        if (!newest) return std::unexpected(newest.error());
        newest->bind(1, crl.issuer_id).bind(2, crl.number).bind(3, crl.revocation_revision);
        auto row = newest->step("comparing with the stored CRLs");
        if (!row) return std::unexpected(row.error());
        if (*row) {
          return fail(Errc::conflict, "CRL number " + std::to_string(crl.number) + " of " + issuer +
                                          " is not above the latest stored number " + std::to_string(newest->column_int(0)) +
                                          " (or its entries are older than that CRL's)");
        }
      }

      auto insert = prepare(
          "INSERT INTO crls (issuer_id, number, this_update, next_update, entries, der, created_at, "
          "revocation_revision, base_number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      if (!insert) return std::unexpected(insert.error());
      insert->bind(1, crl.issuer_id)
          .bind(2, crl.number)
          .bind(3, to_unix(crl.this_update))
          .bind(4, to_unix(crl.next_update))
          .bind(5, crl.entries)
          .bind(6, std::span<const std::uint8_t>(crl.der))
          .bind(7, to_unix(audit.at))
          .bind(8, crl.revocation_revision)
          .bind(9, crl.base_number);
      if (auto inserted = insert->run("storing CRL " + std::to_string(crl.number) + " of " + issuer); !inserted) {
        switch (insert->extended_error_code()) {
          case SQLITE_CONSTRAINT_FOREIGNKEY:
            return fail(Errc::not_found, "issuing " + issuer + " does not exist");
          case SQLITE_CONSTRAINT_PRIMARYKEY:
          case SQLITE_CONSTRAINT_UNIQUE:
            return fail(Errc::conflict, "CRL number " + std::to_string(crl.number) + " of " + issuer + " exists already");
          default:
            return std::unexpected(inserted.error());
        }
      }

      // Of the CRL's kind (full or delta), everything at or below the (kept+1)-th newest number goes;
      // with fewer rows the subquery is NULL and nothing is deleted.
      auto prune = prepare(crl.base_number
                               ? "DELETE FROM crls WHERE issuer_id = ?1 AND base_number IS NOT NULL AND number <= "
                                 "(SELECT number FROM crls WHERE issuer_id = ?1 AND base_number IS NOT NULL "
                                 "ORDER BY number DESC LIMIT 1 OFFSET ?2)"
                               : "DELETE FROM crls WHERE issuer_id = ?1 AND base_number IS NULL AND number <= "
                                 "(SELECT number FROM crls WHERE issuer_id = ?1 AND base_number IS NULL "
                                 "ORDER BY number DESC LIMIT 1 OFFSET ?2)");
      if (!prune) return std::unexpected(prune.error());
      prune->bind(1, crl.issuer_id).bind(2, Database::kCrlsKeptPerIssuer);
      if (auto pruned = prune->run("pruning old CRLs of " + issuer); !pruned) return pruned;

      return append_audit(audit);
    });
  }

  // ---- OCSP signers ----

  Result<void> store_ocsp_signer(const OcspSignerRecord& signer, const AuditEvent& audit) {
    const std::string issuer = "CA id " + std::to_string(signer.issuer_id);
    return write_transaction("storing an OCSP signer", [&]() -> Result<void> {
      auto insert = prepare(
          "INSERT INTO ocsp_signers (issuer_id, serial, key_uri, certificate_pem, not_after, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      if (!insert) return std::unexpected(insert.error());
      insert->bind(1, signer.issuer_id)
          .bind(2, std::string_view(signer.serial))
          .bind(3, std::string_view(signer.key_uri))
          .bind(4, std::string_view(signer.certificate_pem))
          .bind(5, to_unix(signer.not_after))
          .bind(6, to_unix(audit.at));
      if (auto inserted = insert->run("storing OCSP signer " + signer.serial + " of " + issuer); !inserted) {
        if (insert->extended_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
          return fail(Errc::not_found, "issuing " + issuer + " does not exist");
        }
        return inserted;
      }
      return append_audit(audit);
    });
  }
};

// ---------------------------------------------------------------------------------------------

namespace {

Result<int> read_user_version(sqlite3* connection) {
  sqlite3_stmt* raw = nullptr;
  const int prepared = sqlite3_prepare_v2(connection, "PRAGMA user_version", -1, &raw, nullptr);
  sqlite::StatementPtr statement(raw);
  if (prepared != SQLITE_OK || sqlite3_step(raw) != SQLITE_ROW) {
    return storage_error(connection, "reading the schema version");
  }
  return sqlite3_column_int(raw, 0);
}

// Runs a pragma that answers with one text value ("wal", "1") and returns that value.
Result<std::string> pragma_value(sqlite3* connection, const char* pragma) {
  sqlite3_stmt* raw = nullptr;
  const int prepared = sqlite3_prepare_v2(connection, pragma, -1, &raw, nullptr);
  sqlite::StatementPtr statement(raw);
  if (prepared != SQLITE_OK) return storage_error(connection, pragma);
  const int rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return storage_error(connection, pragma);
  const auto* text = sqlite3_column_text(raw, 0);
  return std::string(text ? reinterpret_cast<const char*>(text) : "");
}

Result<void> configure_connection(sqlite3* connection, const std::string& file) {
  auto journal_mode = pragma_value(connection, "PRAGMA journal_mode = WAL");
  if (!journal_mode) return std::unexpected(journal_mode.error());
  // An in-memory database (tests) answers "memory"; a file that will not go to WAL would lose
  // the one-writer-many-readers behaviour the servers rely on.
  if (*journal_mode != "wal" && !(file == ":memory:" && *journal_mode == "memory")) {
    return fail(Errc::storage, "database " + file + " cannot use WAL journaling (journal_mode is " + *journal_mode + ")");
  }
  // FULL: the WAL is fsynced at every commit, so a certificate handed out survives a power cut,
  // not only a process kill (NORMAL would already survive SIGKILL, but not the power cut).
  if (auto synced = sqlite::execute_script(connection, "PRAGMA synchronous = FULL", "setting synchronous"); !synced) {
    return synced;
  }
  if (auto keys = sqlite::execute_script(connection, "PRAGMA foreign_keys = ON", "enabling foreign keys"); !keys) {
    return keys;
  }
  auto foreign_keys = pragma_value(connection, "PRAGMA foreign_keys");
  if (!foreign_keys) return std::unexpected(foreign_keys.error());
  if (*foreign_keys != "1") return fail(Errc::storage, "this SQLite build cannot enforce foreign keys");
  return {};
}

Result<void> check_migrations_are_contiguous() {
  int expected = 1;
  for (const auto& migration : embedded_migrations()) {
    if (migration.version != expected) {
      return fail(Errc::internal, std::string("embedded migration ") + migration.name + " should be number " +
                                      std::to_string(expected));
    }
    ++expected;
  }
  return {};
}

Result<int> migrate(sqlite3* connection, const std::string& file) {
  if (auto ordered = check_migrations_are_contiguous(); !ordered) return std::unexpected(ordered.error());
  auto found = read_user_version(connection);
  if (!found) return std::unexpected(found.error());
  int version = *found;
  for (const auto& migration : embedded_migrations()) {
    // Reopening an up-to-date database takes no write lock at all.
    if (version >= migration.version) continue;
    const std::string what = "applying migration " + std::string(migration.name) + " to " + file;
    if (auto begun = sqlite::execute_script(connection, "BEGIN IMMEDIATE", what); !begun) {
      return std::unexpected(begun.error());
    }
    auto applied = [&]() -> Result<bool> {
      // Read again under the write lock: another process may have migrated since we looked.
      auto current = read_user_version(connection);
      if (!current) return std::unexpected(current.error());
      version = *current;
      if (version >= migration.version) return false;
      if (auto ran = sqlite::execute_script(connection, migration.sql, what); !ran) return std::unexpected(ran.error());
      // PRAGMA takes no bound parameters; the value is our own integer, never outside input.
      const std::string set_version = "PRAGMA user_version = " + std::to_string(migration.version);
      if (auto set = sqlite::execute_script(connection, set_version.c_str(), what); !set) {
        return std::unexpected(set.error());
      }
      return true;
    }();
    if (!applied) {
      if (sqlite3_get_autocommit(connection) == 0) sqlite3_exec(connection, "ROLLBACK", nullptr, nullptr, nullptr);
      return std::unexpected(applied.error());
    }
    if (auto committed = sqlite::execute_script(connection, "COMMIT", what); !committed) {
      if (sqlite3_get_autocommit(connection) == 0) sqlite3_exec(connection, "ROLLBACK", nullptr, nullptr, nullptr);
      return std::unexpected(committed.error());
    }
    if (*applied) version = migration.version;
  }
  return version;
}

std::unexpected<Error> newer_schema_error(int found) {
  return fail(Errc::conflict, "database schema version " + std::to_string(found) +
                                  " is newer than this build supports (" +
                                  std::to_string(Database::latest_schema_version()) + "); upgrade facility-ca");
}

void remove_database_files(const std::filesystem::path& file) {
  std::error_code ignored;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::filesystem::remove(file.string() + suffix, ignored);
  }
}

}  // namespace

Database::Database(sqlite3* handle) : impl_(std::make_unique<Impl>(handle)), inserts_(std::make_unique<InsertQueue>()) {}

struct Database::ReadAccess {
  std::unique_lock<std::mutex> lock;
  Impl* impl;
};

// Reads have a connection of their own (WAL: a reader never waits for the writer), so a commit
// holding the writer's mutex through its fsync does not stall the reads of the requests queuing
// behind it. An in-memory database has one connection only.
Database::ReadAccess Database::read_access() {
  if (reader_) return ReadAccess{std::unique_lock(read_mutex_), reader_.get()};
  return ReadAccess{std::unique_lock(mutex_), impl_.get()};
}
Database::~Database() = default;

int Database::latest_schema_version() {
  const auto& migrations = embedded_migrations();
  return migrations.empty() ? 0 : migrations.back().version;
}

// The database holds every certificate, the audit log and the CA configuration: owner only. SQLite
// gives its -wal and -shm files the mode of the database file, so creating that one 0600 (and
// tightening one left 0644 by an older build) covers all three.
Result<void> restrict_database_files(const std::string& name) {
  if (name == ":memory:" || name.empty()) return {};
  const int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(Errc::storage, "cannot open database " + name + ": " + std::strerror(errno));
  struct stat info {};
  // A file of another owner is not ours to change (and fchmod would fail); it stays as it is.
  const bool ok = ::fstat(fd, &info) == 0 &&
                  ((info.st_mode & 077) == 0 || info.st_uid != ::geteuid() || ::fchmod(fd, 0600) == 0);
  const int error = errno;
  ::close(fd);
  if (!ok) return fail(Errc::storage, "cannot make database " + name + " private (mode 0600): " + std::strerror(error));
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string companion = name + suffix;
    if (::stat(companion.c_str(), &info) == 0 && (info.st_mode & 077) != 0 && info.st_uid == ::geteuid() &&
        ::chmod(companion.c_str(), 0600) != 0) {
      return fail(Errc::storage, "cannot make " + companion + " private (mode 0600): " + std::strerror(errno));
    }
  }
  return {};
}

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& file, std::optional<AuditSeal> seal) {
  const std::string name = file.string();
  if (auto restricted = restrict_database_files(name); !restricted) return std::unexpected(restricted.error());
  auto connection = sqlite::open_connection(name, /*create=*/true);
  if (!connection) return std::unexpected(connection.error());
  sqlite3* raw = connection->get();
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);

  // Checked before anything writes to the file: a newer database is left exactly as it was.
  auto found = read_user_version(raw);
  if (!found) return fail(Errc::storage, name + " is not a usable SQLite database: " + found.error().message);
  if (*found > latest_schema_version()) return newer_schema_error(*found);

  if (auto configured = configure_connection(raw, name); !configured) return std::unexpected(configured.error());
  auto version = migrate(raw, name);
  if (!version) return std::unexpected(version.error());
  if (*version > latest_schema_version()) return newer_schema_error(*version);

  std::unique_ptr<Database> database(new Database(connection->release()));
  database->schema_version_ = *version;
  if (name != ":memory:") {
    auto reader = sqlite::open_connection(name, /*create=*/false);
    if (!reader) return std::unexpected(reader.error());
    sqlite3_busy_timeout(reader->get(), kBusyTimeoutMs);
    if (auto read_only = sqlite::execute_script(reader->get(), "PRAGMA query_only = ON", "opening the read connection");
        !read_only) {
      return std::unexpected(read_only.error());
    }
    database->reader_ = std::make_unique<Impl>(reader->release());
    database->file_ = name;
  }
  database->impl_->seal = std::move(seal);
  if (auto started = database->impl_->start_head_if_missing(); !started) return std::unexpected(started.error());
  return database;
}

Result<void> Database::backup_to(const std::filesystem::path& file) {
  const std::string name = file.string();
  // O_EXCL makes "refuse an existing target" atomic; SQLite accepts the empty file as a new database.
  const int descriptor = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    const int error = errno;
    if (error == EEXIST) return fail(Errc::conflict, "backup target " + name + " exists already; choose a new file");
    return fail(Errc::storage, "cannot create backup file " + name + ": " + std::strerror(error));
  }
  ::close(descriptor);

  auto copied = [&]() -> Result<void> {
    auto target = sqlite::open_connection(name, /*create=*/false);
    if (!target) return std::unexpected(target.error());
    if (auto synced = sqlite::execute_script(target->get(), "PRAGMA synchronous = FULL", "backup"); !synced) {
      return synced;
    }
    sqlite::BackupPtr backup;
    {
      std::lock_guard lock(mutex_);
      backup.reset(sqlite3_backup_init(target->get(), "main", impl_->db(), "main"));
    }
    if (!backup) return storage_error(target->get(), "starting the backup to " + name);
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      if (rc != SQLITE_OK) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // Changes made through this connection between steps are carried into the copy by SQLite.
      std::lock_guard lock(mutex_);
      rc = sqlite3_backup_step(backup.get(), kBackupPagesPerStep);
    }
    // Finishing touches the source connection too, so it happens under the mutex.
    std::lock_guard lock(mutex_);
    const int finished = sqlite3_backup_finish(backup.release());
    if (rc != SQLITE_DONE) return fail(Errc::storage, "backup to " + name + " failed: " + sqlite3_errstr(rc));
    if (finished != SQLITE_OK) return storage_error(target->get(), "finishing the backup to " + name);
    return {};
  }();
  if (!copied) remove_database_files(file);
  return copied;
}

Result<AuditVerification> Database::verify_audit() {
  auto reading = read_access();
  const auto& seal = impl_->seal;
  // The head first, the entries after: the head is written only after its entries committed, so a
  // snapshot taken later holds at least as many entries as the head counts.
  std::optional<AuditHead> head;
  if (seal) {
    auto read = read_audit_head(seal->head_file);
    if (!read) return std::unexpected(read.error());
    if (!*read) {
      AuditVerification missing;
      missing.reason = "the audit head file " + seal->head_file.string() + " is missing";
      return missing;
    }
    head = **read;
  }
  return reading.impl->read_transaction("verifying the audit log", [&]() -> Result<AuditVerification> {
    auto select = reading.impl->prepare(sql("SELECT ", kAuditColumns, " FROM audit_log ORDER BY sequence"));
    if (!select) return std::unexpected(select.error());
    AuditVerification verification;
    if (head) {
      verification.keyed_from = head->keyed_from;
      verification.head_count = head->count;
    }
    std::int64_t previous_sequence = 0;
    std::string previous_hash;
    std::optional<std::string> hash_at_head;
    auto report = [&](std::int64_t sequence, std::string reason) {
      if (verification.first_bad_sequence) return;
      verification.first_bad_sequence = sequence;
      verification.reason = std::move(reason);
    };
    for (;;) {
      auto row = select->step("reading the audit log");
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      ++verification.entries;
      if (verification.first_bad_sequence) continue;  // only the first break is reported; keep counting
      const AuditEntry entry = read_audit_entry(*select);
      if (entry.sequence != previous_sequence + 1) {
        report(entry.sequence, "gap: entry " + std::to_string(entry.sequence) + " follows " +
                                   (previous_sequence == 0 ? std::string("the start of the log")
                                                           : "entry " + std::to_string(previous_sequence)) +
                                   " (entries missing)");
      } else if (entry.previous_hash != previous_hash) {
        report(entry.sequence, "previous link mismatch: previous_hash does not match the hash of " +
                                   (previous_sequence == 0 ? std::string("the start of the log (empty)")
                                                           : "entry " + std::to_string(previous_sequence)));
      } else {
        // From keyed_from on only the MAC counts. Before it, an entry is either from before the key
        // (plain SHA-256) or keyed under a head that was lost and restarted; both are pinned by the
        // first keyed entry, whose MAC covers their chain through previous_hash.
        const bool keyed_only = head && entry.sequence >= head->keyed_from;
        bool matches = false;
        if (!keyed_only) {
          auto expected = audit_entry_hash(entry.sequence, entry.event, entry.previous_hash);
          if (!expected) return std::unexpected(expected.error());
          matches = *expected == entry.hash;
        }
        if (!matches && seal) {
          auto expected = audit_entry_mac(seal->key, entry.sequence, entry.event, entry.previous_hash);
          if (!expected) return std::unexpected(expected.error());
          matches = *expected == entry.hash;
        }
        if (!matches) {
          report(entry.sequence, keyed_only ? "MAC mismatch: the entry was altered after it was written, or its "
                                              "MAC recomputed without the audit key"
                                            : "hash mismatch: the entry's fields were altered after it was written");
        }
      }
      if (head && entry.sequence == head->count) hash_at_head = entry.hash;
      previous_sequence = entry.sequence;
      previous_hash = entry.hash;
    }
    if (head && !verification.first_bad_sequence) {
      if (verification.entries < head->count) {
        report(verification.entries + 1,
               "the newest " + std::to_string(head->count - verification.entries) + " entries are missing: the audit " +
                   "head records " + std::to_string(head->count) + " entries, the database holds " +
                   std::to_string(verification.entries));
      } else if (head->count > 0 && hash_at_head != head->mac) {
        report(head->count, "head mismatch: entry " + std::to_string(head->count) +
                                " is not the one the audit head file recorded");
      }
    }
    verification.intact = !verification.first_bad_sequence;
    return verification;
  });
}

Result<bool> Database::integrity_ok() {
  auto reading = read_access();
  auto check = reading.impl->prepare("PRAGMA integrity_check");
  if (!check) return std::unexpected(check.error());
  auto first = check->step("checking database integrity");
  if (!first) return std::unexpected(first.error());
  if (!*first || check->column_text(0) != "ok") return false;
  auto more = check->step("checking database integrity");
  if (!more) return std::unexpected(more.error());
  return !*more;
}

// ---- CaRepository ----

Result<std::int64_t> Database::insert_ca(const CaRecord& ca, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->insert_ca(ca, audit);
}

Result<std::int64_t> Database::insert_subordinate_ca(const CaRecord& ca, const AuditEvent& audit,
                                                    const CertificateRecord& certificate,
                                                    const AuditEvent& certificate_audit) {
  std::lock_guard lock(mutex_);
  return impl_->insert_subordinate_ca(ca, audit, certificate, certificate_audit);
}

Result<void> Database::update_ca(const CaRecord& ca, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->update_ca(ca, audit);
}

Result<std::vector<CaRecord>> Database::list_cas() {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kCaColumns, " FROM cas ORDER BY id"));
  if (!select) return std::unexpected(select.error());
  return query_all<CaRecord>(*select, "listing CAs", [](const Statement& row) { return read_ca(row); });
}

Result<CaRecord> Database::find_ca(std::string_view name) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kCaColumns, " FROM cas WHERE name = ?1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, name);
  return query_one<CaRecord>(*select, "looking up a CA", [](const Statement& row) { return read_ca(row); },
                             "no CA named '" + std::string(name) + "'");
}

Result<CaRecord> Database::find_ca(std::int64_t id) {
  auto reading = read_access();
  return reading.impl->find_ca_by_id(id);
}

Result<CaRecord> Database::find_ca_by_publication_name(std::string_view publication_name) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kCaColumns, " FROM cas WHERE publication_name = ?1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, publication_name);
  return query_one<CaRecord>(*select, "looking up a CA", [](const Statement& row) { return read_ca(row); },
                             "no CA publishes as '" + std::string(publication_name) + "'");
}

Result<std::int64_t> Database::insert_successor_ca(
    const CaRecord& previous, std::string_view previous_name_before, const CaRecord& successor, const AuditEvent& audit,
    const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent) {
  std::lock_guard lock(mutex_);
  return impl_->insert_successor_ca(previous, previous_name_before, successor, audit, issued_by_parent);
}

Result<CaRecord> Database::default_ca() {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kCaColumns, " FROM cas WHERE is_default = 1"));
  if (!select) return std::unexpected(select.error());
  return query_one<CaRecord>(*select, "looking up the default CA", [](const Statement& row) { return read_ca(row); },
                             "no default CA is set");
}

Result<void> Database::set_default_ca(std::int64_t id, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->set_default_ca(id, audit);
}

// ---- CertificateRepository ----

Result<std::int64_t> Database::insert_certificate(const CertificateRecord& cert, const AuditEvent& audit) {
  return commit_in_batch(&cert, audit);
}

Result<std::int64_t> Database::commit_in_batch(const CertificateRecord* cert, const AuditEvent& audit) {
  PendingInsert mine{cert, &audit, std::nullopt, nullptr, false};
  std::unique_lock queue(inserts_->mutex);
  inserts_->waiting.push_back(&mine);
  inserts_->queued.notify_one();
  // Either a batch in progress takes this insert along later (wait), or this thread commits
  // everything queued so far, its own insert among it.
  while (!mine.done) {
    if (inserts_->leading) {
      inserts_->answered.wait(queue);
      continue;
    }
    inserts_->leading = true;
    queue.unlock();
    lead_insert_batch();
    queue.lock();
  }
  queue.unlock();
  if (mine.exception) std::rethrow_exception(mine.exception);
  return std::move(*mine.result);
}

void Database::lead_insert_batch() {
  std::vector<PendingInsert*> batch;
  std::optional<AuditHead> head;
  {
    std::lock_guard lock(mutex_);
    {
      // Taken once the connection is ours: whatever queued while we waited for it joins this batch.
      // When the last batch held several callers, those still on their way back get a moment (at most
      // a quarter of the last COMMIT, at most 1 ms) to join rather than pay for an fsync of their own.
      std::unique_lock queue(inserts_->mutex);
      if (inserts_->last_batch > 1 && inserts_->waiting.size() < inserts_->last_batch) {
        const auto gather = std::min<std::chrono::steady_clock::duration>(inserts_->last_commit / 4, std::chrono::milliseconds(1));
        const std::size_t expected = inserts_->last_batch;
        inserts_->queued.wait_for(queue, gather, [&] { return inserts_->waiting.size() >= expected; });
      }
      batch.swap(inserts_->waiting);
    }
    const auto started = std::chrono::steady_clock::now();
    head = impl_->commit_batch(batch, commit_hook_);
    const auto took = std::chrono::steady_clock::now() - started;
    std::lock_guard queue(inserts_->mutex);
    inserts_->last_batch = batch.size();
    inserts_->last_commit = took;
  }
  const std::size_t size = batch.size();
  {
    std::lock_guard queue(inserts_->mutex);
    for (auto* insert : batch) insert->done = true;  // the waiters' records may be gone from here on
    inserts_->leading = false;
  }
  inserts_->answered.notify_all();
  if (commit_hook_) commit_hook_(CommitPoint::answered, size);
  if (head) write_audit_head(std::move(*head));
}

// After the commit, never before (see Impl::advance_head), and outside the connection's mutex: the
// next batch commits while this head is written. One head write at a time; a thread that waited for
// the one before finds its own head written already (that writer took the newest head queued) or
// writes the newest itself, so every caller returns with its head on disk after at most two writes.
void Database::write_audit_head(AuditHead head) {
  const std::int64_t mine = head.count;
  {
    std::lock_guard queue(inserts_->mutex);
    if (!inserts_->head_wanted || inserts_->head_wanted->count < mine) inserts_->head_wanted = std::move(head);
  }
  std::lock_guard writing(inserts_->head_writer);
  AuditHead newest;
  {
    std::lock_guard queue(inserts_->mutex);
    if (inserts_->head_written >= mine || !inserts_->head_wanted) return;
    newest = std::move(*inserts_->head_wanted);
    inserts_->head_wanted.reset();
  }
  (void)advance_audit_head(impl_->seal->head_file, newest);  // committed already: a failed head write fails nothing
  std::lock_guard queue(inserts_->mutex);
  inserts_->head_written = newest.count;
}

std::size_t Database::queued_inserts() {
  std::lock_guard queue(inserts_->mutex);
  return inserts_->waiting.size();
}

Result<CertificateRecord> Database::find_certificate(std::int64_t issuer_id, std::string_view serial) {
  auto reading = read_access();
  return reading.impl->find_certificate(issuer_id, serial);
}

Result<std::vector<CertificateRecord>> Database::find_by_serial(std::string_view serial) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kCertificateColumns, " FROM certificates WHERE serial = ?1 ORDER BY id"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, serial);
  return query_all<CertificateRecord>(*select, "looking up a serial", read_certificate);
}

Result<std::vector<CertificateRecord>> Database::list_certificates(const CertificateFilter& filter) {
  auto reading = read_access();
  return reading.impl->list_certificates(filter);
}

Result<std::int64_t> Database::count_certificates() {
  auto reading = read_access();
  auto count = reading.impl->prepare("SELECT count(*) FROM certificates");
  if (!count) return std::unexpected(count.error());
  auto row = count->step("counting certificates");
  if (!row) return std::unexpected(row.error());
  return *row ? count->column_int(0) : 0;
}

Result<CertificateRecord> Database::change_status(std::int64_t issuer_id, std::string_view serial,
                                                  const StatusChange& change, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->change_status(issuer_id, serial, change, audit);
}

// ---- AuditLog ----

// EST appends a decision for every enrolment, as often as certificates are issued: decisions
// share the certificates' group commit rather than pay for a durable transaction each.
Result<void> Database::append(const AuditEvent& event) {
  auto appended = commit_in_batch(nullptr, event);
  if (!appended) return std::unexpected(appended.error());
  return {};
}

Result<std::vector<AuditEntry>> Database::entries(std::int64_t after_sequence, std::size_t limit) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kAuditColumns, " FROM audit_log WHERE sequence > ?1 ORDER BY sequence LIMIT ?2"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, after_sequence).bind(2, clamp_to_int64(limit));
  return query_all<AuditEntry>(*select, "reading the audit log",
                               [](const Statement& row) -> Result<AuditEntry> { return read_audit_entry(row); });
}

// ---- CrlRepository ----

Result<std::vector<RevokedEntry>> Database::revoked_entries(std::int64_t issuer_id,
                                                            std::optional<TimePoint> not_expired_at) {
  auto reading = read_access();
  return reading.impl->revoked_entries(issuer_id, not_expired_at);
}

Result<void> Database::store_crl(const CrlRecord& crl, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->store_crl(crl, audit);
}

Result<std::int64_t> Database::reserve_crl_number(std::int64_t issuer_id) {
  std::lock_guard lock(mutex_);
  return impl_->reserve_crl_number(issuer_id);
}

Result<DeltaSnapshot> Database::delta_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at,
                                               TimePoint released_at) {
  std::lock_guard lock(mutex_);
  return impl_->delta_snapshot(issuer_id, not_expired_at, released_at);
}

Result<CrlRecord> Database::latest_crl_header(std::int64_t issuer_id) {
  auto reading = read_access();
  // The DER column read as an empty blob: the same row reader, none of the megabytes.
  auto select = reading.impl->prepare(
      "SELECT issuer_id, number, this_update, next_update, entries, x'', revocation_revision, base_number FROM crls "
      "WHERE issuer_id = ?1 AND base_number IS NULL ORDER BY number DESC LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, issuer_id);
  return query_one<CrlRecord>(*select, "reading the latest CRL", read_crl,
                              "no CRL has been made for CA id " + std::to_string(issuer_id) + " yet");
}

Result<CrlRecord> Database::latest_delta_crl(std::int64_t issuer_id) {
  auto reading = read_access();
  auto select = reading.impl->prepare(
      sql("SELECT ", kCrlColumns, " FROM crls WHERE issuer_id = ?1 AND base_number IS NOT NULL ORDER BY number DESC LIMIT 1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, issuer_id);
  return query_one<CrlRecord>(*select, "reading the latest delta CRL", read_crl,
                              "no delta CRL has been made for CA id " + std::to_string(issuer_id) + " yet");
}

Result<CrlRecord> Database::latest_crl(std::int64_t issuer_id) {
  auto reading = read_access();
  auto select = reading.impl->prepare(
      sql("SELECT ", kCrlColumns, " FROM crls WHERE issuer_id = ?1 AND base_number IS NULL ORDER BY number DESC LIMIT 1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, issuer_id);
  return query_one<CrlRecord>(*select, "reading the latest CRL", read_crl,
                              "no CRL has been made for CA id " + std::to_string(issuer_id) + " yet");
}

Result<CrlSnapshot> Database::crl_snapshot(std::int64_t issuer_id, std::optional<TimePoint> not_expired_at) {
  // At 10^5 entries and more this read takes a while: it runs on a connection of its own (WAL: a
  // snapshot of its own too), never under the read mutex every other read of this process waits on.
  std::optional<ReadAccess> shared;
  std::unique_ptr<Impl> own;
  Impl* reader = nullptr;
  if (reader_) {
    auto connection = sqlite::open_connection(file_, /*create=*/false);
    if (!connection) return std::unexpected(connection.error());
    sqlite3_busy_timeout(connection->get(), kBusyTimeoutMs);
    if (auto read_only = sqlite::execute_script(connection->get(), "PRAGMA query_only = ON", "opening a CRL read connection");
        !read_only) {
      return std::unexpected(read_only.error());
    }
    own = std::make_unique<Impl>(connection->release());
    reader = own.get();
  } else {
    shared.emplace(read_access());
    reader = shared->impl;
  }
  struct {
    Impl* impl;
  } reading{reader};
  // A deferred transaction's snapshot starts at its first read: the entries. Whatever another process
  // commits after that (a revocation, the CRL it made for it) is invisible to the two reads below, so
  // the number chosen from this snapshot collides with that CRL's and store_crl refuses it.
  return reading.impl->read_transaction("reading a CRL snapshot", [&]() -> Result<CrlSnapshot> {
    CrlSnapshot snapshot;
    auto entries = reading.impl->revoked_entries(issuer_id, not_expired_at);
    if (!entries) return std::unexpected(entries.error());
    snapshot.entries = std::move(*entries);
    if (crl_snapshot_hook_) crl_snapshot_hook_();
    auto number = reading.impl->latest_crl_number(issuer_id);
    if (!number) return std::unexpected(number.error());
    snapshot.latest_number = *number;
    auto revision = reading.impl->revocation_revision(issuer_id);
    if (!revision) return std::unexpected(revision.error());
    snapshot.revocation_revision = *revision;
    return snapshot;
  });
}

Result<std::int64_t> Database::revocation_revision(std::int64_t issuer_id) {
  auto reading = read_access();
  return reading.impl->revocation_revision(issuer_id);
}

Result<std::string> Database::revoked_entries_query_plan(bool not_expired_filter) {
  auto reading = read_access();
  auto explain = reading.impl->prepare(std::string("EXPLAIN QUERY PLAN ") + revoked_entries_query(not_expired_filter));
  if (!explain) return std::unexpected(explain.error());
  std::string plan;
  for (;;) {
    auto row = explain->step("explaining the revoked-entries query");
    if (!row) return std::unexpected(row.error());
    if (!*row) return plan;
    if (!plan.empty()) plan += '\n';
    plan += explain->column_text(3);  // columns: id, parent, notused, detail
  }
}

// ---- OcspSignerRepository ----

Result<OcspSignerRecord> Database::current_ocsp_signer(std::int64_t issuer_id) {
  auto reading = read_access();
  auto select = reading.impl->prepare(
      sql("SELECT ", kOcspSignerColumns, " FROM ocsp_signers WHERE issuer_id = ?1 ORDER BY id DESC LIMIT 1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, issuer_id);
  return query_one<OcspSignerRecord>(*select, "reading the current OCSP signer", read_ocsp_signer,
                                     "no OCSP signer has been stored for CA id " + std::to_string(issuer_id));
}

Result<void> Database::store_ocsp_signer(const OcspSignerRecord& signer, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->store_ocsp_signer(signer, audit);
}

// ---- EnrollmentRepository ----

Result<std::int64_t> Database::insert_enrollment(const EnrollmentRecord& enrollment, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->insert_enrollment(enrollment, audit);
}

Result<EnrollmentRecord> Database::find_enrollment(std::int64_t id) {
  auto reading = read_access();
  return reading.impl->find_enrollment(id);
}

Result<std::vector<EnrollmentRecord>> Database::list_enrollments(const EnrollmentFilter& filter) {
  auto reading = read_access();
  return reading.impl->list_enrollments(filter);
}

Result<EnrollmentRecord> Database::change_enrollment(std::int64_t id, const EnrollmentChange& change,
                                                     const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->change_enrollment(id, change, audit);
}

// ---- REST API: tokens, idempotency keys, statistics ----

namespace {

constexpr const char* kApiTokenColumns =
    "id, name, secret_sha256, roles, cas, profiles, created_by, created_at, expires_at, revoked_at, last_used_at";

std::string json_list(const std::vector<std::string>& items) { return nlohmann::json(items).dump(); }

Result<std::vector<std::string>> parse_json_list(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array()) return fail(Errc::storage, "corrupt api_tokens row: bad list");
  std::vector<std::string> out;
  for (const auto& item : parsed) {
    if (!item.is_string()) return fail(Errc::storage, "corrupt api_tokens row: bad list item");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<ApiTokenRecord> read_api_token(const Statement& row) {
  ApiTokenRecord token;
  token.id = row.column_int(0);
  token.name = row.column_text(1);
  token.secret_sha256 = row.column_text(2);
  auto roles = parse_json_list(row.column_text(3));
  if (!roles) return std::unexpected(roles.error());
  token.roles = std::move(*roles);
  for (auto [column, target] : {std::pair{4, &token.cas}, std::pair{5, &token.profiles}}) {
    if (auto text = row.column_optional_text(column)) {
      auto list = parse_json_list(*text);
      if (!list) return std::unexpected(list.error());
      *target = std::move(*list);
    }
  }
  token.created_by = row.column_text(6);
  token.created_at = from_unix(row.column_int(7));
  token.expires_at = optional_time(row.column_optional_int(8));
  token.revoked_at = optional_time(row.column_optional_int(9));
  token.last_used_at = optional_time(row.column_optional_int(10));
  return token;
}

std::optional<std::string> optional_json_list(const std::optional<std::vector<std::string>>& items) {
  if (!items) return std::nullopt;
  return json_list(*items);
}

}  // namespace

Result<std::int64_t> Database::insert_token(const ApiTokenRecord& t, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("storing an API token", [&]() -> Result<std::int64_t> {
    auto insert = impl_->prepare(
        "INSERT INTO api_tokens (name, secret_sha256, roles, cas, profiles, created_by, created_at, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert) return std::unexpected(insert.error());
    const auto roles = json_list(t.roles);
    insert->bind(1, std::string_view(t.name))
        .bind(2, std::string_view(t.secret_sha256))
        .bind(3, std::string_view(roles))
        .bind(4, optional_json_list(t.cas))
        .bind(5, optional_json_list(t.profiles))
        .bind(6, std::string_view(t.created_by))
        .bind(7, to_unix(t.created_at))
        .bind(8, optional_unix(t.expires_at));
    if (auto inserted = insert->run("inserting an API token"); !inserted) {
      if (insert->extended_error_code() == SQLITE_CONSTRAINT_UNIQUE) {
        return fail(Errc::conflict, "an unrevoked API token named '" + t.name + "' exists already");
      }
      return std::unexpected(inserted.error());
    }
    const std::int64_t id = sqlite3_last_insert_rowid(impl_->db());
    if (auto logged = impl_->append_audit(audit); !logged) return std::unexpected(logged.error());
    return id;
  });
}

Result<std::vector<ApiTokenRecord>> Database::list_tokens() {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kApiTokenColumns, " FROM api_tokens ORDER BY id"));
  if (!select) return std::unexpected(select.error());
  return query_all<ApiTokenRecord>(*select, "listing API tokens", read_api_token);
}

Result<ApiTokenRecord> Database::find_token(std::int64_t id) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kApiTokenColumns, " FROM api_tokens WHERE id = ?1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return query_one<ApiTokenRecord>(*select, "looking up an API token", read_api_token,
                                   "no API token " + std::to_string(id));
}

Result<ApiTokenRecord> Database::find_token_by_hash(std::string_view secret_sha256) {
  auto reading = read_access();
  auto select = reading.impl->prepare(sql("SELECT ", kApiTokenColumns, " FROM api_tokens WHERE secret_sha256 = ?1"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, secret_sha256);
  return query_one<ApiTokenRecord>(*select, "looking up an API token", read_api_token, "no such API token");
}

Result<ApiTokenRecord> Database::revoke_token(std::int64_t id, TimePoint at, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("revoking an API token", [&]() -> Result<ApiTokenRecord> {
    auto update = impl_->prepare("UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL");
    if (!update) return std::unexpected(update.error());
    update->bind(1, to_unix(at)).bind(2, id);
    if (auto updated = update->run("revoking an API token"); !updated) return std::unexpected(updated.error());
    if (sqlite3_changes(impl_->db()) != 1) {
      auto select = impl_->prepare("SELECT 1 FROM api_tokens WHERE id = ?1");
      if (!select) return std::unexpected(select.error());
      select->bind(1, id);
      auto exists = select->step("looking up an API token");
      if (!exists) return std::unexpected(exists.error());
      if (!*exists) return fail(Errc::not_found, "no API token " + std::to_string(id));
      return fail(Errc::conflict, "API token " + std::to_string(id) + " is revoked already");
    }
    if (auto logged = impl_->append_audit(audit); !logged) return std::unexpected(logged.error());
    auto select = impl_->prepare(sql("SELECT ", kApiTokenColumns, " FROM api_tokens WHERE id = ?1"));
    if (!select) return std::unexpected(select.error());
    select->bind(1, id);
    return query_one<ApiTokenRecord>(*select, "reading a revoked API token", read_api_token,
                                     "no API token " + std::to_string(id));
  });
}

Result<void> Database::touch_token(std::int64_t id, TimePoint at) {
  std::lock_guard lock(mutex_);
  // Last use is bookkeeping, not a state change: no audit entry (one per request would drown the log).
  auto update = impl_->prepare("UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2");
  if (!update) return std::unexpected(update.error());
  update->bind(1, to_unix(at)).bind(2, id);
  return update->run("recording an API token's use");
}

Result<std::optional<IdempotencyRecord>> Database::claim_idempotency_key(const IdempotencyRecord& claim) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("claiming an idempotency key", [&]() -> Result<std::optional<IdempotencyRecord>> {
    // Keys live a day (a retry comes within seconds or minutes); a claim left by a process that died
    // mid-request goes with them.
    auto expire = impl_->prepare("DELETE FROM api_idempotency WHERE created_at < ?1");
    if (!expire) return std::unexpected(expire.error());
    expire->bind(1, to_unix(claim.created_at) - kIdempotencyKeySeconds);
    if (auto expired = expire->run("expiring idempotency keys"); !expired) return std::unexpected(expired.error());
    auto select = impl_->prepare(
        "SELECT request_sha256, completed, status, body, location, created_at FROM api_idempotency "
        "WHERE actor = ?1 AND key = ?2");
    if (!select) return std::unexpected(select.error());
    select->bind(1, std::string_view(claim.actor)).bind(2, std::string_view(claim.key));
    auto found = select->step("looking up an idempotency key");
    if (!found) return std::unexpected(found.error());
    if (*found) {
      IdempotencyRecord existing{claim.actor, claim.key, select->column_text(0), select->column_int(1) != 0,
                                 static_cast<int>(select->column_int(2)), select->column_text(3), select->column_text(4),
                                 from_unix(select->column_int(5))};
      return std::optional<IdempotencyRecord>(std::move(existing));
    }
    auto insert = impl_->prepare(
        "INSERT INTO api_idempotency (actor, key, request_sha256, created_at) VALUES (?1, ?2, ?3, ?4)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, std::string_view(claim.actor))
        .bind(2, std::string_view(claim.key))
        .bind(3, std::string_view(claim.request_sha256))
        .bind(4, to_unix(claim.created_at));
    if (auto inserted = insert->run("claiming an idempotency key"); !inserted) return std::unexpected(inserted.error());
    return std::optional<IdempotencyRecord>();
  });
}

Result<void> Database::complete_idempotency_key(const IdempotencyRecord& done) {
  std::lock_guard lock(mutex_);
  auto update = impl_->prepare(
      "UPDATE api_idempotency SET completed = 1, status = ?1, body = ?2, location = ?3 WHERE actor = ?4 AND key = ?5");
  if (!update) return std::unexpected(update.error());
  update->bind(1, static_cast<std::int64_t>(done.status))
      .bind(2, std::string_view(done.body))
      .bind(3, std::string_view(done.location))
      .bind(4, std::string_view(done.actor))
      .bind(5, std::string_view(done.key));
  return update->run("completing an idempotency key");
}

Result<void> Database::release_idempotency_key(std::string_view actor, std::string_view key) {
  std::lock_guard lock(mutex_);
  auto remove = impl_->prepare("DELETE FROM api_idempotency WHERE actor = ?1 AND key = ?2 AND completed = 0");
  if (!remove) return std::unexpected(remove.error());
  remove->bind(1, actor).bind(2, key);
  return remove->run("releasing an idempotency key");
}

Result<std::vector<CertificateCount>> Database::certificate_counts() {
  auto reading = read_access();
  auto select = reading.impl->prepare("SELECT issuer_id, status, count(*) FROM certificates GROUP BY issuer_id, status");
  if (!select) return std::unexpected(select.error());
  return query_all<CertificateCount>(*select, "counting certificates", [](const Statement& row) -> Result<CertificateCount> {
    auto status = parse_certificate_status(row.column_text(1));
    if (!status) return std::unexpected(status.error());
    return CertificateCount{row.column_int(0), *status, row.column_int(2)};
  });
}

Result<std::optional<TimePoint>> Database::soonest_certificate_expiry(TimePoint now) {
  auto reading = read_access();
  auto select = reading.impl->prepare("SELECT min(not_after) FROM certificates WHERE status = 'valid' AND not_after >= ?1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, to_unix(now));
  auto row = select->step("finding the soonest expiry");
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<TimePoint>();
  return optional_time(select->column_optional_int(0));
}

Result<void> Database::check_writable() {
  std::lock_guard lock(mutex_);
  if (auto begun = sqlite::execute_script(impl_->db(), "BEGIN IMMEDIATE", "checking the database is writable"); !begun) {
    return begun;
  }
  impl_->rollback();
  return {};
}

// ---- InstanceMarks ----

Result<bool> Database::is_lab_instance() {
  std::lock_guard lock(mutex_);
  return impl_->is_lab_instance();
}

Result<void> Database::mark_lab_instance(const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->mark_lab_instance(audit);
}

// ---- for repositories in files of their own ----

Result<std::int64_t> Database::audited_write(std::string_view what, const AuditEvent& audit,
                                             const std::function<Result<std::int64_t>(sqlite3*)>& body) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction(what, [&]() -> Result<std::int64_t> {
    auto result = body(impl_->db());
    if (!result) return result;
    if (auto logged = impl_->append_audit(audit); !logged) return std::unexpected(logged.error());
    return result;
  });
}

Result<void> Database::read_connection(const std::function<Result<void>(sqlite3*)>& body) {
  std::lock_guard lock(mutex_);
  return body(impl_->db());
}

// ---- EST enrolment credentials (HTTP Basic labels) ----

namespace {

constexpr const char* kEstCredentialColumns =
    "id, label, username, secret_hash, one_time, created_by, created_at, expires_at, spent_at, revoked_at, last_used_at";

Result<EstCredentialRecord> read_est_credential(const Statement& row) {
  EstCredentialRecord c;
  c.id = row.column_int(0);
  c.label = row.column_text(1);
  c.username = row.column_text(2);
  c.secret_hash = row.column_text(3);
  c.one_time = row.column_int(4) != 0;
  c.created_by = row.column_text(5);
  c.created_at = from_unix(row.column_int(6));
  c.expires_at = optional_time(row.column_optional_int(7));
  c.spent_at = optional_time(row.column_optional_int(8));
  c.revoked_at = optional_time(row.column_optional_int(9));
  c.last_used_at = optional_time(row.column_optional_int(10));
  return c;
}

}  // namespace

Result<std::int64_t> Database::insert_est_credential(const EstCredentialRecord& c, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("storing an EST credential", [&]() -> Result<std::int64_t> {
    auto insert = impl_->prepare(
        "INSERT INTO est_credentials (label, username, secret_hash, one_time, created_by, created_at, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, std::string_view(c.label))
        .bind(2, std::string_view(c.username))
        .bind(3, std::string_view(c.secret_hash))
        .bind(4, std::int64_t{c.one_time ? 1 : 0})
        .bind(5, std::string_view(c.created_by))
        .bind(6, to_unix(c.created_at))
        .bind(7, optional_unix(c.expires_at));
    if (auto inserted = insert->run("inserting an EST credential"); !inserted) {
      if (insert->extended_error_code() == SQLITE_CONSTRAINT_UNIQUE) {
        return fail(Errc::conflict, "label '" + c.label + "' has a usable credential for '" + c.username + "' already");
      }
      return std::unexpected(inserted.error());
    }
    const std::int64_t id = sqlite3_last_insert_rowid(impl_->db());
    if (auto logged = impl_->append_audit(audit); !logged) return std::unexpected(logged.error());
    return id;
  });
}

Result<std::vector<EstCredentialRecord>> Database::list_est_credentials(std::optional<std::string_view> label) {
  std::lock_guard lock(mutex_);
  auto select = impl_->prepare(sql("SELECT ", kEstCredentialColumns, " FROM est_credentials WHERE ?1 IS NULL OR label = ?1 ORDER BY id"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, label ? std::optional<std::string>(std::string(*label)) : std::nullopt);
  return query_all<EstCredentialRecord>(*select, "listing EST credentials", read_est_credential);
}

Result<EstCredentialRecord> Database::find_usable_est_credential(std::string_view label, std::string_view username) {
  std::lock_guard lock(mutex_);
  auto select = impl_->prepare(sql("SELECT ", kEstCredentialColumns,
                                   " FROM est_credentials WHERE label = ?1 AND username = ?2 AND revoked_at IS NULL AND spent_at IS NULL"));
  if (!select) return std::unexpected(select.error());
  select->bind(1, label).bind(2, username);
  return query_one<EstCredentialRecord>(*select, "looking up an EST credential", read_est_credential, "no such EST credential");
}

Result<EstCredentialRecord> Database::revoke_est_credential(std::int64_t id, TimePoint at, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("revoking an EST credential", [&]() -> Result<EstCredentialRecord> {
    auto update = impl_->prepare(
        "UPDATE est_credentials SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL AND spent_at IS NULL");
    if (!update) return std::unexpected(update.error());
    update->bind(1, to_unix(at)).bind(2, id);
    if (auto updated = update->run("revoking an EST credential"); !updated) return std::unexpected(updated.error());
    const bool changed = sqlite3_changes(impl_->db()) == 1;
    auto select = impl_->prepare(sql("SELECT ", kEstCredentialColumns, " FROM est_credentials WHERE id = ?1"));
    if (!select) return std::unexpected(select.error());
    select->bind(1, id);
    auto record = query_one<EstCredentialRecord>(*select, "reading an EST credential", read_est_credential,
                                                 "no EST credential " + std::to_string(id));
    if (!record) return record;
    if (!changed) return fail(Errc::conflict, "EST credential " + std::to_string(id) + " is revoked or spent already");
    if (auto logged = impl_->append_audit(audit); !logged) return std::unexpected(logged.error());
    return record;
  });
}

Result<void> Database::use_est_credential(std::int64_t id, bool one_time, TimePoint at, const AuditEvent& audit) {
  std::lock_guard lock(mutex_);
  return impl_->write_transaction("recording an EST credential's use", [&]() -> Result<void> {
    // The WHERE clause makes spending atomic: of two requests with one one-time secret, one wins.
    auto update = impl_->prepare(one_time ? "UPDATE est_credentials SET spent_at = ?1, last_used_at = ?1 "
                                            "WHERE id = ?2 AND spent_at IS NULL AND revoked_at IS NULL"
                                          : "UPDATE est_credentials SET last_used_at = ?1 WHERE id = ?2 AND revoked_at IS NULL");
    if (!update) return std::unexpected(update.error());
    update->bind(1, to_unix(at)).bind(2, id);
    if (auto updated = update->run("recording an EST credential's use"); !updated) return updated;
    if (sqlite3_changes(impl_->db()) != 1) return fail(Errc::conflict, "EST credential " + std::to_string(id) + " is no longer usable");
    return impl_->append_audit(audit);
  });
}

}  // namespace fca::db
