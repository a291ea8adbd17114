#include <catch2/catch.hpp>

#include "authority_fixture.hpp"
#include <chrono>
#include <functional>
#include <future>
#include <utility>

#include "fca/core/crl.hpp"
#include "fca/core/x509.hpp"

using namespace fca;
using fca::test::run;
using fca::test::shell_quote;

namespace {

struct CrlFixture : fca::test::AuthorityFixture {
  CrlService crls{*database, *database, *keys, clock, CrlSettings{}, default_settings().urls};

  std::string write_crl(const CrlRecord& record, const std::string& name) {
    const unsigned char* p = record.der.data();
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(record.der.size())));
    REQUIRE(crl);
    const auto file = (dir / name).string();
    fca::test::write_file(file, to_pem(crl.get()));
    return file;
  }

  // openssl verify with the issuing CA's CRL checked for the leaf.
  fca::test::CommandResult verify_with_crl(const IssuedCertificate& cert, const std::string& crl_file) {
    fca::test::write_file(dir / "chain.pem", fca::test::read_file(dir / "root.pem") + fca::test::read_file(dir / "issuing.pem"));
    fca::test::write_file(dir / "check.pem", cert.pem());
    return run("openssl verify -crl_check -CAfile " + shell_quote((dir / "chain.pem").string()) + " -CRLfile " +
               shell_quote(crl_file) + " " + shell_quote((dir / "check.pem").string()));
  }
};

}  // namespace

TEST_CASE("openssl verify -crl_check rejects a revoked certificate and accepts a good one", "[crl]") {
  CrlFixture f;
  auto good = f.issue("good.example.com");
  auto bad = f.issue("bad.example.com");
  REQUIRE(f.authority->revoke({bad.record.serial, std::nullopt, RevocationReason::key_compromise,
                               f.clock.now() - std::chrono::hours(1), "test"}));
  auto issuing = f.database->find_ca("issuing");
  auto crl = f.crls.regenerate(*issuing, "test");
  REQUIRE(crl);
  CHECK(crl->entries == 1);
  const auto file = f.write_crl(*crl, "issuing.crl.pem");

  auto ok = f.verify_with_crl(good, file);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  auto revoked = f.verify_with_crl(bad, file);
  INFO(revoked.output);
  CHECK(revoked.exit_code != 0);
  CHECK_THAT(revoked.output, Catch::Contains("certificate revoked"));

  auto text = run("openssl crl -noout -text -in " + shell_quote(file));
  CHECK_THAT(text.output, Catch::Contains("X509v3 CRL Number"));
  CHECK_THAT(text.output, Catch::Contains("X509v3 Authority Key Identifier"));
  CHECK_THAT(text.output, Catch::Contains("Key Compromise"));
  CHECK_THAT(text.output, Catch::Contains("Invalidity Date"));
  CHECK_THAT(text.output, Catch::Contains("URI:http://127.0.0.1:8080/crl/issuing.crl"));  // issuing distribution point
  CHECK_THAT(text.output, Catch::Contains(bad.record.serial));
}

TEST_CASE("CRL numbers increase and times follow the settings", "[crl]") {
  CrlFixture f;
  auto issuing = f.database->find_ca("issuing");
  auto first = f.crls.regenerate(*issuing, "test");
  auto second = f.crls.regenerate(*issuing, "test");
  REQUIRE(first);
  REQUIRE(second);
  // Each full CRL is followed by its delta CRL, from the same number sequence.
  CHECK(second->number == first->number + 2);
  auto delta = f.database->latest_delta_crl(issuing->id);
  REQUIRE(delta);
  CHECK(delta->number == second->number + 1);
  CHECK(delta->base_number == second->number);
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(f.clock.now());
  CHECK(second->this_update == now - CrlSettings{}.backdate);
  CHECK(second->next_update == now + CrlSettings{}.validity);
  CHECK(f.database->latest_crl(issuing->id)->number == second->number);
}

