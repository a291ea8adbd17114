// fca::db::Database against real SQLite files; the sqlite3 CLI plays the outside party that
// inspects, downgrades or tampers with the file.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fca/db/database.hpp"
#include "db_fixture.hpp"
#include "test_support.hpp"

namespace {

using fca::AuditEvent;
using fca::CaRecord;
using fca::CaState;
using fca::CertificateFilter;
using fca::CertificateRecord;
using fca::CertificateStatus;
using fca::Errc;
using fca::RevocationReason;
using fca::StatusChange;
using fca::from_unix;
using fca::db::Database;
using fca::test::run;
using fca::test::shell_quote;
using fca::test::TempDir;
using fca::test::db::count_rows;
using fca::test::db::kDay;
using fca::test::db::kNow;
using fca::test::db::make_ca;
using fca::test::db::open_database;
using fca::test::db::sqlite_cli;

AuditEvent event(std::string action, std::string object, std::string detail = "{}") {
  return AuditEvent{.actor = "test:db", .action = std::move(action), .object = std::move(object),
                    .detail = std::move(detail), .at = from_unix(kNow)};
}

CertificateRecord make_certificate(std::int64_t issuer_id, std::string serial, std::string common_name = "node.example",
                                   std::string profile = "server", std::int64_t not_after = kNow + 90 * kDay) {
  CertificateRecord cert;
  cert.issuer_id = issuer_id;
  cert.serial = std::move(serial);
  cert.common_name = std::move(common_name);
  cert.subject = "CN=" + cert.common_name + ",O=Facility";
  cert.sans = {"DNS:" + cert.common_name, "IP:192.0.2.7"};
  cert.profile = std::move(profile);
  cert.key_type = "p256";
  cert.not_before = from_unix(kNow - 300);
  cert.not_after = from_unix(not_after);
  cert.der = {0x30, 0x82, 0x00, 0x01, 0xff, 0x00, 0x7f};  // an embedded NUL must survive the BLOB
  cert.fingerprint_sha256 = "ab" + cert.serial;
  cert.requester = "est:" + cert.common_name;
  cert.issued_at = from_unix(kNow);
  return cert;
}

std::int64_t insert_ca(Database& db, const CaRecord& ca) {
  auto id = db.insert_ca(ca, event("ca.create", "ca:" + ca.name));
  INFO((id ? std::string() : id.error().message));
  REQUIRE(id.has_value());
  return *id;
}

std::int64_t insert_certificate(Database& db, const CertificateRecord& cert) {
  auto id = db.insert_certificate(cert, event("certificate.issue", "certificate:" + cert.serial));
  INFO((id ? std::string() : id.error().message));
  REQUIRE(id.has_value());
  return *id;
}

std::vector<std::string> serials(const std::vector<CertificateRecord>& certs) {
  std::vector<std::string> result;
  for (const auto& cert : certs) result.push_back(cert.serial);
  return result;
}

StatusChange revoke(RevocationReason reason) {
  return StatusChange{.expected = CertificateStatus::valid, .next = CertificateStatus::revoked,
                      .revoked_at = from_unix(kNow + 60), .reason = reason, .invalidity_date = from_unix(kNow - 60)};
}

}  // namespace

TEST_CASE("a fresh database is created at the latest schema, in WAL mode", "[db][schema]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  REQUIRE_FALSE(std::filesystem::exists(file));
  auto db = open_database(file);

  REQUIRE(Database::latest_schema_version() >= 1);
  CHECK(db->schema_version() == Database::latest_schema_version());
  CHECK(std::filesystem::exists(file));
  CHECK(sqlite_cli(file, "PRAGMA user_version") == std::to_string(Database::latest_schema_version()));
  CHECK(sqlite_cli(file, "PRAGMA journal_mode") == "wal");
  CHECK(sqlite_cli(file, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' "
                         "ORDER BY name)") == "api_idempotency,api_tokens,audit_log,cas,certificates,crl_numbers,crls,enrollments,est_credentials,lab_faults,ocsp_signers,revocation_revisions,settings,sqlite_sequence");
  const std::string indexes = sqlite_cli(file, "SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'index'");
  for (const char* index : {"certificates_status_not_after", "certificates_not_after", "certificates_common_name",
                            "certificates_subject", "cas_single_default", "certificates_revoked",
                            "ocsp_signers_issuer"}) {
    CHECK_THAT(indexes, Catch::Contains(index));
  }
  auto integrity = db->integrity_ok();
  REQUIRE(integrity.has_value());
  CHECK(*integrity);
}

