// fca::db::Database as CrlRepository and OcspSignerRepository (schema 2), against real SQLite files;
// the sqlite3 CLI inspects the file and bulk-loads rows, the sqlite3 API builds a schema-1 file.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
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
using fca::CertificateRecord;
using fca::CertificateStatus;
using fca::CrlRecord;
using fca::Errc;
using fca::OcspSignerRecord;
using fca::Result;
using fca::RevocationReason;
using fca::RevokedEntry;
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

AuditEvent event(std::string action, std::string object, std::int64_t at = kNow) {
  return AuditEvent{.actor = "test:db", .action = std::move(action), .object = std::move(object), .detail = "{}",
                    .at = from_unix(at)};
}

std::int64_t insert_ca(Database& db, const std::string& name) {
  auto id = db.insert_ca(make_ca(name), event("ca.create", "ca:" + name));
  INFO((id ? std::string() : id.error().message));
  REQUIRE(id.has_value());
  return *id;
}

void insert_certificate(Database& db, std::int64_t issuer_id, const std::string& serial,
                        std::int64_t not_after = kNow + 90 * kDay) {
  CertificateRecord cert;
  cert.issuer_id = issuer_id;
  cert.serial = serial;
  cert.common_name = "node-" + serial + ".example";
  cert.subject = "CN=" + cert.common_name;
  cert.profile = "server";
  cert.key_type = "p256";
  cert.not_before = from_unix(kNow - 300);
  cert.not_after = from_unix(not_after);
  cert.der = {0x30, 0x03, 0x00, 0x01, 0x02};
  cert.fingerprint_sha256 = "ff" + serial;
  cert.requester = "test";
  cert.issued_at = from_unix(kNow);
  auto id = db.insert_certificate(cert, event("certificate.issue", "certificate:" + serial));
  INFO((id ? std::string() : id.error().message));
  REQUIRE(id.has_value());
}

void change_status(Database& db, std::int64_t issuer_id, const std::string& serial, CertificateStatus from,
                   CertificateStatus to, std::optional<RevocationReason> reason,
                   std::optional<std::int64_t> invalidity = std::nullopt, std::int64_t revoked_at = kNow + 60) {
  StatusChange change{.expected = from, .next = to, .revoked_at = from_unix(revoked_at), .reason = reason,
                      .invalidity_date = invalidity ? std::optional(from_unix(*invalidity)) : std::nullopt};
  auto changed = db.change_status(issuer_id, serial, change, event("certificate.revoke", "certificate:" + serial));
  INFO((changed ? std::string() : changed.error().message));
  REQUIRE(changed.has_value());
}

CrlRecord make_crl(std::int64_t issuer_id, std::int64_t number, std::size_t der_size = 64) {
  CrlRecord crl;
  crl.issuer_id = issuer_id;
  crl.number = number;
  crl.this_update = from_unix(kNow + number * 3600);
  crl.next_update = from_unix(kNow + number * 3600 + 7 * kDay);
  crl.entries = number * 3;
  crl.der.resize(der_size);
  for (std::size_t i = 0; i < der_size; ++i) crl.der[i] = static_cast<std::uint8_t>((i * 31 + number) & 0xff);
  if (der_size > 2) crl.der[1] = 0x00;  // an embedded NUL must survive the BLOB
  return crl;
}

Result<void> store_crl(Database& db, const CrlRecord& crl) {
  return db.store_crl(crl, event("crl.publish", "crl:" + std::to_string(crl.issuer_id), kNow + crl.number));
}

std::vector<std::string> serials_of(const std::vector<RevokedEntry>& entries) {
  std::vector<std::string> serials;
  for (const auto& entry : entries) serials.push_back(entry.serial);
  return serials;
}

const RevokedEntry& entry_for(const std::vector<RevokedEntry>& entries, const std::string& serial) {
  for (const auto& entry : entries) {
    if (entry.serial == serial) return entry;
  }
  FAIL("no entry for serial " << serial);
  throw std::logic_error("unreachable");
}

OcspSignerRecord make_signer(std::int64_t issuer_id, std::string serial, std::int64_t not_after) {
  return OcspSignerRecord{.issuer_id = issuer_id, .serial = serial, .key_uri = "file:/keys/ocsp-" + serial + ".key",
                          .certificate_pem = "-----BEGIN CERTIFICATE-----\nOCSP" + serial + "\n-----END CERTIFICATE-----\n",
                          .not_after = from_unix(not_after)};
}

}  // namespace

