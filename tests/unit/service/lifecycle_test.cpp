// The service's listing, key generation, re-enrolment and enrolment requests.
#include <catch2/catch.hpp>

#include <openssl/pkcs12.h>

#include <set>

#include "fca/core/x509.hpp"
#include "fca/service/json.hpp"
#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;

TEST_CASE("certificate listing pages with an opaque cursor, no row twice, none missed", "[service][list]") {
  ServiceFixture f;
  const auto before = f.service->list_certificates(f.admin, {})->items.size();  // the CA certificates
  for (int i = 0; i < 5; ++i) REQUIRE(f.service->issue(f.admin, f.request("n" + std::to_string(i) + ".example.com")));

  service::CertificateQuery query;
  query.limit = 2;
  std::vector<std::string> serials;
  int pages = 0;
  for (;;) {
    auto page = f.service->list_certificates(f.admin, query);
    REQUIRE(page);
    ++pages;
    CHECK(page->items.size() <= 2);
    for (const auto& c : page->items) serials.push_back(c.record.serial);
    if (!page->next_cursor) break;
    query.cursor = page->next_cursor;
  }
  CHECK(serials.size() == before + 5);
  CHECK(std::set<std::string>(serials.begin(), serials.end()).size() == serials.size());
  CHECK(pages == static_cast<int>((before + 5 + 1) / 2));

  // Filters combine with paging.
  service::CertificateQuery node_only;
  node_only.profile = "nmos-node";
  node_only.ca = "issuing";
  CHECK(f.service->list_certificates(f.admin, node_only)->items.size() == 5);

  query.cursor = "not-a-cursor";
  auto bad = f.service->list_certificates(f.admin, query);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_input);
}

TEST_CASE("keygen-issue hands back the key, certificate, chain and a PKCS#12 under the password", "[service][keygen]") {
  ServiceFixture f;
  auto made = f.service->keygen_issue(f.operator_, service::KeygenRequest{
                                                       .common_name = "device.example.com",
                                                       .sans = {SubjectAltName{SubjectAltName::Kind::dns, "device.example.com"}},
                                                       .key = *KeySpec::parse("p256"),
                                                       .profile = "nmos-node",
                                                       .ca = std::nullopt,
                                                       .validity_days = 30,
                                                       .pkcs12_password = "s3cret pass",
                                                   });
  REQUIRE(made);
  CHECK(made->issued.record.requester == "api:ops-bot");
  CHECK(made->issued.chain.size() == 2);
  CHECK_THAT(made->key_pem, Catch::Contains("BEGIN ENCRYPTED PRIVATE KEY"));
  REQUIRE_FALSE(made->pkcs12.empty());

  const unsigned char* p = made->pkcs12.data();
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(made->pkcs12.size())));
  REQUIRE(p12);
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* cas = nullptr;
  CHECK(PKCS12_parse(p12.get(), "wrong", &key, &cert, &cas) == 0);
  REQUIRE(PKCS12_parse(p12.get(), "s3cret pass", &key, &cert, &cas) == 1);
  PKeyPtr key_owner(key);
  X509Ptr cert_owner(cert);
  X509StackPtr cas_owner(cas);
  CHECK(serial_hex(cert) == made->issued.record.serial);
  CHECK(X509_check_private_key(cert, key) == 1);
  CHECK(sk_X509_num(cas) == 2);

  auto plain = f.service->keygen_issue(f.admin, service::KeygenRequest{"plain.example.com", {}, *KeySpec::parse("ed25519"),
                                                                       "client", std::nullopt, std::nullopt, std::nullopt});
  REQUIRE(plain);
  CHECK_THAT(plain->key_pem, Catch::Contains("BEGIN PRIVATE KEY"));
  CHECK(plain->pkcs12.empty());
}