TEST_CASE("the embedded migrations are numbered 1..N", "[db][schema]") {
  const auto& migrations = fca::db::embedded_migrations();
  REQUIRE_FALSE(migrations.empty());
  for (std::size_t i = 0; i < migrations.size(); ++i) CHECK(migrations[i].version == static_cast<int>(i + 1));
  CHECK(migrations.back().version == Database::latest_schema_version());
}

TEST_CASE("reopening a database keeps its rows and does not migrate again", "[db][schema]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  {
    auto db = open_database(file);
    insert_ca(*db, make_ca("root", true));
  }
  for (int round = 0; round < 2; ++round) {
    auto db = open_database(file);
    CHECK(db->schema_version() == Database::latest_schema_version());
    auto cas = db->list_cas();
    REQUIRE(cas.has_value());
    REQUIRE(cas->size() == 1);
    CHECK(cas->front().name == "root");
  }
  CHECK(count_rows(file, "audit_log") == 1);
}

TEST_CASE("a database from a newer build is refused and left untouched", "[db][schema]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  { open_database(file); }
  const int newer = Database::latest_schema_version() + 1;
  sqlite_cli(file, "PRAGMA user_version = " + std::to_string(newer));

  auto refused = Database::open(file);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::conflict);
  CHECK(refused.error().message == "database schema version " + std::to_string(newer) +
                                       " is newer than this build supports (" +
                                       std::to_string(Database::latest_schema_version()) + "); upgrade facility-ca");
  CHECK(sqlite_cli(file, "PRAGMA user_version") == std::to_string(newer));
}

TEST_CASE("a file that is not a database is refused as a storage error", "[db][schema]") {
  TempDir dir;
  const auto file = dir / "not-a.db";
  fca::test::write_file(file, std::string(4096, 'x'));
  auto refused = Database::open(file);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::storage);
  CHECK_THAT(refused.error().message, Catch::Contains("not a database"));
}

