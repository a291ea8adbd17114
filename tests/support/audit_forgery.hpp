#pragma once
// What an attacker who can write ca.db (and nothing else) does to the audit log: drop the guard
// triggers, edit a row, and recompute every hash from there on, unkeyed or with a guessed key, so the
// chain links up again. The encoding is copied from db/src/audit_chain.cpp on purpose: a forger can
// read the source too.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace fca::test {

enum class Rehash { sha256, guessed_key };

inline std::string audit_encoding(const std::string& tag, const std::vector<std::string>& fields) {
  std::string out;
  auto add = [&](const std::string& field) {
    auto size = static_cast<std::uint64_t>(field.size());
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((size >> shift) & 0xffU));
    out += field;
  };
  add(tag);
  for (const auto& field : fields) add(field);
  return out;
}

inline std::string hex_of(const unsigned char* data, unsigned int size) {
  static const char* digits = "0123456789abcdef";
  std::string text;
  for (unsigned int i = 0; i < size; ++i) {
    text += digits[data[i] >> 4];
    text += digits[data[i] & 15];
  }
  return text;
}

// fields: sequence, at, actor, action, object, detail, previous_hash (as text).
inline std::string forged_hash(Rehash how, const std::vector<std::string>& fields) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  if (how == Rehash::sha256) {
    const auto data = audit_encoding("facility-ca audit v1", fields);
    REQUIRE(EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) == 1);
  } else {
    const auto data = audit_encoding("facility-ca audit v2 hmac-sha256", fields);
    const std::array<unsigned char, 32> guess{};  // all zeros: as good as any guess
    REQUIRE(HMAC(EVP_sha256(), guess.data(), static_cast<int>(guess.size()),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &size) != nullptr);
  }
  return hex_of(out.data(), size);
}

// Sets the detail of entry `sequence` and recomputes the hash of it and of every later entry.
inline void edit_and_rehash_audit(const std::filesystem::path& file, std::int64_t sequence, const std::string& detail,
                                  Rehash how) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  auto exec = [&](const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message);
    INFO(sql << ": " << (message ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  };
  exec("DROP TRIGGER IF EXISTS audit_log_no_update");
  struct Row {
    std::vector<std::string> fields;
    std::int64_t sequence;
  };
  std::vector<Row> rows;
  std::string previous;
  {
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT sequence, at, actor, action, object, detail, previous_hash FROM audit_log "
                                    "ORDER BY sequence", -1, &statement, nullptr) == SQLITE_OK);
    while (sqlite3_step(statement) == SQLITE_ROW) {
      Row row;
      row.sequence = sqlite3_column_int64(statement, 0);
      for (int column = 0; column < 7; ++column) {
        const auto* text = sqlite3_column_text(statement, column);
        row.fields.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
  }
  REQUIRE(!rows.empty());
  exec("BEGIN");
  for (auto& row : rows) {
    if (row.sequence < sequence) {
      continue;
    }
    if (row.sequence == sequence) row.fields[5] = detail;
    if (row.sequence > sequence) row.fields[6] = previous;  // link to the rewritten predecessor
    const std::string hash = forged_hash(how, row.fields);
    sqlite3_stmt* update = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "UPDATE audit_log SET detail = ?1, previous_hash = ?2, hash = ?3 WHERE sequence = ?4",
                               -1, &update, nullptr) == SQLITE_OK);
    sqlite3_bind_text(update, 1, row.fields[5].c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(update, 2, row.fields[6].c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(update, 3, hash.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(update, 4, row.sequence);
    REQUIRE(sqlite3_step(update) == SQLITE_DONE);
    sqlite3_finalize(update);
    previous = hash;
  }
  exec("COMMIT");
}

}  // namespace fca::test