TEST_CASE("CRLs: latest_crl is not_found before the first, then returns the highest number", "[db][crl]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");

  auto none = db->latest_crl(issuing);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == Errc::not_found);
  CHECK_THAT(none.error().message, Catch::Contains("CA id " + std::to_string(issuing)));

  const auto audit_before = count_rows(file, "audit_log");
  const CrlRecord first = make_crl(issuing, 1, 3 * 1024 * 1024);  // a CRL of a large CA: megabytes
  REQUIRE(store_crl(*db, first).has_value());
  auto latest = db->latest_crl(issuing);
  REQUIRE(latest.has_value());
  CHECK(latest->issuer_id == issuing);
  CHECK(latest->number == 1);
  CHECK(latest->this_update == first.this_update);
  CHECK(latest->next_update == first.next_update);
  CHECK(latest->entries == 3);
  CHECK(latest->der == first.der);
  CHECK(count_rows(file, "audit_log") == audit_before + 1);
  CHECK(sqlite_cli(file, "SELECT action || ' ' || object || ' ' || at FROM audit_log ORDER BY sequence DESC LIMIT 1") ==
        "crl.publish crl:" + std::to_string(issuing) + " " + std::to_string(kNow + 1));
  CHECK(sqlite_cli(file, "SELECT created_at FROM crls WHERE number = 1") == std::to_string(kNow + 1));

  // Numbers may skip; the highest wins.
  REQUIRE(store_crl(*db, make_crl(issuing, 5)).has_value());
  latest = db->latest_crl(issuing);
  REQUIRE(latest.has_value());
  CHECK(latest->number == 5);
  CHECK(latest->der == make_crl(issuing, 5).der);

  // Numbering is per issuer: the other CA starts at 1 and does not see the first CA's CRLs.
  CHECK(db->latest_crl(other).error().code == Errc::not_found);
  REQUIRE(store_crl(*db, make_crl(other, 1)).has_value());
  CHECK(db->latest_crl(other)->number == 1);
  CHECK(db->latest_crl(issuing)->number == 5);

  auto verified = db->verify_audit();
  REQUIRE(verified.has_value());
  CHECK(verified->intact);
}

TEST_CASE("CRLs: an equal or lower number is a conflict that stores nothing and audits nothing", "[db][crl]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  REQUIRE(store_crl(*db, make_crl(issuing, 7)).has_value());

  const auto crls_before = count_rows(file, "crls");
  const auto audit_before = count_rows(file, "audit_log");
  for (std::int64_t number : {7, 6, 1, 0}) {
    CAPTURE(number);
    CrlRecord stale = make_crl(issuing, number);
    stale.der = {0xde, 0xad};
    auto refused = store_crl(*db, stale);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::conflict);
    CHECK_THAT(refused.error().message, Catch::Contains("CRL number " + std::to_string(number)) &&
                                            Catch::Contains("latest stored number 7"));
  }
  CHECK(count_rows(file, "crls") == crls_before);
  CHECK(count_rows(file, "audit_log") == audit_before);
  auto latest = db->latest_crl(issuing);
  REQUIRE(latest.has_value());
  CHECK(latest->number == 7);
  CHECK(latest->der == make_crl(issuing, 7).der);

  auto negative = store_crl(*db, make_crl(issuing, -1));
  REQUIRE_FALSE(negative.has_value());
  CHECK(negative.error().code == Errc::invalid_input);

  auto unknown_issuer = store_crl(*db, make_crl(issuing + 100, 1));
  REQUIRE_FALSE(unknown_issuer.has_value());
  CHECK(unknown_issuer.error().code == Errc::not_found);
  CHECK(count_rows(file, "crls") == crls_before);
  CHECK(count_rows(file, "audit_log") == audit_before);

  REQUIRE(store_crl(*db, make_crl(issuing, 8)).has_value());
  CHECK(db->latest_crl(issuing)->number == 8);
  CHECK(count_rows(file, "audit_log") == audit_before + 1);
}

TEST_CASE("CRLs: a CRL whose audit entry cannot be written is not stored", "[db][crl][audit]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  REQUIRE(store_crl(*db, make_crl(issuing, 1)).has_value());
  sqlite_cli(file, "CREATE TRIGGER test_block_audit BEFORE INSERT ON audit_log "
                   "BEGIN SELECT RAISE(ABORT, 'audit disk full (simulated)'); END;");

  auto refused = store_crl(*db, make_crl(issuing, 2));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::storage);
  CHECK_THAT(refused.error().message, Catch::Contains("simulated"));
  CHECK(db->latest_crl(issuing)->number == 1);
  CHECK(count_rows(file, "crls") == 1);

  auto no_signer = db->store_ocsp_signer(make_signer(issuing, "0C", kNow + 30 * kDay), event("ocsp.signer", "ca:issuing"));
  REQUIRE_FALSE(no_signer.has_value());
  CHECK(count_rows(file, "ocsp_signers") == 0);

  sqlite_cli(file, "DROP TRIGGER test_block_audit");
  REQUIRE(store_crl(*db, make_crl(issuing, 2)).has_value());
  CHECK(db->latest_crl(issuing)->number == 2);
}