TEST_CASE("CAs: insert, find by name and id, default switching, duplicate names", "[db][ca]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);

  SECTION("no default CA yet") {
    auto none = db->default_ca();
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error().code == Errc::not_found);
    CHECK_THAT(none.error().message, Catch::Contains("no default CA"));
  }

  const auto root_id = insert_ca(*db, make_ca("root", true));
  auto issuing = make_ca("issuing", false);
  issuing.parent_id = root_id;
  issuing.chain_pem = "chain";
  const auto issuing_id = insert_ca(*db, issuing);
  CHECK(issuing_id != root_id);

  SECTION("round trip of every field") {
    auto found = db->find_ca("issuing");
    REQUIRE(found.has_value());
    CHECK(found->id == issuing_id);
    CHECK(found->name == "issuing");
    CHECK(found->state == CaState::active);
    CHECK(found->certificate_pem == issuing.certificate_pem);
    CHECK(found->key_uri == issuing.key_uri);
    CHECK(found->parent_id == root_id);
    CHECK(found->chain_pem == "chain");
    CHECK_FALSE(found->is_default);
    CHECK(found->subject == "CN=issuing");
    CHECK(found->not_before == issuing.not_before);
    CHECK(found->not_after == issuing.not_after);
    CHECK(found->created_at == issuing.created_at);
    auto by_id = db->find_ca(issuing_id);
    REQUIRE(by_id.has_value());
    CHECK(by_id->name == "issuing");
  }

  SECTION("lookups of missing CAs name what was looked up") {
    auto by_name = db->find_ca("nope");
    REQUIRE_FALSE(by_name.has_value());
    CHECK(by_name.error().code == Errc::not_found);
    CHECK_THAT(by_name.error().message, Catch::Contains("'nope'"));
    auto by_id = db->find_ca(std::int64_t{999});
    REQUIRE_FALSE(by_id.has_value());
    CHECK(by_id.error().code == Errc::not_found);
    CHECK_THAT(by_id.error().message, Catch::Contains("999"));
  }

  SECTION("a new default CA clears the old one, in insert and in set_default_ca") {
    auto first = db->default_ca();
    REQUIRE(first.has_value());
    CHECK(first->id == root_id);

    const auto lab_id = insert_ca(*db, make_ca("lab", true));
    auto second = db->default_ca();
    REQUIRE(second.has_value());
    CHECK(second->id == lab_id);
    CHECK_FALSE(db->find_ca(root_id)->is_default);

    REQUIRE(db->set_default_ca(issuing_id, event("ca.default", "ca:issuing")).has_value());
    CHECK(db->default_ca()->id == issuing_id);
    CHECK(sqlite_cli(file, "SELECT count(*) FROM cas WHERE is_default = 1") == "1");

    auto missing = db->set_default_ca(12345, event("ca.default", "ca:?"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::not_found);
    CHECK(db->default_ca()->id == issuing_id);
  }

  SECTION("a duplicate name is a conflict and leaves no trace") {
    const auto audit_before = count_rows(file, "audit_log");
    auto duplicate = db->insert_ca(make_ca("root", true), event("ca.create", "ca:root"));
    REQUIRE_FALSE(duplicate.has_value());
    CHECK(duplicate.error().code == Errc::conflict);
    CHECK_THAT(duplicate.error().message, Catch::Contains("'root'"));
    CHECK(count_rows(file, "cas") == 2);
    CHECK(count_rows(file, "audit_log") == audit_before);
    CHECK(db->default_ca()->id == root_id);  // the failed insert did not clear the default
  }

  SECTION("a missing parent is refused") {
    auto orphan = make_ca("orphan");
    orphan.parent_id = 777;
    auto refused = db->insert_ca(orphan, event("ca.create", "ca:orphan"));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::not_found);
    CHECK(count_rows(file, "cas") == 2);
  }

  SECTION("update_ca replaces the fields and keeps names unique") {
    auto pending = make_ca("external");
    pending.state = CaState::pending;
    pending.certificate_pem.clear();
    pending.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----";
    pending.id = insert_ca(*db, pending);
    CHECK(db->find_ca("external")->state == CaState::pending);

    auto activated = pending;
    activated.state = CaState::active;
    activated.certificate_pem = "signed by the external root";
    activated.csr_pem.clear();
    activated.is_default = true;
    REQUIRE(db->update_ca(activated, event("ca.activate", "ca:external")).has_value());
    auto found = db->find_ca(pending.id);
    REQUIRE(found.has_value());
    CHECK(found->state == CaState::active);
    CHECK(found->certificate_pem == "signed by the external root");
    CHECK(found->csr_pem.empty());
    CHECK(db->default_ca()->id == pending.id);

    auto renamed = activated;
    renamed.name = "root";
    auto clash = db->update_ca(renamed, event("ca.rename", "ca:external"));
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().code == Errc::conflict);
    CHECK(db->find_ca(pending.id)->name == "external");

    auto ghost = activated;
    ghost.id = 4242;
    ghost.name = "ghost";
    auto missing = db->update_ca(ghost, event("ca.update", "ca:ghost"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::not_found);
  }

  SECTION("list_cas is ordered by id") {
    auto cas = db->list_cas();
    REQUIRE(cas.has_value());
    REQUIRE(cas->size() == 2);
    CHECK((*cas)[0].name == "root");
    CHECK((*cas)[1].name == "issuing");
  }
}