TEST_CASE("held certificates are listed as certificateHold and leave the CRL on release", "[crl]") {
  CrlFixture f;
  auto cert = f.issue("held.example.com");
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::certificate_hold, std::nullopt, "test"}));
  auto held = f.crls.regenerate(*issuing, "test");
  REQUIRE(held);
  CHECK(held->entries == 1);
  CHECK_THAT(run("openssl crl -noout -text -in " + shell_quote(f.write_crl(*held, "held.pem"))).output,
             Catch::Contains("Certificate Hold"));
  REQUIRE(f.authority->release_hold(cert.record.serial, std::nullopt, "test"));
  auto released = f.crls.regenerate(*issuing, "test");
  CHECK(released->entries == 0);
  CHECK(f.verify_with_crl(cert, f.write_crl(*released, "released.pem")).exit_code == 0);
}

TEST_CASE("a timer refresh regenerates CRLs before nextUpdate", "[crl]") {
  CrlFixture f;
  auto made = f.crls.refresh_due();  // none yet: every active CA gets one
  REQUIRE(made);
  CHECK(*made == 2);
  CHECK(*f.crls.refresh_due() == 0);  // fresh ones are left alone

  auto issuing = f.database->find_ca("issuing");
  const auto before = f.database->latest_crl(issuing->id);
  f.clock.advance(CrlSettings{}.validity - CrlSettings{}.refresh_before + std::chrono::minutes(1));
  CHECK(*f.crls.refresh_due() == 2);
  const auto after = f.database->latest_crl(issuing->id);
  CHECK(after->number > before->number);
  CHECK(after->next_update > before->next_update);
  CHECK(after->next_update - f.clock.now() > CrlSettings{}.refresh_before);
}

TEST_CASE("expired certificates leave the CRL unless configured to stay", "[crl]") {
  CrlFixture f;
  auto cert = f.issue("short.example.com");
  REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));
  auto issuing = f.database->find_ca("issuing");
  CHECK(f.crls.regenerate(*issuing, "test")->entries == 1);
  f.clock.set(cert.record.not_after + std::chrono::hours(1));
  CHECK(f.crls.regenerate(*issuing, "test")->entries == 0);

  CrlSettings keep;
  keep.keep_expired = true;
  CrlService keeping(*f.database, *f.database, *f.keys, f.clock, keep, f.authority->settings().urls);
  CHECK(keeping.regenerate(*issuing, "test")->entries == 1);
}

TEST_CASE("a status change can regenerate the CRL through the authority's hook", "[crl]") {
  CrlFixture f;
  int published = 0;
  f.crls.on_published([&](const CaRecord& ca, const CrlRecord&) { published += ca.name == "issuing"; });
  f.authority->on_status_changed([&](const CaRecord& ca, const CertificateRecord&) { REQUIRE(f.crls.regenerate(ca, "test")); });
  auto cert = f.issue("hooked.example.com");
  REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::unspecified, std::nullopt, "test"}));
  CHECK(published == 1);
  auto issuing = f.database->find_ca("issuing");
  CHECK(f.database->latest_crl(issuing->id)->entries == 1);
}

TEST_CASE("the CRL status is read while a full CRL build is in progress", "[crl]") {
  CrlFixture f;
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(issuing);
  REQUIRE(f.crls.regenerate(*issuing, "test"));
  // The next build stops inside its database snapshot until the status has been read.
  std::promise<void> inside;
  std::promise<void> release;
  auto released = release.get_future().share();
  f.database->set_crl_snapshot_hook([&] {
    inside.set_value();
    released.wait();
  });
  auto build = std::async(std::launch::async, [&] { return f.crls.regenerate(*issuing, "test").has_value(); });
  inside.get_future().wait();
  auto status = std::async(std::launch::async, [&] { return f.crls.status(); });
  // Bounded only so that a regression fails instead of hanging: the read does not wait for the build.
  const bool read_during_build = status.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  release.set_value();
  CHECK(build.get());
  f.database->set_crl_snapshot_hook({});
  REQUIRE(read_during_build);
  const auto board = status.get();
  REQUIRE(board.contains(issuing->id));
  CHECK_FALSE(board.at(issuing->id).failing);
  CHECK(board.at(issuing->id).last_success.has_value());
}