TEST_CASE("CRLs: only the newest few per issuer are kept", "[db][crl]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");
  constexpr std::int64_t kept = Database::kCrlsKeptPerIssuer;
  REQUIRE(kept >= 1);

  for (std::int64_t number = 1; number <= 3; ++number) REQUIRE(store_crl(*db, make_crl(other, number)).has_value());
  for (std::int64_t number = 1; number <= kept; ++number) REQUIRE(store_crl(*db, make_crl(issuing, number)).has_value());
  const std::string issuing_rows = "issuer_id = " + std::to_string(issuing);
  CHECK(count_rows(file, "crls", issuing_rows) == kept);  // nothing pruned while at the limit

  const std::int64_t last = kept + 3;
  for (std::int64_t number = kept + 1; number <= last; ++number) {
    REQUIRE(store_crl(*db, make_crl(issuing, number)).has_value());
  }
  CHECK(count_rows(file, "crls", issuing_rows) == kept);
  CHECK(sqlite_cli(file, "SELECT min(number) || '-' || max(number) FROM crls WHERE " + issuing_rows) ==
        std::to_string(last - kept + 1) + "-" + std::to_string(last));
  CHECK(db->latest_crl(issuing)->number == last);
  CHECK(db->latest_crl(issuing)->der == make_crl(issuing, last).der);

  // The other issuer's CRLs are untouched.
  CHECK(count_rows(file, "crls", "issuer_id = " + std::to_string(other)) == 3);
  CHECK(db->latest_crl(other)->number == 3);

  // A pruned number still cannot come back: numbering never goes backwards.
  auto pruned_number = store_crl(*db, make_crl(issuing, 1));
  REQUIRE_FALSE(pruned_number.has_value());
  CHECK(pruned_number.error().code == Errc::conflict);
  CHECK(count_rows(file, "crls", issuing_rows) == kept);
}

TEST_CASE("revoked_entries returns revoked and held certificates with reasons and dates", "[db][crl]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");

  using S = CertificateStatus;
  insert_certificate(*db, issuing, "01");  // stays valid
  insert_certificate(*db, issuing, "0A");  // keyCompromise with an invalidity date
  change_status(*db, issuing, "0A", S::valid, S::revoked, RevocationReason::key_compromise, kNow - kDay, kNow + 10);
  insert_certificate(*db, issuing, "0B");  // revoked without a reason
  change_status(*db, issuing, "0B", S::valid, S::revoked, std::nullopt, std::nullopt, kNow + 20);
  insert_certificate(*db, issuing, "0C");  // on hold
  change_status(*db, issuing, "0C", S::valid, S::on_hold, RevocationReason::certificate_hold, std::nullopt, kNow + 30);
  insert_certificate(*db, issuing, "0D");  // on hold with no reason stored: still certificateHold on a CRL
  change_status(*db, issuing, "0D", S::valid, S::on_hold, std::nullopt, std::nullopt, kNow + 40);
  insert_certificate(*db, issuing, "0E");  // held, then released: valid again
  change_status(*db, issuing, "0E", S::valid, S::on_hold, RevocationReason::certificate_hold);
  change_status(*db, issuing, "0E", S::on_hold, S::valid, std::nullopt);
  insert_certificate(*db, issuing, "0F", kNow - kDay);  // revoked and expired yesterday
  change_status(*db, issuing, "0F", S::valid, S::revoked, RevocationReason::superseded);
  insert_certificate(*db, issuing, "10", kNow);  // revoked and expires exactly at the cut-off
  change_status(*db, issuing, "10", S::valid, S::revoked, RevocationReason::cessation_of_operation);
  insert_certificate(*db, other, "0A");  // another issuer's revoked certificate with the same serial
  change_status(*db, other, "0A", S::valid, S::revoked, RevocationReason::ca_compromise);

  auto all = db->revoked_entries(issuing, std::nullopt);
  REQUIRE(all.has_value());
  CHECK(serials_of(*all) == std::vector<std::string>{"0A", "0B", "0C", "0D", "0F", "10"});

  const auto& compromised = entry_for(*all, "0A");
  CHECK(compromised.reason == RevocationReason::key_compromise);
  CHECK(compromised.revoked_at == from_unix(kNow + 10));
  REQUIRE(compromised.invalidity_date.has_value());
  CHECK(*compromised.invalidity_date == from_unix(kNow - kDay));

  const auto& no_reason = entry_for(*all, "0B");
  CHECK(no_reason.reason == RevocationReason::unspecified);
  CHECK(no_reason.revoked_at == from_unix(kNow + 20));
  CHECK_FALSE(no_reason.invalidity_date.has_value());

  CHECK(entry_for(*all, "0C").reason == RevocationReason::certificate_hold);
  CHECK(entry_for(*all, "0C").revoked_at == from_unix(kNow + 30));
  CHECK(entry_for(*all, "0D").reason == RevocationReason::certificate_hold);
  CHECK(entry_for(*all, "0F").reason == RevocationReason::superseded);
  CHECK(entry_for(*all, "10").reason == RevocationReason::cessation_of_operation);

  // notAfter >= the cut-off: 0F (expired yesterday) drops out, 10 (expires at it) stays.
  auto current = db->revoked_entries(issuing, from_unix(kNow));
  REQUIRE(current.has_value());
  CHECK(serials_of(*current) == std::vector<std::string>{"0A", "0B", "0C", "0D", "10"});
  auto later = db->revoked_entries(issuing, from_unix(kNow + 1));
  REQUIRE(later.has_value());
  CHECK(serials_of(*later) == std::vector<std::string>{"0A", "0B", "0C", "0D"});

  auto others = db->revoked_entries(other, std::nullopt);
  REQUIRE(others.has_value());
  REQUIRE(others->size() == 1);
  CHECK(others->front().serial == "0A");
  CHECK(others->front().reason == RevocationReason::ca_compromise);

  auto unknown = db->revoked_entries(other + 100, std::nullopt);
  REQUIRE(unknown.has_value());
  CHECK(unknown->empty());
}