TEST_CASE("certificates: insert, find, find_by_serial, count", "[db][certificate]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto root_id = insert_ca(*db, make_ca("root", true));
  const auto issuing_id = insert_ca(*db, make_ca("issuing"));

  auto cert = make_certificate(issuing_id, "0A1B2C3D4E5F6071");
  cert.renewal_of = "00FF";
  cert.sans.push_back("URI:urn:x-nmos:node:1");
  const auto id = insert_certificate(*db, cert);
  CHECK(id > 0);

  auto found = db->find_certificate(issuing_id, "0A1B2C3D4E5F6071");
  REQUIRE(found.has_value());
  CHECK(found->id == id);
  CHECK(found->issuer_id == issuing_id);
  CHECK(found->serial == cert.serial);
  CHECK(found->subject == cert.subject);
  CHECK(found->common_name == cert.common_name);
  CHECK(found->sans == cert.sans);
  CHECK(found->profile == "server");
  CHECK(found->key_type == "p256");
  CHECK(found->not_before == cert.not_before);
  CHECK(found->not_after == cert.not_after);
  CHECK(found->status == CertificateStatus::valid);
  CHECK_FALSE(found->revoked_at.has_value());
  CHECK_FALSE(found->revocation_reason.has_value());
  CHECK_FALSE(found->invalidity_date.has_value());
  CHECK(found->der == cert.der);
  CHECK(found->fingerprint_sha256 == cert.fingerprint_sha256);
  CHECK(found->requester == cert.requester);
  CHECK(found->renewal_of == std::optional<std::string>("00FF"));
  CHECK(found->issued_at == cert.issued_at);

  SECTION("hex serials match whatever their case") {
    auto lower = db->find_certificate(issuing_id, "0a1b2c3d4e5f6071");
    REQUIRE(lower.has_value());
    CHECK(lower->id == id);
  }

  SECTION("an unknown serial or the wrong issuer is not found, and says what was looked for") {
    auto wrong_issuer = db->find_certificate(root_id, "0A1B2C3D4E5F6071");
    REQUIRE_FALSE(wrong_issuer.has_value());
    CHECK(wrong_issuer.error().code == Errc::not_found);
    CHECK_THAT(wrong_issuer.error().message, Catch::Contains("0A1B2C3D4E5F6071"));
    CHECK(db->find_certificate(issuing_id, "FFFF").error().code == Errc::not_found);
  }

  SECTION("find_by_serial looks across issuers") {
    insert_certificate(*db, make_certificate(root_id, "0A1B2C3D4E5F6071", "other.example"));
    insert_certificate(*db, make_certificate(root_id, "1111"));
    auto both = db->find_by_serial("0A1B2C3D4E5F6071");
    REQUIRE(both.has_value());
    REQUIRE(both->size() == 2);
    CHECK((*both)[0].issuer_id == issuing_id);
    CHECK((*both)[1].issuer_id == root_id);
    auto none = db->find_by_serial("DEAD");
    REQUIRE(none.has_value());
    CHECK(none->empty());
    CHECK(*db->count_certificates() == 3);
  }

  SECTION("an issuer that does not exist is refused") {
    auto refused = db->insert_certificate(make_certificate(999, "01"), event("certificate.issue", "certificate:01"));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::not_found);
    CHECK(*db->count_certificates() == 1);
  }
}

TEST_CASE("a duplicate (issuer, serial) is a conflict and adds no audit entry", "[db][certificate]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing_id = insert_ca(*db, make_ca("issuing", true));
  const auto other_id = insert_ca(*db, make_ca("other"));
  insert_certificate(*db, make_certificate(issuing_id, "7E57"));

  const auto certificates_before = count_rows(file, "certificates");
  const auto audit_before = count_rows(file, "audit_log");
  for (const char* serial : {"7E57", "7e57"}) {
    auto duplicate = db->insert_certificate(make_certificate(issuing_id, serial, "second.example"),
                                            event("certificate.issue", "certificate:7E57"));
    REQUIRE_FALSE(duplicate.has_value());
    CHECK(duplicate.error().code == Errc::conflict);
    CHECK_THAT(duplicate.error().message, Catch::Contains(serial));
  }
  CHECK(count_rows(file, "certificates") == certificates_before);
  CHECK(count_rows(file, "audit_log") == audit_before);
  CHECK(db->find_certificate(issuing_id, "7E57")->common_name == "node.example");

  // The same serial under another CA is a different certificate.
  insert_certificate(*db, make_certificate(other_id, "7E57"));
  CHECK(count_rows(file, "certificates") == certificates_before + 1);
  CHECK(count_rows(file, "audit_log") == audit_before + 1);
}

