#include <catch2/catch.hpp>

#include "authority_fixture.hpp"
#include <functional>
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
  CHECK(second->number == first->number + 1);
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
  CHECK(mine->number == theirs->number + 1);
  CHECK(mine->entries == 1);  // read again after the conflict: the revocation is in
  CHECK(f.database->latest_crl(issuing->id)->number == mine->number);
}