TEST_CASE("revoked_entries reports a revoked row without a revocation time as corrupt", "[db][crl]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  insert_certificate(*db, issuing, "0A");
  change_status(*db, issuing, "0A", CertificateStatus::valid, CertificateStatus::revoked, RevocationReason::superseded);
  sqlite_cli(file, "UPDATE certificates SET revoked_at = NULL WHERE serial = '0A'");
  auto corrupt = db->revoked_entries(issuing, std::nullopt);
  REQUIRE_FALSE(corrupt.has_value());
  CHECK(corrupt.error().code == Errc::storage);
  CHECK_THAT(corrupt.error().message, Catch::Contains("0A"));
}

TEST_CASE("the revoked_entries query is served by an index, not a table scan", "[db][crl][index]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  for (bool filtered : {false, true}) {
    CAPTURE(filtered);
    auto plan = db->revoked_entries_query_plan(filtered);
    REQUIRE(plan.has_value());
    INFO(*plan);
    CHECK_THAT(*plan, Catch::Contains("USING COVERING INDEX certificates_revoked"));
    CHECK_THAT(*plan, !Catch::Contains("SCAN"));
    CHECK_THAT(*plan, !Catch::Contains("TEMP B-TREE"));  // ORDER BY serial comes from the index
  }
  // The index is partial: only the rows revoked_entries can return are in it.
  CHECK_THAT(sqlite_cli(file, "SELECT sql FROM sqlite_master WHERE name = 'certificates_revoked'"),
             Catch::Contains("WHERE status <> 'valid'"));
}

