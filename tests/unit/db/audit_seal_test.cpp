// The keyed audit chain: HMAC-SHA256 under a key outside the database, and a head file outside it
// too, against an attacker who can write ca.db with the sqlite3 tools and nothing else.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "audit_forgery.hpp"
#include "db_fixture.hpp"
#include "fca/db/database.hpp"
#include "test_support.hpp"

namespace {

using fca::AuditEvent;
using fca::from_unix;
using fca::db::AuditSeal;
using fca::db::Database;
using fca::test::Rehash;
using fca::test::TempDir;
using fca::test::db::kNow;
using fca::test::db::sqlite_cli;

AuditEvent event(int n) {
  return AuditEvent{.actor = "test:db", .action = "test.event", .object = "object:" + std::to_string(n),
                    .detail = R"({"n":)" + std::to_string(n) + "}", .at = from_unix(kNow + n)};
}

struct SealedStore {
  TempDir dir;
  std::filesystem::path file = dir / "ca.db";
  std::filesystem::path key_file = dir / "audit-key";
  std::filesystem::path head_file = dir / "audit-head";
  std::unique_ptr<Database> db;

  AuditSeal seal() {
    auto key = fca::db::load_or_create_audit_key(key_file);
    INFO((key ? std::string() : key.error().message));
    REQUIRE(key.has_value());
    return AuditSeal{*key, head_file};
  }
  void open() {
    db.reset();
    auto opened = Database::open(file, seal());
    INFO((opened ? std::string() : opened.error().message));
    REQUIRE(opened.has_value());
    db = std::move(*opened);
  }
  void append(int from, int to) {
    for (int n = from; n <= to; ++n) REQUIRE(db->append(event(n)).has_value());
  }
  fca::db::AuditVerification verify() {
    auto verification = db->verify_audit();
    INFO((verification ? std::string() : verification.error().message));
    REQUIRE(verification.has_value());
    return *verification;
  }
};

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 0777;
}

}  // namespace

TEST_CASE("a sealed audit log carries MACs, a private key and a head outside the database", "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 6);
  auto verification = store.verify();
  CHECK(verification.intact);
  CHECK(verification.entries == 6);
  CHECK(verification.keyed_from == std::optional<std::int64_t>(1));
  CHECK(verification.head_count == 6);

  CHECK(mode_of(store.key_file) == 0600);
  CHECK(mode_of(store.head_file) == 0600);
  CHECK(std::filesystem::file_size(store.key_file) == 32);
  // The key is not in the database, and the stored MACs are not the unkeyed hashes.
  auto entries = store.db->entries();
  REQUIRE(entries.has_value());
  const auto& last = entries->back();
  CHECK(last.hash != fca::test::forged_hash(Rehash::sha256, {"6", std::to_string(kNow + 6), last.event.actor,
                                                             last.event.action, last.event.object, last.event.detail,
                                                             last.previous_hash}));
  CHECK_THAT(fca::test::read_file(store.head_file), Catch::Contains("count 6") && Catch::Contains(last.hash));

  // The same key opens it again; a reopen does not restart the head.
  store.open();
  store.append(7, 7);
  CHECK(store.verify().intact);
  CHECK(store.verify().keyed_from == std::optional<std::int64_t>(1));
  CHECK(store.verify().head_count == 7);
}

TEST_CASE("verify_audit detects an edited row whose chain was recomputed without the key", "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 6);
  REQUIRE(store.verify().intact);

  SECTION("re-hashed unkeyed, as the old chain allowed") {
    fca::test::edit_and_rehash_audit(store.file, 3, R"({"n":333})", Rehash::sha256);
  }
  SECTION("re-hashed with a guessed key") {
    fca::test::edit_and_rehash_audit(store.file, 3, R"({"n":333})", Rehash::guessed_key);
  }
  CHECK(sqlite_cli(store.file, "SELECT detail FROM audit_log WHERE sequence = 3") == R"({"n":333})");
  auto verification = store.verify();
  CHECK_FALSE(verification.intact);
  CHECK(verification.first_bad_sequence == std::optional<std::int64_t>(3));
  CHECK_THAT(verification.reason, Catch::Contains("MAC mismatch"));
}

