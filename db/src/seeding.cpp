// Benchmark fixtures (bench/seed_certificates): many certificate rows, and many status changes, per
// write transaction with one prepared statement each. Not used by issuance or revocation.
#include <nlohmann/json.hpp>

#include "fca/db/database.hpp"
#include "sqlite.hpp"

namespace fca::db {
namespace {

Result<sqlite::StatementPtr> prepare(sqlite3* connection, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(connection, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return sqlite::storage_error(connection, std::string("cannot prepare ") + sql);
  }
  return sqlite::StatementPtr(raw);
}

void bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void bind_optional_time(sqlite3_stmt* statement, int index, const std::optional<TimePoint>& at) {
  if (at) {
    sqlite3_bind_int64(statement, index, to_unix(*at));
  } else {
    sqlite3_bind_null(statement, index);
  }
}

// A page cache big enough for the certificate indexes of a million rows while the batch runs (the
// connection's default of 2 MB makes every insert of a random serial a page read), restored after.
class LargeCache {
 public:
  explicit LargeCache(sqlite3* connection) : connection_(connection) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(connection, "PRAGMA cache_size", -1, &raw, nullptr) == SQLITE_OK) {
      sqlite::StatementPtr statement(raw);
      if (sqlite3_step(raw) == SQLITE_ROW) previous_ = sqlite3_column_int64(raw, 0);
    }
    sqlite3_exec(connection, "PRAGMA cache_size = -262144", nullptr, nullptr, nullptr);
  }
  ~LargeCache() {
    const auto restore = "PRAGMA cache_size = " + std::to_string(previous_);
    sqlite3_exec(connection_, restore.c_str(), nullptr, nullptr, nullptr);
  }
  LargeCache(const LargeCache&) = delete;
  LargeCache& operator=(const LargeCache&) = delete;

 private:
  sqlite3* connection_;
  std::int64_t previous_ = -2000;
};

}  // namespace

Result<std::int64_t> Database::seed_certificates(std::span<const CertificateRecord> certificates,
                                                 const AuditEvent& audit) {
  return audited_write("seeding certificates", audit, [&](sqlite3* connection) -> Result<std::int64_t> {
    const LargeCache cache(connection);
    // The statement and the SANs encoding of insert_certificate_rows (database.cpp).
    auto insert = prepare(connection,
                          "INSERT INTO certificates (issuer_id, serial, subject, common_name, sans, profile, key_type, "
                          "not_before, not_after, status, revoked_at, revocation_reason, invalidity_date, der, "
                          "fingerprint_sha256, requester, renewal_of, issued_at, lab_made) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)");
    if (!insert) return std::unexpected(insert.error());
    sqlite3_stmt* statement = insert->get();
    for (const auto& cert : certificates) {
      std::string sans;
      try {
        sans = nlohmann::json(cert.sans).dump();
      } catch (const nlohmann::json::exception&) {
        return fail(Errc::invalid_input, "subject alternative names must be valid UTF-8");
      }
      const std::string_view status = to_string(cert.status);
      sqlite3_bind_int64(statement, 1, cert.issuer_id);
      bind_text(statement, 2, cert.serial);
      bind_text(statement, 3, cert.subject);
      bind_text(statement, 4, cert.common_name);
      bind_text(statement, 5, sans);
      bind_text(statement, 6, cert.profile);
      bind_text(statement, 7, cert.key_type);
      sqlite3_bind_int64(statement, 8, to_unix(cert.not_before));
      sqlite3_bind_int64(statement, 9, to_unix(cert.not_after));
      bind_text(statement, 10, status);
      bind_optional_time(statement, 11, cert.revoked_at);
      if (cert.revocation_reason) {
        sqlite3_bind_int64(statement, 12, static_cast<std::int64_t>(*cert.revocation_reason));
      } else {
        sqlite3_bind_null(statement, 12);
      }
      bind_optional_time(statement, 13, cert.invalidity_date);
      sqlite3_bind_blob64(statement, 14, cert.der.data(), cert.der.size(), SQLITE_STATIC);
      bind_text(statement, 15, cert.fingerprint_sha256);
      bind_text(statement, 16, cert.requester);
      if (cert.renewal_of) {
        bind_text(statement, 17, *cert.renewal_of);
      } else {
        sqlite3_bind_null(statement, 17);
      }
      sqlite3_bind_int64(statement, 18, to_unix(cert.issued_at));
      sqlite3_bind_int64(statement, 19, cert.lab_made ? 1 : 0);
      const int rc = sqlite3_step(statement);
      const int extended = sqlite3_extended_errcode(connection);
      sqlite3_reset(statement);
      if (rc != SQLITE_DONE) {
        if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return fail(Errc::conflict, "serial " + cert.serial + " exists already for CA id " + std::to_string(cert.issuer_id));
        }
        return sqlite::storage_error(connection, "seeding certificate " + cert.serial);
      }
    }
    return static_cast<std::int64_t>(certificates.size());
  });
}

Result<std::int64_t> Database::seed_status_changes(std::int64_t issuer_id, std::span<const std::string> serials,
                                                   const StatusChange& change, const AuditEvent& audit) {
  const bool clears = change.next == CertificateStatus::valid;
  if (!clears && !change.revoked_at) {
    return fail(Errc::invalid_input, std::string("a change to ") + to_string(change.next) + " needs a revocation time");
  }
  return audited_write("seeding status changes", audit, [&](sqlite3* connection) -> Result<std::int64_t> {
    const LargeCache cache(connection);
    // change_status's UPDATE (database.cpp), by serial: the revision triggers fire for each row.
    auto update = prepare(connection,
                          "UPDATE certificates SET status = ?1, revoked_at = ?2, revocation_reason = ?3, "
                          "invalidity_date = ?4 WHERE issuer_id = ?5 AND serial = ?6 AND status = ?7");
    if (!update) return std::unexpected(update.error());
    sqlite3_stmt* statement = update->get();
    bind_text(statement, 1, to_string(change.next));
    bind_optional_time(statement, 2, clears ? std::nullopt : change.revoked_at);
    if (!clears && change.reason) {
      sqlite3_bind_int64(statement, 3, static_cast<std::int64_t>(*change.reason));
    } else {
      sqlite3_bind_null(statement, 3);
    }
    bind_optional_time(statement, 4, clears ? std::nullopt : change.invalidity_date);
    sqlite3_bind_int64(statement, 5, issuer_id);
    bind_text(statement, 7, to_string(change.expected));
    for (const auto& serial : serials) {
      bind_text(statement, 6, serial);
      const int rc = sqlite3_step(statement);
      sqlite3_reset(statement);
      if (rc != SQLITE_DONE) return sqlite::storage_error(connection, "changing the status of " + serial);
      if (sqlite3_changes(connection) != 1) {
        return fail(Errc::conflict, "certificate " + serial + " of CA id " + std::to_string(issuer_id) + " is not " +
                                        to_string(change.expected));
      }
    }
    return static_cast<std::int64_t>(serials.size());
  });
}

}  // namespace fca::db
