#pragma once
// Helpers shared by the db suites: a fixed clock value, opening a database, the sqlite3 CLI, and a
// CA record to insert.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "fca/db/database.hpp"
#include "test_support.hpp"

namespace fca::test::db {

constexpr std::int64_t kNow = 1'767'225'600;  // 2026-01-01T00:00:00Z; whole seconds, as stored
constexpr std::int64_t kDay = 86'400;

inline std::unique_ptr<fca::db::Database> open_database(const std::filesystem::path& file) {
  auto database = fca::db::Database::open(file);
  INFO((database ? std::string() : database.error().message));
  REQUIRE(database.has_value());
  return std::move(*database);
}

// Runs SQL through the sqlite3 command-line shell and returns its output, trimmed.
inline std::string sqlite_cli(const std::filesystem::path& file, const std::string& sql) {
  auto result = run("sqlite3 " + shell_quote(file.string()) + " " + shell_quote(sql));
  INFO(sql << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
  while (!result.output.empty() && (result.output.back() == '\n' || result.output.back() == '\r')) {
    result.output.pop_back();
  }
  return result.output;
}

inline std::int64_t count_rows(const std::filesystem::path& file, const std::string& table, const std::string& where = "") {
  return std::stoll(sqlite_cli(file, "SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where)));
}

inline CaRecord make_ca(std::string name, bool is_default = false) {
  CaRecord ca;
  ca.name = std::move(name);
  ca.state = CaState::active;
  ca.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIB" + ca.name + "\n-----END CERTIFICATE-----\n";
  ca.key_uri = "file:/var/lib/facility-ca/" + ca.name + ".key";
  ca.is_default = is_default;
  ca.subject = "CN=" + ca.name;
  ca.not_before = from_unix(kNow - kDay);
  ca.not_after = from_unix(kNow + 3650 * kDay);
  ca.created_at = from_unix(kNow);
  return ca;
}

}  // namespace fca::test::db
