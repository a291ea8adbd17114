// Issuer-status gates: a CA whose own certificate (or one above it) is revoked, on hold, expired or
// not yet valid issues nothing, and says why.
#include <catch2/catch.hpp>

#include "authority_fixture.hpp"
#include "fca/core/x509.hpp"

using namespace fca;
using fca::test::AuthorityFixture;

namespace {

std::string serial_of_ca(AuthorityFixture& ca, const std::string& name) {
  auto record = ca.database->find_ca(std::string_view(name));
  REQUIRE(record);
  return serial_hex(parse_certificate(record->certificate_pem)->get());
}

Result<IssuedCertificate> try_issue(AuthorityFixture& ca, const std::string& cn) {
  IssueRequest r;
  r.csr = ca.csr("p256", "/CN=" + cn);
  r.profile = "nmos-node";
  r.requester = "test";
  return ca.authority->issue(r);
}

void require_refused(const Result<IssuedCertificate>& issued, const std::string& reason) {
  REQUIRE_FALSE(issued);
  INFO(issued.error().message);
  CHECK(issued.error().code == Errc::policy_refused);
  CHECK_THAT(issued.error().message, Catch::Contains("CA 'issuing'") && Catch::Contains(reason));
}

}  // namespace

TEST_CASE("a revoked CA issues nothing and stores no row", "[authority][gate]") {
  AuthorityFixture ca;
  ca.issue("before.example.com");
  REQUIRE(ca.authority->revoke(RevokeRequest{serial_of_ca(ca, "issuing"), "root", RevocationReason::key_compromise,
                                             std::nullopt, "test"}));
  const auto rows = ca.certificate_rows();
  const auto audit = ca.database->entries(0, 100000)->size();

  require_refused(try_issue(ca, "after.example.com"), "is revoked (keyCompromise)");
  CHECK(ca.certificate_rows() == rows);
  CHECK(ca.database->entries(0, 100000)->size() == audit);

  // Renewal and a sub-CA below it are refused just the same.
  CertificateFilter filter;
  filter.common_name = "before.example.com";
  auto listed = ca.database->list_certificates(filter);
  REQUIRE(listed->size() == 1);
  auto renewed = ca.authority->renew(listed->front().serial, "issuing", ca.csr("p256", "/CN=before.example.com"), "test");
  REQUIRE_FALSE(renewed);
  CHECK(renewed.error().code == Errc::policy_refused);
  auto sub = ca.authority->create_ca({"below", "Below", *KeySpec::parse("p256"), 365, "issuing", std::nullopt, false, "test"});
  REQUIRE_FALSE(sub);
  CHECK(sub.error().code == Errc::policy_refused);
  CHECK_FALSE(ca.database->find_ca(std::string_view("below")));
  CHECK(ca.certificate_rows() == rows);
}

TEST_CASE("a held CA issues nothing until released, then issues again", "[authority][gate]") {
  AuthorityFixture ca;
  const auto issuing_serial = serial_of_ca(ca, "issuing");
  REQUIRE(ca.authority->revoke(RevokeRequest{issuing_serial, "root", RevocationReason::certificate_hold, std::nullopt, "test"}));
  const auto rows = ca.certificate_rows();
  require_refused(try_issue(ca, "held.example.com"), "is on hold");
  CHECK(ca.certificate_rows() == rows);

  REQUIRE(ca.authority->release_hold(issuing_serial, "root", "test"));
  auto issued = try_issue(ca, "released.example.com");
  REQUIRE(issued);
  CHECK(ca.certificate_rows() == rows + 1);
}

TEST_CASE("an expired or not yet valid CA issues nothing", "[authority][gate]") {
  AuthorityFixture ca;
  const auto issuing = *ca.database->find_ca(std::string_view("issuing"));
  const auto rows = ca.certificate_rows();

  ca.clock.set(issuing.not_after + std::chrono::seconds(1));
  require_refused(try_issue(ca, "late.example.com"), "has expired");
  CHECK(ca.certificate_rows() == rows);

  ca.clock.set(issuing.not_before - std::chrono::hours(1));
  require_refused(try_issue(ca, "early.example.com"), "is not yet valid");
  CHECK(ca.certificate_rows() == rows);

  ca.clock.set(issuing.not_before + std::chrono::hours(1));
  CHECK(try_issue(ca, "intime.example.com"));
}

TEST_CASE("a CA below a revoked CA issues nothing either", "[authority][gate]") {
  AuthorityFixture ca;
  REQUIRE(ca.authority->create_ca({"team", "Team CA", *KeySpec::parse("p256"), 365, "root", std::nullopt, false, "test"}));
  // A root is in no register: it cannot be revoked, only expire.
  auto root_revoked = ca.authority->revoke(RevokeRequest{serial_of_ca(ca, "root"), std::nullopt,
                                                         RevocationReason::ca_compromise, std::nullopt, "test"});
  REQUIRE_FALSE(root_revoked);
  CHECK(root_revoked.error().code == Errc::not_found);
  // Revoke the parent of a grandchild: the grandchild is refused with the ancestor named.
  REQUIRE(ca.authority->create_ca({"grand", "Grand CA", *KeySpec::parse("p256"), 300, "team", 0, false, "test"}));
  REQUIRE(ca.authority->revoke(RevokeRequest{serial_of_ca(ca, "team"), "root", RevocationReason::ca_compromise,
                                             std::nullopt, "test"}));
  IssueRequest r;
  r.csr = ca.csr("p256", "/CN=leaf.example.com");
  r.profile = "nmos-node";
  r.requester = "test";
  r.ca = "grand";
  auto issued = ca.authority->issue(r);
  REQUIRE_FALSE(issued);
  INFO(issued.error().message);
  CHECK(issued.error().code == Errc::policy_refused);
  CHECK_THAT(issued.error().message, Catch::Contains("'team'") && Catch::Contains("revoked (cACompromise)"));
}