namespace {
// Lets another CRL service store its CRL in between this one's read of the last number and its store,
// the way a CLI revoke beside a running server can.
struct RacingCrlRepository : CrlRepository {
  db::Database& database;
  std::function<void()> race;
  explicit RacingCrlRepository(db::Database& db) : database(db) {}
  Result<std::vector<RevokedEntry>> revoked_entries(std::int64_t issuer, std::optional<TimePoint> at) override {
    return database.revoked_entries(issuer, at);
  }
  Result<CrlRecord> latest_crl(std::int64_t issuer) override { return database.latest_crl(issuer); }
  Result<CrlSnapshot> crl_snapshot(std::int64_t issuer, std::optional<TimePoint> at) override {
    return database.crl_snapshot(issuer, at);
  }
  Result<std::int64_t> revocation_revision(std::int64_t issuer) override { return database.revocation_revision(issuer); }
  Result<CrlRecord> latest_crl_header(std::int64_t issuer) override { return database.latest_crl_header(issuer); }
  Result<std::int64_t> reserve_crl_number(std::int64_t issuer) override { return database.reserve_crl_number(issuer); }
  Result<DeltaSnapshot> delta_snapshot(std::int64_t issuer, std::optional<TimePoint> at, TimePoint released) override {
    return database.delta_snapshot(issuer, at, released);
  }
  Result<CrlRecord> latest_delta_crl(std::int64_t issuer) override { return database.latest_delta_crl(issuer); }
  Result<void> store_crl(const CrlRecord& crl, const AuditEvent& audit) override {
    if (race) std::exchange(race, nullptr)();
    return database.store_crl(crl, audit);
  }
};
}  // namespace

TEST_CASE("a CRL number taken by another process is skipped and the entries read again", "[crl]") {
  CrlFixture f;
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(f.crls.regenerate(*issuing, "test"));
  RacingCrlRepository racing(*f.database);
  CrlService ours(*f.database, racing, *f.keys, f.clock, CrlSettings{}, f.authority->settings().urls);

  auto cert = f.issue("raced.example.com");
  std::optional<CrlRecord> theirs;
  racing.race = [&] {
    // The other process revokes and publishes first, taking the number this service has chosen.
    REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));
    theirs = *f.crls.regenerate(*issuing, "other");
  };
  auto mine = ours.regenerate(*issuing, "test");
  REQUIRE(mine);
  REQUIRE(theirs);
  CHECK(mine->number > theirs->number);
  CHECK(mine->entries == 1);  // read again after the conflict: the revocation is in
  CHECK(f.database->latest_crl(issuing->id)->number == mine->number);
}

namespace {
// The revocation as any process commits it: the status change, nothing else (no CRL).
void commit_revocation(db::Database& database, const CaRecord& ca, const std::string& serial, TimePoint at) {
  StatusChange change{CertificateStatus::valid, CertificateStatus::revoked, at, RevocationReason::key_compromise,
                      std::nullopt};
  auto revoked = database.change_status(ca.id, serial, change,
                                        AuditEvent{"test", "certificate.revoke", "certificate:" + serial, "{}", at});
  INFO((revoked ? std::string() : revoked.error().message));
  REQUIRE(revoked.has_value());
}

bool crl_lists(const CrlRecord& record, const std::string& serial) {
  const unsigned char* p = record.der.data();
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(record.der.size())));
  REQUIRE(crl);
  BIGNUM* raw = nullptr;
  REQUIRE(BN_hex2bn(&raw, serial.c_str()) > 0);
  BignumPtr bn(raw);
  Asn1IntegerPtr wanted(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  const auto* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)), wanted.get()) == 0) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("a CRL published by another process between the entries and the number cannot hide a revocation",
          "[crl][race]") {
  CrlFixture f;
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(f.crls.regenerate(*issuing, "test"));
  auto cert = f.issue("between.example.com");

  // The other process: its own connection to the same file and its own CRL service.
  auto other = db::Database::open(f.dir / "ca.db");
  REQUIRE(other.has_value());
  CrlService theirs(**other, **other, *f.keys, f.clock, CrlSettings{}, f.authority->settings().urls);
  std::optional<CrlRecord> published;
  int hook_runs = 0;
  f.database->set_crl_snapshot_hook([&] {
    if (hook_runs++ > 0) return;
    // This process has read the entries (no revocation yet) and is about to read the latest number:
    // the other one revokes and publishes CRL N right now.
    commit_revocation(**other, *issuing, cert.record.serial, f.clock.now());
    auto made = theirs.regenerate(*issuing, "other");
    REQUIRE(made.has_value());
    published = *made;
  });
  auto mine = f.crls.regenerate(*issuing, "test");
  f.database->set_crl_snapshot_hook({});
  REQUIRE(mine.has_value());
  REQUIRE(published.has_value());
  CHECK(hook_runs >= 1);
  CHECK(crl_lists(*published, cert.record.serial));

  // Whatever number ours got, the newest stored CRL lists the revocation.
  auto newest = f.database->latest_crl(issuing->id);
  REQUIRE(newest.has_value());
  CHECK(newest->number == mine->number);
  CHECK(mine->number > published->number);
  CHECK(newest->entries == 1);
  CHECK(crl_lists(*newest, cert.record.serial));
}