TEST_CASE("revoked_entries returns 100k revoked certificates out of a larger table", "[db][crl][scale]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");
  constexpr int kRevoked = 100'000;
  constexpr int kValid = 50'000;

  // One test-only transaction through the sqlite3 shell: rows i = 1..N with serial = i in hex.
  // Even i expired yesterday; every tenth i is on hold rather than revoked.
  const std::string columns =
      "INSERT INTO certificates (issuer_id, serial, subject, common_name, sans, profile, key_type, not_before, "
      "not_after, status, revoked_at, revocation_reason, invalidity_date, der, fingerprint_sha256, requester, "
      "renewal_of, issued_at) ";
  const std::string now = std::to_string(kNow);
  auto bulk = [&](std::int64_t issuer, int from, int to, const std::string& status_expression) {
    return "WITH RECURSIVE n(i) AS (SELECT " + std::to_string(from) + " UNION ALL SELECT i + 1 FROM n WHERE i < " +
           std::to_string(to) + ") " + columns + "SELECT " + std::to_string(issuer) +
           ", printf('%016X', i), 'CN=bulk-' || i, 'bulk-' || i, '[]', 'server', 'p256', " + now +
           " - 300, CASE WHEN i % 2 = 0 THEN " + now + " - 86400 ELSE " + now + " + 86400 END, " + status_expression +
           ", CASE WHEN " + status_expression + " = 'valid' THEN NULL ELSE " + now + " + i END, CASE " +
           status_expression + " WHEN 'revoked' THEN 1 WHEN 'on-hold' THEN 6 END, CASE WHEN i % 3 = 0 THEN " + now +
           " - i END, zeroblob(300), 'fp', 'bulk', NULL, " + now + " FROM n;";
  };
  const std::string revoked_status = "(CASE WHEN i % 10 = 0 THEN 'on-hold' ELSE 'revoked' END)";
  sqlite_cli(file, "BEGIN; " + bulk(issuing, 1, kRevoked, revoked_status) +
                       bulk(issuing, kRevoked + 1, kRevoked + kValid, "'valid'") +
                       bulk(other, 1, 1000, "'revoked'") + " COMMIT;");
  REQUIRE(count_rows(file, "certificates") == kRevoked + kValid + 1000);

  const auto started = std::chrono::steady_clock::now();
  auto all = db->revoked_entries(issuing, std::nullopt);
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(all.has_value());
  WARN("revoked_entries over " << kRevoked << " revoked of " << kRevoked + kValid << " rows took " << elapsed << " s");
  CHECK(all->size() == static_cast<std::size_t>(kRevoked));

  // Spot-check i = 30: on hold (tenth), even (expired), multiple of 3 (invalidity date).
  const auto& thirty = entry_for(*all, "000000000000001E");
  CHECK(thirty.reason == RevocationReason::certificate_hold);
  CHECK(thirty.revoked_at == from_unix(kNow + 30));
  REQUIRE(thirty.invalidity_date.has_value());
  CHECK(*thirty.invalidity_date == from_unix(kNow - 30));
  const auto& seven = entry_for(*all, "0000000000000007");
  CHECK(seven.reason == RevocationReason::key_compromise);
  CHECK_FALSE(seven.invalidity_date.has_value());
  CHECK(std::is_sorted(all->begin(), all->end(),
                       [](const RevokedEntry& a, const RevokedEntry& b) { return a.serial < b.serial; }));

  auto current = db->revoked_entries(issuing, from_unix(kNow));
  REQUIRE(current.has_value());
  CHECK(current->size() == static_cast<std::size_t>(kRevoked / 2));  // the odd i have not expired

  // Still the index with real rows in the table (SQLite has no statistics unless ANALYZE ran).
  auto plan = db->revoked_entries_query_plan(true);
  REQUIRE(plan.has_value());
  CHECK_THAT(*plan, Catch::Contains("USING COVERING INDEX certificates_revoked"));
  sqlite_cli(file, "ANALYZE");
  plan = db->revoked_entries_query_plan(true);
  REQUIRE(plan.has_value());
  INFO(*plan);
  CHECK_THAT(*plan, Catch::Contains("USING COVERING INDEX certificates_revoked"));
}

TEST_CASE("OCSP signers: not_found, store, the newest is current, per issuer", "[db][ocsp]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");

  auto none = db->current_ocsp_signer(issuing);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == Errc::not_found);

  const auto audit_before = count_rows(file, "audit_log");
  const auto first = make_signer(issuing, "5A01", kNow + 30 * kDay);
  REQUIRE(db->store_ocsp_signer(first, event("ocsp.signer", "ca:issuing", kNow + 5)).has_value());
  auto current = db->current_ocsp_signer(issuing);
  REQUIRE(current.has_value());
  CHECK(current->issuer_id == issuing);
  CHECK(current->serial == "5A01");
  CHECK(current->key_uri == first.key_uri);
  CHECK(current->certificate_pem == first.certificate_pem);
  CHECK(current->not_after == first.not_after);
  CHECK(count_rows(file, "audit_log") == audit_before + 1);
  CHECK(sqlite_cli(file, "SELECT created_at FROM ocsp_signers") == std::to_string(kNow + 5));

  // The newest row wins even when an older one lives longer: "current" is the last stored.
  const auto second = make_signer(issuing, "5A02", kNow + 20 * kDay);
  REQUIRE(db->store_ocsp_signer(second, event("ocsp.signer", "ca:issuing")).has_value());
  current = db->current_ocsp_signer(issuing);
  REQUIRE(current.has_value());
  CHECK(current->serial == "5A02");
  CHECK(current->key_uri == second.key_uri);
  CHECK(current->not_after == second.not_after);
  CHECK(count_rows(file, "ocsp_signers") == 2);
  CHECK(count_rows(file, "audit_log") == audit_before + 2);

  CHECK(db->current_ocsp_signer(other).error().code == Errc::not_found);
  REQUIRE(db->store_ocsp_signer(make_signer(other, "6B01", kNow + kDay), event("ocsp.signer", "ca:other")).has_value());
  CHECK(db->current_ocsp_signer(other)->serial == "6B01");
  CHECK(db->current_ocsp_signer(issuing)->serial == "5A02");

  auto unknown = db->store_ocsp_signer(make_signer(other + 100, "7C01", kNow + kDay), event("ocsp.signer", "ca:gone"));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == Errc::not_found);
  CHECK(count_rows(file, "ocsp_signers") == 3);
  CHECK(count_rows(file, "audit_log") == audit_before + 3);

  // Survives a reopen.
  db.reset();
  db = open_database(file);
  CHECK(db->current_ocsp_signer(issuing)->serial == "5A02");
  auto plan = sqlite_cli(file, "EXPLAIN QUERY PLAN SELECT serial FROM ocsp_signers WHERE issuer_id = 1 ORDER BY id DESC LIMIT 1");
  CHECK_THAT(plan, Catch::Contains("INDEX ocsp_signers_issuer"));
}