TEST_CASE("a change whose audit entry cannot be written leaves no row behind", "[db][certificate][audit]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing_id = insert_ca(*db, make_ca("issuing", true));
  insert_certificate(*db, make_certificate(issuing_id, "01"));
  sqlite_cli(file, "CREATE TRIGGER test_block_audit BEFORE INSERT ON audit_log "
                   "BEGIN SELECT RAISE(ABORT, 'audit disk full (simulated)'); END;");

  auto refused = db->insert_certificate(make_certificate(issuing_id, "02"), event("certificate.issue", "certificate:02"));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::storage);
  CHECK_THAT(refused.error().message, Catch::Contains("simulated"));
  CHECK(count_rows(file, "certificates") == 1);

  auto not_revoked = db->change_status(issuing_id, "01", revoke(RevocationReason::superseded),
                                       event("certificate.revoke", "certificate:01"));
  REQUIRE_FALSE(not_revoked.has_value());
  CHECK(db->find_certificate(issuing_id, "01")->status == CertificateStatus::valid);

  sqlite_cli(file, "DROP TRIGGER test_block_audit");
  CHECK(db->insert_certificate(make_certificate(issuing_id, "02"), event("certificate.issue", "certificate:02")));
  CHECK(count_rows(file, "certificates") == 2);
}

TEST_CASE("list_certificates honours every filter field, ordered by id", "[db][certificate]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto a = insert_ca(*db, make_ca("a", true));
  const auto b = insert_ca(*db, make_ca("b"));
  insert_certificate(*db, make_certificate(a, "01", "one.example", "server", kNow + 10 * kDay));
  insert_certificate(*db, make_certificate(b, "02", "two.example", "client", kNow + 20 * kDay));
  insert_certificate(*db, make_certificate(a, "03", "three.example", "server", kNow - 1 * kDay));  // expired
  insert_certificate(*db, make_certificate(b, "04", "one.example", "server", kNow + 40 * kDay));
  insert_certificate(*db, make_certificate(a, "05", "five.example", "client", kNow + 50 * kDay));
  REQUIRE(db->change_status(b, "04", revoke(RevocationReason::key_compromise), event("certificate.revoke", "04")));

  // Each check sets only the filter fields it is about, on a default CertificateFilter.
  using Filter = CertificateFilter;
  auto list = [&](auto&& configure) {
    CertificateFilter filter;
    configure(filter);
    auto found = db->list_certificates(filter);
    INFO((found ? std::string() : found.error().message));
    REQUIRE(found.has_value());
    return serials(*found);
  };
  using Serials = std::vector<std::string>;

  CHECK(list([](Filter&) {}) == Serials{"01", "02", "03", "04", "05"});
  CHECK(list([&](Filter& f) { f.issuer_id = a; }) == Serials{"01", "03", "05"});
  CHECK(list([](Filter& f) { f.status = CertificateStatus::revoked; }) == Serials{"04"});
  CHECK(list([](Filter& f) { f.status = CertificateStatus::valid; }) == Serials{"01", "02", "03", "05"});
  // expiring_before is strict, not_expired_at inclusive: a certificate ending exactly then is in the second.
  CHECK(list([](Filter& f) { f.expiring_before = from_unix(kNow + 20 * kDay); }) == Serials{"01", "03"});
  CHECK(list([](Filter& f) { f.not_expired_at = from_unix(kNow + 20 * kDay); }) == Serials{"02", "04", "05"});
  CHECK(list([](Filter& f) { f.profile = "client"; }) == Serials{"02", "05"});
  CHECK(list([](Filter& f) { f.common_name = "one.example"; }) == Serials{"01", "04"});
  CHECK(list([](Filter& f) { f.limit = 2; }) == Serials{"01", "02"});
  CHECK(list([](Filter& f) {
          f.limit = 2;
          f.offset = 2;
        }) == Serials{"03", "04"});
  CHECK(list([](Filter& f) { f.offset = 4; }) == Serials{"05"});
  // Fields combine with AND: valid, unexpired server certificates of CA a.
  CHECK(list([&](Filter& f) {
          f.issuer_id = a;
          f.status = CertificateStatus::valid;
          f.not_expired_at = from_unix(kNow);
          f.profile = "server";
        }) == Serials{"01"});
  CHECK(list([](Filter& f) { f.common_name = "nobody.example"; }).empty());
}