TEST_CASE("an unsealed chain rehashed the same way verifies: the forgery itself is sound", "[db][audit][seal]") {
  // The control for the test above: without the key the recomputed chain is indistinguishable.
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = fca::test::db::open_database(file);
  for (int n = 1; n <= 6; ++n) REQUIRE(db->append(event(n)).has_value());
  fca::test::edit_and_rehash_audit(file, 3, R"({"n":333})", Rehash::sha256);
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
}

TEST_CASE("verify_audit detects the newest entries deleted, and a replaced newest entry", "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 8);
  REQUIRE(store.verify().intact);

  SECTION("the newest 3 deleted") {
    sqlite_cli(store.file, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence > 5");
    auto verification = store.verify();
    CHECK_FALSE(verification.intact);
    CHECK(verification.entries == 5);
    CHECK(verification.first_bad_sequence == std::optional<std::int64_t>(6));
    CHECK_THAT(verification.reason, Catch::Contains("newest 3 entries are missing"));
  }
  SECTION("the newest 3 deleted and 3 others appended through the application without the seal") {
    sqlite_cli(store.file, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence > 5");
    auto unsealed = fca::test::db::open_database(store.file);
    for (int n = 106; n <= 108; ++n) REQUIRE(unsealed->append(event(n)).has_value());
    auto verification = store.verify();
    CHECK_FALSE(verification.intact);
    CHECK(verification.first_bad_sequence == std::optional<std::int64_t>(6));
  }
}

TEST_CASE("a head one append behind (a crash between commit and head update) still verifies and catches up",
          "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 4);
  const auto before = fca::test::read_file(store.head_file);
  store.append(5, 5);
  // The crash: entry 5 committed, the head still says 4.
  fca::test::write_file(store.head_file, before);
  auto lagging = store.verify();
  CHECK(lagging.intact);
  CHECK(lagging.head_count == 4);
  CHECK(lagging.entries == 5);
  // The entry past the head is MAC-checked all the same.
  fca::test::edit_and_rehash_audit(store.file, 5, R"({"n":555})", Rehash::sha256);
  CHECK_FALSE(store.verify().intact);
  CHECK(store.verify().first_bad_sequence == std::optional<std::int64_t>(5));
}

TEST_CASE("two connections (as two processes) append to one sealed log and it verifies", "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 3);
  auto other = Database::open(store.file, store.seal());
  REQUIRE(other.has_value());
  REQUIRE((*other)->append(event(4)).has_value());
  store.append(5, 5);
  REQUIRE((*other)->append(event(6)).has_value());
  CHECK(store.verify().head_count == 6);
  CHECK(store.verify().intact);
}

TEST_CASE("an unkeyed chain from before the audit key is kept and keyed from the next entry", "[db][audit][seal]") {
  SealedStore store;
  {
    auto legacy = fca::test::db::open_database(store.file);  // an older build: no key, no head
    for (int n = 1; n <= 4; ++n) REQUIRE(legacy->append(event(n)).has_value());
  }
  store.open();  // the upgrade
  store.append(5, 6);
  auto verification = store.verify();
  CHECK(verification.intact);
  CHECK(verification.entries == 6);
  CHECK(verification.keyed_from == std::optional<std::int64_t>(5));

  SECTION("a rewritten legacy entry breaks the link the first keyed entry holds") {
    // Rehashing stops at the legacy part: the attacker cannot give entry 5 a MAC over the new link.
    fca::test::edit_and_rehash_audit(store.file, 2, R"({"n":222})", Rehash::sha256);
    auto broken = store.verify();
    CHECK_FALSE(broken.intact);
    CHECK(broken.first_bad_sequence == std::optional<std::int64_t>(5));
  }
  SECTION("keyed entries cannot be turned back into unkeyed ones") {
    fca::test::edit_and_rehash_audit(store.file, 6, R"({"n":666})", Rehash::sha256);
    CHECK(store.verify().first_bad_sequence == std::optional<std::int64_t>(6));
  }
}

TEST_CASE("the audit key file is refused when others can read it or it has the wrong size", "[db][audit][seal]") {
  TempDir dir;
  const auto key = dir / "audit-key";
  auto made = fca::db::load_or_create_audit_key(key);
  REQUIRE(made.has_value());
  auto again = fca::db::load_or_create_audit_key(key);
  REQUIRE(again.has_value());
  CHECK(*again == *made);
  std::filesystem::permissions(key, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  CHECK(fca::db::load_or_create_audit_key(key).error().code == fca::Errc::storage);
  fca::test::write_file(key, "short");
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  CHECK_THAT(fca::db::load_or_create_audit_key(key).error().message, Catch::Contains("32 bytes"));
}

TEST_CASE("the database and its -wal and -shm files are private to the owner", "[db][permissions]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  {
    auto db = fca::test::db::open_database(file);
    REQUIRE(db->append(event(1)).has_value());
    CHECK(mode_of(file) == 0600);
    CHECK(mode_of(file.string() + "-wal") == 0600);
    CHECK(mode_of(file.string() + "-shm") == 0600);
  }
  // A database an older build left 0644 is tightened at the next open.
  std::filesystem::permissions(file, std::filesystem::perms::group_read | std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  REQUIRE(mode_of(file) == 0644);
  auto db = fca::test::db::open_database(file);
  CHECK(mode_of(file) == 0600);
}

TEST_CASE("the head file holds two checksummed slots: a write torn in one leaves the head before it",
          "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 4);
  auto content = fca::test::read_file(store.head_file);
  REQUIRE(content.size() == 1024);
  const auto newest = content.find("count 4\n");
  const auto older = content.find("count 3\n");
  REQUIRE(newest != std::string::npos);
  REQUIRE(older != std::string::npos);
  CHECK(newest / 512 != older / 512);

  // A crash half-way through writing the newest slot: its count is new, the rest is not.
  content[content.find("mac ", newest) + 4] ^= 1;
  fca::test::write_file(store.head_file, content);
  auto torn = store.verify();
  CHECK(torn.intact);
  CHECK(torn.head_count == 3);

  // The next write goes over the torn slot, not over the head it fell back on.
  store.append(5, 5);
  CHECK(store.verify().intact);
  CHECK(store.verify().head_count == 5);
  content = fca::test::read_file(store.head_file);
  CHECK(content.find("count 5\n") / 512 == newest / 512);

  SECTION("with both slots torn the head cannot be read: verification fails, never passes") {
    for (const auto* count : {"count 5\n", "count 3\n"}) content[content.find("mac ", content.find(count)) + 4] ^= 1;
    fca::test::write_file(store.head_file, content);
    auto verification = store.db->verify_audit();
    REQUIRE_FALSE(verification.has_value());
    CHECK_THAT(verification.error().message, Catch::Contains("not in the expected format"));
  }
}

TEST_CASE("a head file written before the slots is read, and the slots take over from it", "[db][audit][seal]") {
  SealedStore store;
  store.open();
  store.append(1, 4);
  const auto mac = sqlite_cli(store.file, "SELECT hash FROM audit_log WHERE sequence = 4");
  fca::test::write_file(store.head_file, "facility-ca audit head v1\nkeyed_from 1\ncount 4\nmac " + mac + "\n");
  CHECK(store.verify().intact);
  CHECK(store.verify().head_count == 4);

  store.append(5, 5);  // into the second slot: the old head stays until the newer one is on disk
  CHECK(fca::test::read_file(store.head_file).starts_with("facility-ca audit head v1\n"));
  CHECK(store.verify().head_count == 5);
  store.append(6, 6);
  const auto content = fca::test::read_file(store.head_file);
  CHECK(content.find("audit head v1") == std::string::npos);
  CHECK(store.verify().intact);
  CHECK(store.verify().head_count == 6);

  SECTION("an old-format head that was cut short is refused, as before") {
    fca::test::write_file(store.head_file, "facility-ca audit head v1\nkeyed_from 1\ncount");
    REQUIRE_FALSE(store.db->verify_audit().has_value());
  }
}