TEST_CASE("a revocation committed without its CRL (a crashed revoke) makes the CRL due, from the database alone",
          "[crl][repair]") {
  CrlFixture f;
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(*f.crls.refresh_due() == 2);
  auto cert = f.issue("crashed.example.com");
  commit_revocation(*f.database, *issuing, cert.record.serial, f.clock.now());

  // A fresh service, as in a new process: nothing in memory says the CRL is stale.
  CrlService restarted(*f.database, *f.database, *f.keys, f.clock, CrlSettings{}, f.authority->settings().urls);
  auto made = restarted.refresh_due();
  REQUIRE(made.has_value());
  CHECK(*made == 1);  // the issuing CA only; the root's CRL is untouched
  auto newest = f.database->latest_crl(issuing->id);
  REQUIRE(newest.has_value());
  CHECK(crl_lists(*newest, cert.record.serial));
  CHECK(newest->revocation_revision == *f.database->revocation_revision(issuing->id));
  CHECK(*restarted.refresh_due() == 0);  // repaired: nothing more to do

  // current() (what the HTTP route serves) repairs it too, without waiting for the timer.
  auto second = f.issue("crashed-again.example.com");
  commit_revocation(*f.database, *issuing, second.record.serial, f.clock.now());
  auto served = restarted.current(*issuing);
  REQUIRE(served.has_value());
  CHECK(crl_lists(*served, second.record.serial));
}

TEST_CASE("one CA whose key cannot be used does not stop the CRL refresh of the others", "[crl][failure]") {
  CrlFixture f;
  auto root = f.database->find_ca("root");
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(root.has_value());
  REQUIRE(issuing.has_value());
  REQUIRE(root->key_uri.starts_with("file:"));
  REQUIRE(std::filesystem::remove(root->key_uri.substr(5)));  // the root's key is gone

  // Keys opened afresh, as by a new process: the root's cannot be.
  KeyStoreRouter store;
  store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{f.dir / "keys", "test passphrase", false}), true);
  SigningKeys keys(store);
  CrlService crls(*f.database, *f.database, keys, f.clock, CrlSettings{}, f.authority->settings().urls);

  auto made = crls.refresh_due();
  REQUIRE_FALSE(made.has_value());
  CHECK_THAT(made.error().message, Catch::Contains("CA 'root'"));
  CHECK_THAT(made.error().message, !Catch::Contains("CA 'issuing'"));
  // The root comes first in the list; the issuing CA's CRL was made all the same.
  auto issuing_crl = f.database->latest_crl(issuing->id);
  REQUIRE(issuing_crl.has_value());
  CHECK(f.database->latest_crl(root->id).error().code == Errc::not_found);

  auto status = crls.status();
  REQUIRE(status.contains(root->id));
  REQUIRE(status.contains(issuing->id));
  CHECK(status[root->id].failing);
  CHECK_FALSE(status[root->id].last_success.has_value());
  CHECK(status[root->id].last_failure.has_value());
  CHECK_FALSE(status[root->id].last_error.empty());
  CHECK_FALSE(status[issuing->id].failing);
  CHECK(status[issuing->id].last_success.has_value());

  // The next pass tries the root again and still makes no other CRL than needed.
  auto again = crls.refresh_due();
  REQUIRE_FALSE(again.has_value());
  CHECK(f.database->latest_crl(issuing->id)->number == issuing_crl->number);
}