TEST_CASE("change_status is a compare-and-set: revoke, revoke again, hold and release", "[db][certificate]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto ca = insert_ca(*db, make_ca("issuing", true));
  insert_certificate(*db, make_certificate(ca, "0A1B"));
  insert_certificate(*db, make_certificate(ca, "0C0D"));

  auto revoked = db->change_status(ca, "0A1B", revoke(RevocationReason::key_compromise),
                                   event("certificate.revoke", "certificate:issuing/0A1B"));
  REQUIRE(revoked.has_value());
  CHECK(revoked->status == CertificateStatus::revoked);
  CHECK(revoked->revoked_at == from_unix(kNow + 60));
  CHECK(revoked->revocation_reason == RevocationReason::key_compromise);
  CHECK(revoked->invalidity_date == from_unix(kNow - 60));
  CHECK(db->find_certificate(ca, "0A1B")->status == CertificateStatus::revoked);

  const auto audit_before = count_rows(file, "audit_log");
  auto again = db->change_status(ca, "0A1B", revoke(RevocationReason::superseded),
                                 event("certificate.revoke", "certificate:issuing/0A1B"));
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == Errc::conflict);
  CHECK(again.error().message == "certificate 0A1B is already revoked (keyCompromise)");
  CHECK(count_rows(file, "audit_log") == audit_before);
  CHECK(db->find_certificate(ca, "0A1B")->revocation_reason == RevocationReason::key_compromise);

  const StatusChange hold{.expected = CertificateStatus::valid, .next = CertificateStatus::on_hold,
                          .revoked_at = from_unix(kNow + 120), .reason = RevocationReason::certificate_hold,
                          .invalidity_date = std::nullopt};
  auto held = db->change_status(ca, "0C0D", hold, event("certificate.hold", "certificate:issuing/0C0D"));
  REQUIRE(held.has_value());
  CHECK(held->status == CertificateStatus::on_hold);
  CHECK(held->revocation_reason == RevocationReason::certificate_hold);
  CHECK(held->revoked_at == from_unix(kNow + 120));

  // Revoking from `valid` while it is on hold names the current state.
  auto wrong_expectation = db->change_status(ca, "0C0D", revoke(RevocationReason::superseded),
                                             event("certificate.revoke", "certificate:issuing/0C0D"));
  REQUIRE_FALSE(wrong_expectation.has_value());
  CHECK(wrong_expectation.error().code == Errc::conflict);
  CHECK_THAT(wrong_expectation.error().message, Catch::Contains("on-hold (certificateHold)"));

  const StatusChange release{.expected = CertificateStatus::on_hold, .next = CertificateStatus::valid,
                             .revoked_at = from_unix(kNow + 180), .reason = RevocationReason::remove_from_crl,
                             .invalidity_date = from_unix(kNow)};
  auto released = db->change_status(ca, "0C0D", release, event("certificate.release", "certificate:issuing/0C0D"));
  REQUIRE(released.has_value());
  CHECK(released->status == CertificateStatus::valid);
  CHECK_FALSE(released->revoked_at.has_value());
  CHECK_FALSE(released->revocation_reason.has_value());
  CHECK_FALSE(released->invalidity_date.has_value());
  CHECK(sqlite_cli(file, "SELECT quote(revoked_at) || quote(revocation_reason) || quote(invalidity_date) "
                         "FROM certificates WHERE serial = '0C0D'") == "NULLNULLNULL");

  CHECK(count_rows(file, "audit_log") == audit_before + 2);

  auto missing = db->change_status(ca, "FFFF", revoke(RevocationReason::unspecified), event("certificate.revoke", "x"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Errc::not_found);

  auto no_time = db->change_status(ca, "0C0D",
                                   StatusChange{.expected = CertificateStatus::valid, .next = CertificateStatus::revoked,
                                                .revoked_at = std::nullopt, .reason = RevocationReason::superseded,
                                                .invalidity_date = std::nullopt},
                                   event("certificate.revoke", "x"));
  REQUIRE_FALSE(no_time.has_value());
  CHECK(no_time.error().code == Errc::invalid_input);
  CHECK(db->find_certificate(ca, "0C0D")->status == CertificateStatus::valid);
}