TEST_CASE("re-enrolment by the presented certificate: same names, never revoked or held, never un-revokes",
          "[service][reenroll]") {
  ServiceFixture f;
  const std::string cn = "node1.example.com";
  auto first = f.service->issue(f.est, f.request(cn));
  REQUIRE(first);
  const auto presented = first->certificate.pem();

  auto again = f.service->reenroll(f.est, presented, f.csr("p256", "/CN=" + cn, "DNS:" + cn));
  REQUIRE(again);
  CHECK(again->certificate.record.renewal_of == first->certificate.record.serial);
  CHECK(again->certificate.record.common_name == cn);
  CHECK(again->certificate.record.requester == "est:CN=node1.example.com");

  const auto rows = f.certificate_rows();
  auto other_cn = f.service->reenroll(f.est, presented, f.csr("p256", "/CN=evil.example.com", "DNS:evil.example.com"));
  REQUIRE_FALSE(other_cn);
  CHECK(other_cn.error().code == Errc::policy_refused);
  auto extra_san = f.service->reenroll(f.est, presented, f.csr("p256", "/CN=" + cn, "DNS:" + cn + ",DNS:evil.example.com"));
  REQUIRE_FALSE(extra_san);
  CHECK(extra_san.error().code == Errc::policy_refused);

  // A certificate we never issued (the same names, another CA outside this instance) is refused.
  auto stranger = fca::test::run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
                                 " -keyout " + fca::test::shell_quote((f.dir / "s.key").string()) + " -out " +
                                 fca::test::shell_quote((f.dir / "s.pem").string()) + " -days 1");
  REQUIRE(stranger.exit_code == 0);
  auto foreign = f.service->reenroll(f.est, fca::test::read_file(f.dir / "s.pem"), f.csr("p256", "/CN=" + cn, "DNS:" + cn));
  REQUIRE_FALSE(foreign);
  CHECK_THAT(foreign.error().message, Catch::Contains("not issued by this instance"));

  // Held, then revoked: never re-enrols, and nothing it does makes it valid again.
  const auto serial = first->certificate.record.serial;
  REQUIRE(f.service->revoke(f.admin, RevokeRequest{serial, std::nullopt, RevocationReason::certificate_hold, std::nullopt, ""}));
  auto held = f.service->reenroll(f.est, presented, f.csr("p256", "/CN=" + cn, "DNS:" + cn));
  REQUIRE_FALSE(held);
  CHECK_THAT(held.error().message, Catch::Contains("on-hold"));
  REQUIRE(f.service->release_hold(f.admin, serial, std::nullopt));
  REQUIRE(f.service->revoke(f.admin, RevokeRequest{serial, std::nullopt, RevocationReason::key_compromise, std::nullopt, ""}));
  auto revoked = f.service->reenroll(f.est, presented, f.csr("p256", "/CN=" + cn, "DNS:" + cn));
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().code == Errc::policy_refused);
  auto renewed = f.service->renew(f.admin, serial, std::nullopt, f.csr("p256", "/CN=" + cn, "DNS:" + cn));
  REQUIRE_FALSE(renewed);
  CHECK(f.certificate_rows() == rows);
  CHECK(f.service->get_certificate(f.admin, serial, std::nullopt)->record.status == CertificateStatus::revoked);
}