TEST_CASE("a schema-1 database migrates to the latest schema on open and keeps its rows", "[db][schema]") {
  const auto& migrations = fca::db::embedded_migrations();
  REQUIRE(migrations.size() >= 2);
  REQUIRE(Database::latest_schema_version() >= 2);
  CHECK(std::string(migrations[1].name) == "002_crls_and_ocsp_signers");

  TempDir dir;
  const auto file = dir / "v1.db";
  {
    // Only migration 001, as a build of schema 1 would have left the file, plus rows of its own.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> connection(raw, &sqlite3_close);
    auto exec = [&](const std::string& sql) {
      char* message = nullptr;
      const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message);
      INFO(sql << "\n" << (message ? message : ""));
      sqlite3_free(message);
      REQUIRE(rc == SQLITE_OK);
    };
    exec(std::string("BEGIN; ") + migrations[0].sql + "; PRAGMA user_version = 1; COMMIT;");
    const std::string now = std::to_string(kNow);
    exec("INSERT INTO cas (id, name, state, key_uri, not_before, not_after, created_at) "
         "VALUES (1, 'legacy', 'active', 'file:/k', " + now + ", " + now + " + 86400, " + now + ")");
    exec("INSERT INTO certificates (issuer_id, serial, subject, common_name, profile, key_type, not_before, not_after, "
         "status, revoked_at, revocation_reason, der, fingerprint_sha256, requester, issued_at) VALUES "
         "(1, '0AAA', 'CN=a', 'a', 'server', 'p256', " + now + ", " + now + " + 86400, 'revoked', " + now +
         ", 1, x'3000', 'fp', 'r', " + now + "), "
         "(1, '0BBB', 'CN=b', 'b', 'server', 'p256', " + now + ", " + now + " + 86400, 'valid', NULL, NULL, x'3000', "
         "'fp', 'r', " + now + ")");
  }
  REQUIRE(sqlite_cli(file, "PRAGMA user_version") == "1");
  REQUIRE(sqlite_cli(file, "SELECT count(*) FROM sqlite_master WHERE name IN ('crls', 'ocsp_signers')") == "0");

  auto db = open_database(file);
  CHECK(db->schema_version() == Database::latest_schema_version());
  CHECK(sqlite_cli(file, "PRAGMA user_version") == std::to_string(Database::latest_schema_version()));
  CHECK(sqlite_cli(file, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE name IN "
                         "('crls', 'ocsp_signers', 'certificates_revoked', 'ocsp_signers_issuer') ORDER BY name)") ==
        "certificates_revoked,crls,ocsp_signers,ocsp_signers_issuer");

  // The old rows are still there and the new index covers them.
  auto legacy = db->find_ca("legacy");
  REQUIRE(legacy.has_value());
  CHECK(db->count_certificates().value_or(-1) == 2);
  auto entries = db->revoked_entries(legacy->id, std::nullopt);
  REQUIRE(entries.has_value());
  REQUIRE(entries->size() == 1);
  CHECK(entries->front().serial == "0AAA");
  CHECK(entries->front().reason == RevocationReason::key_compromise);

  // Upgraded CAs start at revision 1, so any CRL from before (revision 0) is made again once: a CRL a
  // crashed revoke left behind before the upgrade is repaired too.
  CHECK(db->revocation_revision(legacy->id).value_or(-1) == 1);

  // The new tables work on the migrated file.
  REQUIRE(store_crl(*db, make_crl(legacy->id, 1)).has_value());
  CHECK(db->latest_crl(legacy->id)->revocation_revision == 0);
  CHECK(db->latest_crl(legacy->id)->number == 1);
  REQUIRE(db->store_ocsp_signer(make_signer(legacy->id, "0CCC", kNow + kDay), event("ocsp.signer", "ca:legacy")).has_value());
  CHECK(db->current_ocsp_signer(legacy->id)->serial == "0CCC");
  auto integrity = db->integrity_ok();
  REQUIRE(integrity.has_value());
  CHECK(*integrity);

  // And reopening does not migrate again.
  db.reset();
  db = open_database(file);
  CHECK(db->schema_version() == Database::latest_schema_version());
  CHECK(db->latest_crl(legacy->id)->number == 1);
}