TEST_CASE("the audit log is a hash chain that verifies and pages", "[db][audit]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto ca = insert_ca(*db, make_ca("issuing", true));
  insert_certificate(*db, make_certificate(ca, "01"));
  REQUIRE(db->append(event("token.create", "token:ops", R"({"scopes":["issue"]})")).has_value());
  REQUIRE(db->change_status(ca, "01", revoke(RevocationReason::superseded), event("certificate.revoke", "01")));

  auto all = db->entries();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 4);
  CHECK((*all)[0].sequence == 1);
  CHECK((*all)[0].previous_hash.empty());
  for (std::size_t i = 1; i < all->size(); ++i) {
    CHECK((*all)[i].sequence == static_cast<std::int64_t>(i + 1));
    CHECK((*all)[i].previous_hash == (*all)[i - 1].hash);
    CHECK((*all)[i].hash.size() == 64);
  }
  CHECK((*all)[2].event.action == "token.create");
  CHECK((*all)[2].event.detail == R"({"scopes":["issue"]})");
  CHECK((*all)[2].event.at == from_unix(kNow));

  auto page = db->entries(2, 1);
  REQUIRE(page.has_value());
  REQUIRE(page->size() == 1);
  CHECK(page->front().sequence == 3);

  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
  CHECK(verification->entries == 4);
  CHECK_FALSE(verification->first_bad_sequence.has_value());
}

