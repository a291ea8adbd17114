#pragma once
// Thin RAII over the sqlite3 C API: owning handles, a statement cache, bound parameters only.
// Nothing here is thread-safe; Database serialises every call with its mutex.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fca/core/error.hpp"

namespace fca::db::sqlite {

struct ConnectionCloser {
  void operator()(sqlite3* connection) const noexcept { sqlite3_close_v2(connection); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
struct BackupFinisher {
  void operator()(sqlite3_backup* backup) const noexcept { sqlite3_backup_finish(backup); }
};
using ConnectionPtr = std::unique_ptr<sqlite3, ConnectionCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;
using BackupPtr = std::unique_ptr<sqlite3_backup, BackupFinisher>;

// Errc::storage, "<what>: <sqlite3_errmsg>".
std::unexpected<Error> storage_error(sqlite3* connection, std::string_view what);

// Opens (or creates) a database file with extended result codes on. The caller serialises access.
Result<ConnectionPtr> open_connection(const std::string& file, bool create);

// Runs SQL that has no parameters and returns no rows we need (pragmas, migrations, BEGIN/COMMIT).
Result<void> execute_script(sqlite3* connection, const char* sql, std::string_view what);

// A prepared statement in use: either borrowed from a StatementCache (reset, bindings cleared and
// handed back when this goes out of scope, so the next user starts clean) or owned outright.
class Statement {
 public:
  Statement(sqlite3* connection, sqlite3_stmt* borrowed, bool* borrowed_flag)
      : connection_(connection), statement_(borrowed), borrowed_flag_(borrowed_flag) {}
  Statement(sqlite3* connection, StatementPtr owned)
      : connection_(connection), statement_(owned.get()), owned_(std::move(owned)) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept
      : connection_(other.connection_),
        statement_(std::exchange(other.statement_, nullptr)),
        borrowed_flag_(std::exchange(other.borrowed_flag_, nullptr)),
        owned_(std::move(other.owned_)),
        bind_error_(other.bind_error_) {}
  Statement& operator=(Statement&&) = delete;

  // Parameters are numbered from 1, as in SQL's ?NNN.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::span<const std::uint8_t> value);
  Statement& bind(int index, std::optional<std::int64_t> value);
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind_null(int index);

  // One sqlite3_step: true when a row is ready, false when done; an error carries `what`.
  Result<bool> step(std::string_view what);
  // Steps to completion, for statements that return no rows.
  Result<void> run(std::string_view what);
  int extended_error_code() const { return sqlite3_extended_errcode(connection_); }

  std::int64_t column_int(int column) const { return sqlite3_column_int64(statement_, column); }
  std::optional<std::int64_t> column_optional_int(int column) const;
  std::string column_text(int column) const;
  std::optional<std::string> column_optional_text(int column) const;
  std::vector<std::uint8_t> column_blob(int column) const;

 private:
  sqlite3* connection_;
  sqlite3_stmt* statement_;
  bool* borrowed_flag_ = nullptr;  // the cache's in-use mark, cleared when this is done
  StatementPtr owned_;
  // sqlite3_bind_* only fails for programming errors (bad index, out of memory); the first
  // failure is kept and reported by step() so call sites can chain binds.
  int bind_error_ = SQLITE_OK;
};

// Statements prepared once per connection and reused: SQL text is the key, so every distinct
// query shape (list_certificates builds at most 2^6) stays prepared.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* connection) : connection_(connection) {}
  Result<Statement> prepare(const std::string& sql);

 private:
  struct Entry {
    StatementPtr statement;
    bool in_use = false;
  };
  sqlite3* connection_;
  // A statement already in use (a query run while another of the same text is open) gets a
  // one-off copy instead of being reset under its first user.
  std::unordered_map<std::string, Entry> statements_;
};

}  // namespace fca::db::sqlite