TEST_CASE("every committed status change bumps the issuer's revocation revision; a CRL records its own",
          "[db][crl][revision]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto issuing = insert_ca(*db, "issuing");
  const auto other = insert_ca(*db, "other");
  CHECK(*db->revocation_revision(issuing) == 0);
  insert_certificate(*db, issuing, "0A01");
  insert_certificate(*db, issuing, "0A02");
  CHECK(*db->revocation_revision(issuing) == 0);  // valid certificates change no CRL

  change_status(*db, issuing, "0A01", CertificateStatus::valid, CertificateStatus::revoked, RevocationReason::key_compromise);
  const auto after_revoke = *db->revocation_revision(issuing);
  CHECK(after_revoke > 0);
  change_status(*db, issuing, "0A02", CertificateStatus::valid, CertificateStatus::on_hold, RevocationReason::certificate_hold);
  change_status(*db, issuing, "0A02", CertificateStatus::on_hold, CertificateStatus::valid, std::nullopt);
  CHECK(*db->revocation_revision(issuing) > after_revoke);
  CHECK(*db->revocation_revision(other) == 0);

  // A refused change (compare-and-set) commits nothing and bumps nothing.
  const auto before_refusal = *db->revocation_revision(issuing);
  StatusChange again{.expected = CertificateStatus::valid, .next = CertificateStatus::revoked,
                     .revoked_at = from_unix(kNow), .reason = std::nullopt, .invalidity_date = std::nullopt};
  CHECK(db->change_status(issuing, "0A01", again, event("certificate.revoke", "0A01")).error().code == Errc::conflict);
  CHECK(*db->revocation_revision(issuing) == before_refusal);

  auto snapshot = db->crl_snapshot(issuing, std::nullopt);
  REQUIRE(snapshot.has_value());
  CHECK(serials_of(snapshot->entries) == std::vector<std::string>{"0A01"});
  CHECK_FALSE(snapshot->latest_number.has_value());
  CHECK(snapshot->revocation_revision == before_refusal);

  auto crl = make_crl(issuing, 1);
  crl.revocation_revision = snapshot->revocation_revision;
  REQUIRE(store_crl(*db, crl).has_value());
  CHECK(db->latest_crl(issuing)->revocation_revision == snapshot->revocation_revision);
  CHECK(db->crl_snapshot(issuing, std::nullopt)->latest_number == std::optional<std::int64_t>(1));

  // A change made by hand in the file (or by any other writer) counts too: the triggers are in SQL.
  sqlite_cli(dir / "ca.db", "UPDATE certificates SET revocation_reason = 4 WHERE serial = '0A01'");
  CHECK(*db->revocation_revision(issuing) > db->latest_crl(issuing)->revocation_revision);
}