TEST_CASE("verify_audit names the first entry that was tampered with", "[db][audit]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(db->append(event("test.event", "object:" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}")));
  }
  REQUIRE(db->verify_audit()->intact);

  SECTION("the application cannot rewrite history by accident") {
    auto blocked = run("sqlite3 " + shell_quote(file.string()) + " \"UPDATE audit_log SET detail = '{}' WHERE sequence = 3\"");
    CHECK(blocked.exit_code != 0);
    CHECK_THAT(blocked.output, Catch::Contains("append-only"));
  }

  SECTION("an edited detail is a hash mismatch at that entry") {
    sqlite_cli(file, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = '{\"n\":33}' WHERE sequence = 3");
    auto verification = db->verify_audit();
    REQUIRE(verification.has_value());
    CHECK_FALSE(verification->intact);
    CHECK(verification->entries == 5);
    CHECK(verification->first_bad_sequence == std::optional<std::int64_t>(3));
    CHECK_THAT(verification->reason, Catch::Contains("hash mismatch"));
  }

  SECTION("a replaced hash is caught at that entry") {
    sqlite_cli(file, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET hash = 'ff' || substr(hash, 3) "
                     "WHERE sequence = 2");
    auto verification = db->verify_audit();
    REQUIRE(verification.has_value());
    CHECK_FALSE(verification->intact);
    // Entry 2's own hash no longer matches its fields, so it is reported first.
    CHECK(verification->first_bad_sequence == std::optional<std::int64_t>(2));
  }

  SECTION("a deleted entry is a gap") {
    sqlite_cli(file, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence = 4");
    auto verification = db->verify_audit();
    REQUIRE(verification.has_value());
    CHECK_FALSE(verification->intact);
    CHECK(verification->entries == 4);
    CHECK(verification->first_bad_sequence == std::optional<std::int64_t>(5));
    CHECK_THAT(verification->reason, Catch::Contains("gap"));
  }

  SECTION("a spliced previous_hash is a link mismatch") {
    sqlite_cli(file, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET previous_hash = "
                     "(SELECT hash FROM audit_log WHERE sequence = 1) WHERE sequence = 4");
    auto verification = db->verify_audit();
    REQUIRE(verification.has_value());
    CHECK(verification->first_bad_sequence == std::optional<std::int64_t>(4));
    CHECK_THAT(verification->reason, Catch::Contains("previous link mismatch"));
  }
}

TEST_CASE("backup_to writes a new file that opens as the same database", "[db][backup]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  const auto backup = dir / "backup.db";
  auto db = open_database(file);
  const auto ca = insert_ca(*db, make_ca("issuing", true));
  for (int i = 0; i < 50; ++i) insert_certificate(*db, make_certificate(ca, "5E" + std::to_string(1000 + i)));
  REQUIRE(db->change_status(ca, "5E1007", revoke(RevocationReason::key_compromise), event("certificate.revoke", "x")));

  auto copied = db->backup_to(backup);
  INFO((copied ? std::string() : copied.error().message));
  REQUIRE(copied.has_value());

  // The original keeps working after the backup.
  insert_certificate(*db, make_certificate(ca, "AFTER"));

  auto restored = open_database(backup);
  CHECK(restored->schema_version() == Database::latest_schema_version());
  CHECK(*restored->count_certificates() == 50);
  CHECK(restored->find_certificate(ca, "5E1007")->status == CertificateStatus::revoked);
  CHECK(restored->default_ca()->name == "issuing");
  auto original_entries = db->entries();
  auto restored_entries = restored->entries();
  REQUIRE(original_entries.has_value());
  REQUIRE(restored_entries.has_value());
  REQUIRE(restored_entries->size() == original_entries->size() - 1);
  CHECK(restored_entries->back().hash == (*original_entries)[restored_entries->size() - 1].hash);
  CHECK(*restored->integrity_ok());
  CHECK(restored->verify_audit()->intact);

  SECTION("an existing target is refused and left alone") {
    const auto existing = dir / "existing.db";
    fca::test::write_file(existing, "keep me");
    auto refused = db->backup_to(existing);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::conflict);
    CHECK(fca::test::read_file(existing) == "keep me");
  }
}

TEST_CASE("concurrent writers through one Database keep rows and the audit chain consistent", "[db][threads]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto ca = insert_ca(*db, make_ca("issuing", true));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string serial = std::to_string(t) + "0" + std::to_string(i);
        if (!db->insert_certificate(make_certificate(ca, serial), event("certificate.issue", serial))) ++failures;
        CertificateFilter first_five;
        first_five.limit = 5;
        if (!db->list_certificates(first_five)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(*db->count_certificates() == kThreads * kPerThread);
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
  CHECK(verification->entries == kThreads * kPerThread + 1);
}

TEST_CASE("a subordinate CA and its certificate row are stored together or not at all", "[db][ca]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto root = insert_ca(*db, make_ca("root"));
  auto issuing = make_ca("issuing", true);
  issuing.parent_id = root;
  const auto row = make_certificate(root, "0A0B", "Issuing", "sub-ca");

  auto id = db->insert_subordinate_ca(issuing, event("ca.create", "ca:issuing"), row,
                                      event("certificate.issue", "certificate:root/0A0B"));
  REQUIRE(id);
  CHECK(db->find_ca("issuing")->parent_id == root);
  CHECK(db->find_certificate(root, "0A0B")->profile == "sub-ca");
  const auto audit_entries = count_rows(dir / "ca.db", "audit_log");

  // A taken name fails after the certificate row was written: the transaction takes that back too.
  auto again = db->insert_subordinate_ca(issuing, event("ca.create", "ca:issuing"), make_certificate(root, "0C0D", "Issuing", "sub-ca"),
                                         event("certificate.issue", "certificate:root/0C0D"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::conflict);
  CHECK_FALSE(db->find_certificate(root, "0C0D"));
  CHECK(count_rows(dir / "ca.db", "audit_log") == audit_entries);
  CHECK(count_rows(dir / "ca.db", "certificates") == 1);
}