TEST_CASE("enrolment requests: submit, pending, approve or reject, with the stored CSR", "[service][enrollment]") {
  ServiceFixture f;
  const auto rows = f.certificate_rows();
  const std::string csr = f.csr("p256", "/CN=node1.example.com", "DNS:node1.example.com");
  auto submitted = f.service->submit_enrollment(f.est, {csr, "nmos-node", std::nullopt, "studio-a/node1"});
  REQUIRE(submitted);
  CHECK(submitted->record.state == EnrollmentState::pending);
  CHECK(submitted->record.requester == "est:CN=node1.example.com");
  CHECK(submitted->ca == "issuing");
  CHECK(f.certificate_rows() == rows);  // nothing issued yet

  // The requester may look at its own request; another enrollee may not.
  CHECK(f.service->get_enrollment(f.est, submitted->record.id));
  auto stranger = service::Principal::est("CN=node2.example.com", {"issuing"}, {"nmos-node"});
  auto peek = f.service->get_enrollment(stranger, submitted->record.id);
  REQUIRE_FALSE(peek);
  CHECK(peek.error().code == Errc::policy_refused);

  // Out of scope or administrator-only profiles are refused at submission, with no row.
  auto sub = f.service->submit_enrollment(f.est, {csr, "sub-ca", std::nullopt, "x"});
  REQUIRE_FALSE(sub);
  CHECK(sub.error().code == Errc::policy_refused);
  auto other = f.service->submit_enrollment(f.est, {csr, "nmos-node", "other", "x"});
  REQUIRE_FALSE(other);
  CHECK(other.error().code == Errc::policy_refused);

  service::EnrollmentQuery pending;
  pending.state = EnrollmentState::pending;
  auto queue = f.service->list_enrollments(f.operator_, pending);
  REQUIRE(queue);
  REQUIRE(queue->items.size() == 1);
  CHECK(queue->items[0].record.csr_pem == to_pem(parse_csr(csr)->get()));
  CHECK(queue->items[0].record.label == "studio-a/node1");
  auto enrollee_approves = f.service->approve_enrollment(f.est, submitted->record.id);
  REQUIRE_FALSE(enrollee_approves);
  CHECK(enrollee_approves.error().code == Errc::policy_refused);

  auto approved = f.service->approve_enrollment(f.operator_, submitted->record.id);
  REQUIRE(approved);
  CHECK(f.certificate_rows() == rows + 1);
  auto after = f.service->get_enrollment(f.est, submitted->record.id);
  REQUIRE(after);
  CHECK(after->record.state == EnrollmentState::approved);
  CHECK(after->record.decided_by == "api:ops-bot");
  CHECK(after->record.certificate_serial == approved->certificate.record.serial);
  CHECK(service::to_json(*after)["certificate_serial"] == approved->certificate.record.serial);
  auto twice = f.service->approve_enrollment(f.operator_, submitted->record.id);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == Errc::conflict);
  CHECK(f.certificate_rows() == rows + 1);

  auto second = f.service->submit_enrollment(f.est, {csr, "nmos-node", std::nullopt, "studio-a/node1 again"});
  REQUIRE(second);
  auto rejected = f.service->reject_enrollment(f.operator_, second->record.id, "duplicate");
  REQUIRE(rejected);
  CHECK(rejected->record.state == EnrollmentState::rejected);
  CHECK(rejected->record.reason == "duplicate");
  CHECK_FALSE(f.service->approve_enrollment(f.operator_, second->record.id));
  CHECK(f.certificate_rows() == rows + 1);
  CHECK(f.service->list_enrollments(f.operator_, pending)->items.empty());
}

TEST_CASE("an approval that policy refuses issues nothing and leaves the request pending", "[service][enrollment]") {
  ServiceFixture f;
  // Policy decides at approval, not at submission: a wildcard (refused by default) is stored, then refused.
  const std::string csr = f.csr("p256", "/CN=*.example.com", "DNS:*.example.com");
  auto submitted = f.service->submit_enrollment(f.est, {csr, "nmos-node", std::nullopt, "wild"});
  REQUIRE(submitted);
  const auto rows = f.certificate_rows();
  auto approved = f.service->approve_enrollment(f.operator_, submitted->record.id);
  REQUIRE_FALSE(approved);
  INFO(approved.error().message);
  CHECK(approved.error().code == Errc::policy_refused);
  CHECK(f.certificate_rows() == rows);
  auto after = f.service->get_enrollment(f.operator_, submitted->record.id);
  REQUIRE(after);
  CHECK(after->record.state == EnrollmentState::pending);
  CHECK_FALSE(after->record.certificate_serial);
}