TEST_CASE("delta_snapshot: the rows changed since the base's revision, a release as removeFromCRL, one number sequence",
          "[db][crl][delta]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto issuing = insert_ca(*db, "issuing");
  for (const auto* serial : {"0B01", "0B02", "0B03", "0B04"}) insert_certificate(*db, issuing, serial);
  CHECK(db->delta_snapshot(issuing, std::nullopt, from_unix(kNow)).error().code == Errc::not_found);  // no base yet

  change_status(*db, issuing, "0B01", CertificateStatus::valid, CertificateStatus::revoked, RevocationReason::key_compromise);
  change_status(*db, issuing, "0B02", CertificateStatus::valid, CertificateStatus::on_hold, RevocationReason::certificate_hold);
  auto base = make_crl(issuing, *db->reserve_crl_number(issuing));
  base.revocation_revision = *db->revocation_revision(issuing);
  REQUIRE(store_crl(*db, base).has_value());

  change_status(*db, issuing, "0B02", CertificateStatus::on_hold, CertificateStatus::valid, std::nullopt);
  change_status(*db, issuing, "0B03", CertificateStatus::valid, CertificateStatus::revoked, RevocationReason::superseded);
  // A full CRL build reads its entries now and takes its number (its signing would take a while)...
  const auto full_revision = *db->revocation_revision(issuing);
  const auto full_number = *db->reserve_crl_number(issuing);
  // ...while a delta is made meanwhile: it numbers after the full CRL.
  auto delta = db->delta_snapshot(issuing, std::nullopt, from_unix(kNow + 5));
  REQUIRE(delta.has_value());
  CHECK(delta->base.number == base.number);
  CHECK(delta->number > full_number);
  CHECK(full_number > base.number);
  CHECK(delta->revocation_revision == *db->revocation_revision(issuing));
  REQUIRE(serials_of(delta->changes) == std::vector<std::string>{"0B02", "0B03"});  // not 0B01: in the base
  CHECK(delta->changes[0].reason == RevocationReason::remove_from_crl);
  CHECK(delta->changes[0].revoked_at == from_unix(kNow + 5));
  CHECK(delta->changes[1].reason == RevocationReason::superseded);

  auto stored_delta = make_crl(issuing, delta->number);
  stored_delta.base_number = base.number;
  REQUIRE(store_crl(*db, stored_delta).has_value());
  CHECK(db->latest_crl(issuing)->number == base.number);  // a delta is never the latest full CRL
  CHECK(db->latest_delta_crl(issuing)->base_number == base.number);

  // The full CRL lands with its lower number: its entries are newer than the stored full CRL's.
  auto full = make_crl(issuing, full_number);
  full.revocation_revision = full_revision;
  REQUIRE(store_crl(*db, full).has_value());
  CHECK(db->latest_crl(issuing)->number == full_number);
  CHECK(db->latest_crl_header(issuing)->der.empty());
  // An older full CRL (lower number, or entries read at a lower revision) is refused.
  auto stale = make_crl(issuing, *db->reserve_crl_number(issuing));
  stale.revocation_revision = full_revision - 1;
  CHECK(store_crl(*db, stale).error().code == Errc::conflict);
  CHECK(*db->reserve_crl_number(issuing) > delta->number);
}

TEST_CASE("a full CRL whose entries were read before a revocation is refused once a delta numbered below it lists it",
          "[db][crl][delta]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto issuing = insert_ca(*db, "issuing");
  for (const auto* serial : {"0D01", "0D02"}) insert_certificate(*db, issuing, serial);
  auto base = make_crl(issuing, *db->reserve_crl_number(issuing));
  base.revocation_revision = *db->revocation_revision(issuing);
  REQUIRE(store_crl(*db, base).has_value());

  // A full CRL build reads its entries (0D01 still valid)...
  const auto full_revision = *db->revocation_revision(issuing);
  // ...0D01 is revoked and its delta stored before the build takes its number...
  change_status(*db, issuing, "0D01", CertificateStatus::valid, CertificateStatus::revoked, RevocationReason::key_compromise);
  auto delta = db->delta_snapshot(issuing, std::nullopt, from_unix(kNow + 5));
  REQUIRE(delta.has_value());
  REQUIRE(serials_of(delta->changes) == std::vector<std::string>{"0D01"});
  auto stored_delta = make_crl(issuing, delta->number);
  stored_delta.base_number = base.number;
  stored_delta.revocation_revision = delta->revocation_revision;
  REQUIRE(store_crl(*db, stored_delta).has_value());
  // ...so the full CRL numbers above that delta, and a relying party holding both would use it alone
  // and never see the revocation: it is refused, and a build from a new snapshot lands.
  auto stale = make_crl(issuing, *db->reserve_crl_number(issuing));
  stale.revocation_revision = full_revision;
  REQUIRE(stale.number > delta->number);
  auto refused = store_crl(*db, stale);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::conflict);
  CHECK(db->latest_crl(issuing)->number == base.number);

  auto fresh = make_crl(issuing, *db->reserve_crl_number(issuing));
  fresh.revocation_revision = *db->revocation_revision(issuing);
  REQUIRE(store_crl(*db, fresh).has_value());
  CHECK(db->latest_crl(issuing)->number == fresh.number);
}

TEST_CASE("crl_snapshot reads on a connection of its own: other reads of the process do not wait for it",
          "[db][crl][lock]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const auto issuing = insert_ca(*db, "issuing");
  insert_certificate(*db, issuing, "0C01");
  bool read_meanwhile = false;
  db->set_crl_snapshot_hook([&] {
    // Inside the snapshot's read transaction; a read that needed the process's read mutex (what
    // every read but this one takes) would deadlock here if the snapshot held it.
    std::thread other([&] { read_meanwhile = db->find_certificate(issuing, "0C01").has_value(); });
    other.join();
  });
  auto snapshot = db->crl_snapshot(issuing, std::nullopt);
  db->set_crl_snapshot_hook({});
  REQUIRE(snapshot.has_value());
  CHECK(read_meanwhile);
}
