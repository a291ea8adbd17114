// The lab's issuance path: refused off a lab instance and to non-administrators with nothing
// written; on a lab, the deviations it exists for, each certificate marked lab-made in its row and
// its audit entry, the audit entry at the (injected) real time whatever the certificate's window.
#include <catch2/catch.hpp>

#include "fca/core/x509.hpp"
#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;

namespace {

LabIssueRequest expired_request(const ServiceFixture& f) {
  const auto now = f.clock.now();
  return LabIssueRequest{.kind = "expired",
                         .ca = std::nullopt,
                         .self_signed = false,
                         .common_name = "expired.localhost",
                         .sans = {SubjectAltName{SubjectAltName::Kind::dns, "expired.localhost"}},
                         .profile = "nmos-node",
                         .not_before = now - std::chrono::days(60),
                         .not_after = now - std::chrono::days(30),
                         .sha1 = false,
                         .without_aia = false,
                         .subject_key = nullptr,
                         .requester = {}};
}

std::size_t certificate_rows(ServiceFixture& f) {
  CertificateFilter all;
  all.limit = 100000;
  return f.database->list_certificates(all)->size();
}

}  // namespace

TEST_CASE("lab issuance is refused off a lab instance and to non-administrators, writing nothing", "[service][lab]") {
  ServiceFixture f;
  const auto rows = certificate_rows(f);
  const auto entries = f.audit_entries();
  auto refused = f.service->lab_issue(f.admin, expired_request(f), *KeySpec::parse("p256"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::policy_refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not a lab instance"));
  const auto now = f.clock.now();
  auto ca = f.service->lab_create_ca(f.admin, LabCaRequest{.name = "lab-x", .common_name = "X", .kind = "x",
                                                           .key = *KeySpec::parse("p256"), .parent = "root",
                                                           .path_length = std::nullopt, .not_before = now,
                                                           .not_after = now + std::chrono::days(1), .requester = {}});
  REQUIRE_FALSE(ca);
  CHECK(ca.error().code == Errc::policy_refused);

  REQUIRE(f.service->mark_lab_instance(f.admin));
  const auto marked_entries = f.audit_entries();
  auto by_operator = f.service->lab_issue(f.operator_, expired_request(f), *KeySpec::parse("p256"));
  REQUIRE_FALSE(by_operator);
  CHECK(by_operator.error().code == Errc::policy_refused);
  CHECK(certificate_rows(f) == rows);
  CHECK(f.audit_entries() == marked_entries);
  CHECK(marked_entries == entries + 1);  // the mark itself

  // Production issuance on a lab instance is still production issuance: not lab-made.
  auto plain = f.service->issue(f.admin, f.request("plain.example.com"));
  REQUIRE(plain);
  CHECK_FALSE(plain->certificate.record.lab_made);
}

TEST_CASE("a lab certificate is back-dated in its window only: row and audit say lab and the real time",
          "[service][lab]") {
  ServiceFixture f;
  REQUIRE(f.service->mark_lab_instance(f.admin));
  const auto before = f.audit_entries();
  auto minted = f.service->lab_issue(f.admin, expired_request(f), *KeySpec::parse("p256"));
  REQUIRE(minted);
  const auto& record = minted->issued.record;
  CHECK(record.lab_made);
  CHECK(record.not_after < f.clock.now());
  CHECK(record.issued_at == f.clock.now());

  auto stored = f.database->find_certificate(record.issuer_id, record.serial);
  REQUIRE(stored);
  CHECK(stored->lab_made);
  CHECK(stored->requester == f.admin.id);
  const auto written = f.audit_since(before);
  REQUIRE(written.size() == 1);
  CHECK(written[0].event.action == "certificate.issue");
  CHECK_THAT(written[0].event.detail, Catch::Contains("\"lab\":true") && Catch::Contains("\"kind\":\"expired\""));
  CHECK(std::chrono::abs(written[0].event.at - f.clock.now()) < std::chrono::seconds(1));
  CHECK_THAT(f.openssl_verify(minted->issued.pem()).output, Catch::Contains("certificate has expired"));

  // RSA-1024, SHA-1 and no AIA/CDP: what production refuses or never does.
  auto weak = expired_request(f);
  weak.kind = "weak-key";
  weak.not_after = f.clock.now() + std::chrono::days(30);
  weak.sha1 = true;
  weak.without_aia = true;
  auto weak_minted = f.service->lab_issue(f.admin, weak, KeySpec{KeyAlgorithm::rsa, 1024, ""});
  REQUIRE(weak_minted);
  const X509* cert = weak_minted->issued.certificate.get();
  CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(cert)) == 1024);
  CHECK(OBJ_obj2nid(X509_get0_tbs_sigalg(cert)->algorithm) == NID_ecdsa_with_SHA1);
  CHECK(X509_get_ext_by_NID(cert, NID_info_access, -1) < 0);
  CHECK(X509_get_ext_by_NID(cert, NID_crl_distribution_points, -1) < 0);
  CHECK(weak_minted->issued.record.lab_made);
}
