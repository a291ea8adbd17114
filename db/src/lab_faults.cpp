// LabFaultRepository on Database (written through its connection, audited in the same transaction)
// and the read-only SqliteLabFaultSource `serve` consults per request.
#include "fca/db/lab_faults.hpp"

#include "fca/db/database.hpp"
#include "sqlite.hpp"

namespace fca::db {
namespace {

constexpr const char* kColumns = "id, kind, mode, issuer_id, serial, delay_ms, created_by, created_at, expires_at_ms";

std::int64_t to_unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint from_unix_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

Result<sqlite::Statement> prepare(sqlite3* connection, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(connection, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return sqlite::storage_error(connection, "cannot prepare " + sql);
  }
  return sqlite::Statement(connection, sqlite::StatementPtr(raw));
}

Result<LabFault> read_fault(const sqlite::Statement& row) {
  LabFault fault;
  fault.id = row.column_int(0);
  const auto kind = row.column_text(1);
  if (kind != "ocsp" && kind != "crl") return fail(Errc::storage, "corrupt lab_faults row: kind '" + kind + "'");
  fault.kind = kind == "ocsp" ? LabFaultKind::ocsp : LabFaultKind::crl;
  fault.mode = row.column_text(2);
  if (!is_lab_fault_mode(fault.kind, fault.mode)) return fail(Errc::storage, "corrupt lab_faults row: mode '" + fault.mode + "'");
  fault.issuer_id = row.column_optional_int(3);
  fault.serial = row.column_optional_text(4);
  fault.delay_ms = row.column_int(5);
  fault.created_by = row.column_text(6);
  fault.created_at = from_unix(row.column_int(7));
  fault.expires_at = from_unix_ms(row.column_int(8));
  return fault;
}

Result<std::vector<LabFault>> read_all(sqlite3* connection, const std::string& sql) {
  auto select = prepare(connection, sql);
  if (!select) return std::unexpected(select.error());
  std::vector<LabFault> faults;
  for (;;) {
    auto row = select->step("reading lab faults");
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    auto fault = read_fault(*select);
    if (!fault) return std::unexpected(fault.error());
    faults.push_back(std::move(*fault));
  }
  return faults;
}

}  // namespace

// ---- the write side, on Database's connection ----

Result<std::int64_t> Database::insert_lab_fault(const LabFault& fault, const AuditEvent& audit) {
  return audited_write("storing a lab fault", audit, [&](sqlite3* connection) -> Result<std::int64_t> {
    auto insert = prepare(connection,
                          "INSERT INTO lab_faults (kind, mode, issuer_id, serial, delay_ms, created_by, created_at, "
                          "expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, std::string_view(to_string(fault.kind)))
        .bind(2, std::string_view(fault.mode))
        .bind(3, fault.issuer_id)
        .bind(4, fault.serial)
        .bind(5, fault.delay_ms)
        .bind(6, std::string_view(fault.created_by))
        .bind(7, to_unix(fault.created_at))
        .bind(8, to_unix_ms(fault.expires_at));
    if (auto inserted = insert->run("inserting a lab fault"); !inserted) {
      if (insert->extended_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return fail(Errc::not_found, "no such CA");
      return std::unexpected(inserted.error());
    }
    return sqlite3_last_insert_rowid(connection);
  });
}

Result<std::vector<LabFault>> Database::list_lab_faults() {
  std::vector<LabFault> out;
  auto read = read_connection([&](sqlite3* connection) -> Result<void> {
    auto faults = read_all(connection, std::string("SELECT ") + kColumns + " FROM lab_faults ORDER BY id");
    if (!faults) return std::unexpected(faults.error());
    out = std::move(*faults);
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<std::int64_t> Database::delete_lab_faults(std::optional<std::int64_t> id, const AuditEvent& audit) {
  return audited_write("clearing lab faults", audit, [&](sqlite3* connection) -> Result<std::int64_t> {
    auto remove = prepare(connection, id ? "DELETE FROM lab_faults WHERE id = ?1" : "DELETE FROM lab_faults");
    if (!remove) return std::unexpected(remove.error());
    if (id) remove->bind(1, *id);
    if (auto removed = remove->run("deleting lab faults"); !removed) return std::unexpected(removed.error());
    const std::int64_t count = sqlite3_changes(connection);
    if (id && count == 0) return fail(Errc::not_found, "no lab fault " + std::to_string(*id));
    return count;
  });
}

// ---- the read side, for serve ----

struct SqliteLabFaultSource::Reader {
  sqlite::ConnectionPtr connection;
  std::int64_t seen_data_version = -1;
  std::vector<LabFault> faults;  // every row, as of seen_data_version
};

SqliteLabFaultSource::SqliteLabFaultSource(std::unique_ptr<Reader> reader) : reader_(std::move(reader)) {}
SqliteLabFaultSource::~SqliteLabFaultSource() = default;

Result<std::shared_ptr<SqliteLabFaultSource>> SqliteLabFaultSource::open(const std::filesystem::path& file) {
  auto reader = std::make_unique<Reader>();
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  reader->connection.reset(raw);
  if (rc != SQLITE_OK) return sqlite::storage_error(raw, "cannot open database " + file.string() + " for lab faults");
  sqlite3_busy_timeout(raw, 1000);
  std::shared_ptr<SqliteLabFaultSource> source(new SqliteLabFaultSource(std::move(reader)));
  // Read once now, so a missing table is reported at start-up rather than per request.
  if (auto first = source->active_faults(TimePoint{}); !first) return std::unexpected(first.error());
  return source;
}

Result<std::vector<LabFault>> SqliteLabFaultSource::active_faults(TimePoint now) {
  std::lock_guard lock(mutex_);
  sqlite3* connection = reader_->connection.get();
  auto version = prepare(connection, "PRAGMA data_version");
  if (!version) return std::unexpected(version.error());
  auto row = version->step("reading the data version");
  if (!row) return std::unexpected(row.error());
  const std::int64_t data_version = version->column_int(0);
  if (data_version != reader_->seen_data_version) {
    auto faults = read_all(connection, std::string("SELECT ") + kColumns + " FROM lab_faults ORDER BY id");
    if (!faults) return std::unexpected(faults.error());
    reader_->faults = std::move(*faults);
    reader_->seen_data_version = data_version;
  }
  std::vector<LabFault> active;
  for (const auto& fault : reader_->faults) {
    if (fault.active_at(now)) active.push_back(fault);
  }
  return active;
}

}  // namespace fca::db
