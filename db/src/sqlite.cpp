#include "sqlite.hpp"

#include <limits>

namespace fca::db::sqlite {

std::unexpected<Error> storage_error(sqlite3* connection, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += connection ? sqlite3_errmsg(connection) : "out of memory";
  return fail(Errc::storage, std::move(message));
}

Result<ConnectionPtr> open_connection(const std::string& file, bool create) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the owner serialises every use, so SQLite's own per-call mutex would be redundant.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  // SQLite hands back a handle even when opening fails; it must still be closed.
  ConnectionPtr connection(raw);
  if (rc != SQLITE_OK) return storage_error(connection.get(), "cannot open database " + file);
  return connection;
}

Result<void> execute_script(sqlite3* connection, const char* sql, std::string_view what) {
  char* raw_message = nullptr;
  const int rc = sqlite3_exec(connection, sql, nullptr, nullptr, &raw_message);
  std::unique_ptr<char, decltype([](char* p) { sqlite3_free(p); })> message(raw_message);
  if (rc != SQLITE_OK) {
    return fail(Errc::storage, std::string(what) + ": " + (message ? message.get() : sqlite3_errstr(rc)));
  }
  return {};
}

Statement::~Statement() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  if (borrowed_flag_) *borrowed_flag_ = false;
}

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(statement_, index, value);
  if (bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies, so a temporary string may be bound.
  const int rc = sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> value) {
  // A zero-length blob must still be a blob, not NULL: zeroblob keeps the NOT NULL constraint honest.
  const int rc = value.empty() ? sqlite3_bind_zeroblob(statement_, index, 0)
                               : sqlite3_bind_blob64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT);
  if (bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(statement_, index);
  if (bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::step(std::string_view what) {
  if (bind_error_ != SQLITE_OK) {
    return fail(Errc::storage, std::string(what) + ": binding a parameter failed: " + sqlite3_errstr(bind_error_));
  }
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return storage_error(connection_, what);
}

Result<void> Statement::run(std::string_view what) {
  for (;;) {
    auto row = step(what);
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

std::optional<std::int64_t> Statement::column_optional_int(int column) const {
  if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(statement_, column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
  return column_text(column);
}

std::vector<std::uint8_t> Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement_, column));
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement_, column));
  if (data == nullptr) return {};
  return std::vector<std::uint8_t>(data, data + size);
}

Result<Statement> StatementCache::prepare(const std::string& sql) {
  auto found = statements_.find(sql);
  if (found != statements_.end() && !found->second.in_use) {
    found->second.in_use = true;
    return Statement(connection_, found->second.statement.get(), &found->second.in_use);
  }
  sqlite3_stmt* raw = nullptr;
  const unsigned flags = found == statements_.end() ? SQLITE_PREPARE_PERSISTENT : 0;
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return fail(Errc::internal, "SQL statement too long");
  }
  const int rc = sqlite3_prepare_v3(connection_, sql.c_str(), static_cast<int>(sql.size()) + 1, flags, &raw, nullptr);
  StatementPtr statement(raw);
  if (rc != SQLITE_OK) return storage_error(connection_, "preparing a statement");
  if (found != statements_.end()) return Statement(connection_, std::move(statement));
  auto [inserted, _] = statements_.emplace(sql, Entry{std::move(statement), true});
  return Statement(connection_, inserted->second.statement.get(), &inserted->second.in_use);
}

}  // namespace fca::db::sqlite
