// Who may do what: roles, CA and profile scopes, the administrator-only profiles, and the actor the
// audit log records. Every refusal is Errc::policy_refused and leaves no row.
#include <catch2/catch.hpp>

#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;

namespace {

template <class T>
void require_refused(const Result<T>& result, const std::string& reason) {
  REQUIRE_FALSE(result);
  INFO(result.error().message);
  CHECK(result.error().code == Errc::policy_refused);
  CHECK_THAT(result.error().message, Catch::Contains(reason));
}

}  // namespace

TEST_CASE("the CLI operator is an administrator: CA-making profiles and CA lifecycle", "[service][principal]") {
  ServiceFixture f;
  CHECK(f.admin.id == "cli:alice");
  CHECK(f.admin.is_admin());
  const auto rows = f.certificate_rows();
  auto sub = f.service->issue(f.admin, f.request("Sub CA", "sub-ca", "root"));
  REQUIRE(sub);
  CHECK(sub->certificate.record.profile == "sub-ca");
  auto responder = f.service->issue(f.admin, f.request("responder.example.com", "ocsp-signer"));
  REQUIRE(responder);
  CHECK(f.certificate_rows() == rows + 2);
  auto made = f.service->create_ca(f.admin, {"made", "Made CA", *KeySpec::parse("p256"), 365, "issuing", 0, false, "ignored"});
  REQUIRE(made);
  // The requester in a request is never trusted: the principal is the actor.
  CHECK(f.audit_since(f.audit_entries() - 2).back().event.actor == "cli:alice");
  CHECK(sub->certificate.record.requester == "cli:alice");
}

TEST_CASE("an EST client is limited to its label's CAs and profiles, never CA-making ones", "[service][principal]") {
  ServiceFixture f;
  const auto rows = f.certificate_rows();
  const auto audit = f.audit_entries();

  require_refused(f.service->issue(f.est, f.request("node1.example.com", "sub-ca")), "for administrators only");
  require_refused(f.service->issue(f.est, f.request("node1.example.com", "ocsp-signer")), "for administrators only");
  require_refused(f.service->issue(f.est, f.request("node1.example.com", "server")), "may not use profile 'server'");
  require_refused(f.service->issue(f.est, f.request("node1.example.com", "nmos-node", "other")), "may not use CA 'other'");
  // The default CA is resolved before the scope is checked: a scope cannot be dodged by naming none.
  REQUIRE(f.authority->set_default_ca("other", "test"));
  require_refused(f.service->issue(f.est, f.request("node1.example.com")), "may not use CA 'other'");
  REQUIRE(f.authority->set_default_ca("issuing", "test"));
  const auto audit_after_defaults = f.audit_entries();
  CHECK(audit_after_defaults == audit + 2);
  CHECK(f.certificate_rows() == rows);

  // Within its scope it issues, and is the actor of the entry.
  auto issued = f.service->issue(f.est, f.request("node1.example.com"));
  REQUIRE(issued);
  CHECK(issued->ca == "issuing");
  auto entries = f.audit_since(audit_after_defaults);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].event.actor == "est:CN=node1.example.com");
  CHECK(entries[0].event.action == "certificate.issue");

  // An enrollee revokes nothing, reads no register and no audit log, manages no CA.
  const auto serial = issued->certificate.record.serial;
  require_refused(f.service->revoke(f.est, RevokeRequest{serial, std::nullopt, RevocationReason::key_compromise, std::nullopt, ""}),
                  "may not revoke");
  require_refused(f.service->list_certificates(f.est, {}), "may not read certificates");
  require_refused(f.service->audit_entries(f.est, std::nullopt, 10), "may not read the audit log");
  require_refused(f.service->create_ca(f.est, {"x", "X", *KeySpec::parse("p256"), 365, "issuing", 0, false, ""}),
                  "may not manage CAs");
  require_refused(f.service->keygen_issue(f.est, service::KeygenRequest{"node2.example.com", {}, *KeySpec::parse("p256"),
                                                                        "sub-ca", std::nullopt, std::nullopt, std::nullopt}),
                  "for administrators only");
  CHECK(f.certificate_rows() == rows + 1);
  CHECK_FALSE(f.database->find_ca(std::string_view("x")));
  CHECK(f.service->get_certificate(f.admin, serial, std::nullopt)->record.status == CertificateStatus::valid);
}

TEST_CASE("an API operator token works inside its CA scope only", "[service][principal]") {
  ServiceFixture f;
  auto elsewhere = f.service->issue(f.admin, f.request("elsewhere.example.com", "server", "other"));
  REQUIRE(elsewhere);
  const auto rows = f.certificate_rows();

  auto issued = f.service->issue(f.operator_, f.request("web.example.com", "server"));
  REQUIRE(issued);
  CHECK(issued->certificate.record.requester == "api:ops-bot");
  require_refused(f.service->issue(f.operator_, f.request("Team CA", "sub-ca")), "for administrators only");
  require_refused(f.service->issue(f.operator_, f.request("web2.example.com", "server", "other")), "may not use CA 'other'");
  CHECK(f.certificate_rows() == rows + 1);

  // Listing shows its CA's certificates only, and the other CA's are out of reach.
  auto listed = f.service->list_certificates(f.operator_, {});
  REQUIRE(listed);
  for (const auto& c : listed->items) CHECK(c.ca == "issuing");
  CHECK(std::ranges::any_of(listed->items, [&](const auto& c) { return c.record.serial == issued->certificate.record.serial; }));
  require_refused(f.service->get_certificate(f.operator_, elsewhere->certificate.record.serial, std::nullopt),
                  "may not use CA 'other'");
  require_refused(f.service->revoke(f.operator_, RevokeRequest{elsewhere->certificate.record.serial, std::nullopt,
                                                               RevocationReason::superseded, std::nullopt, ""}),
                  "may not use CA 'other'");
  CHECK(f.service->get_certificate(f.admin, elsewhere->certificate.record.serial, std::nullopt)->record.status ==
        CertificateStatus::valid);

  // Revoking in scope works and names the operator; a CA certificate (profile sub-ca) is for administrators.
  auto revoked = f.service->revoke(f.operator_, RevokeRequest{issued->certificate.record.serial, std::nullopt,
                                                              RevocationReason::superseded, std::nullopt, ""});
  REQUIRE(revoked);
  CHECK(f.audit_since(f.audit_entries() - 1).front().event.actor == "api:ops-bot");
  auto sub = f.service->issue(f.admin, f.request("Sub CA", "sub-ca", "root"));
  REQUIRE(sub);
  // Even an operator without a CA scope leaves CA certificates alone.
  const auto unscoped = service::Principal::api("wide-bot", {service::Role::operator_}, std::nullopt, std::nullopt);
  require_refused(f.service->revoke(unscoped, RevokeRequest{sub->certificate.record.serial, std::nullopt,
                                                            RevocationReason::superseded, std::nullopt, ""}),
                  "for administrators only");
  CHECK(f.service->get_certificate(f.admin, sub->certificate.record.serial, std::nullopt)->record.status ==
        CertificateStatus::valid);
  require_refused(f.service->audit_entries(f.operator_, std::nullopt, 10), "may not read the audit log");
  require_refused(f.service->set_default_ca(f.operator_, "issuing"), "may not manage CAs");
}

TEST_CASE("an auditor reads and verifies, and changes nothing", "[service][principal]") {
  ServiceFixture f;
  REQUIRE(f.service->issue(f.admin, f.request("node.example.com")));
  const auto rows = f.certificate_rows();
  require_refused(f.service->issue(f.auditor, f.request("node2.example.com")), "may not issue certificates");
  CHECK(f.certificate_rows() == rows);
  auto listed = f.service->list_certificates(f.auditor, {});
  REQUIRE(listed);
  CHECK(listed->items.size() == static_cast<std::size_t>(rows));
  auto entries = f.service->audit_entries(f.auditor, std::nullopt, 1000);
  REQUIRE(entries);
  CHECK(static_cast<std::int64_t>(entries->items.size()) == f.audit_entries());
  auto verified = f.service->verify_audit(f.auditor);
  REQUIRE(verified);
  CHECK(verified->intact);
  require_refused(f.service->verify_audit(f.est), "may not read the audit log");
  // CA certificates are public: anyone, even a principal with no role, reads them.
  CHECK(f.service->list_cas(service::Principal::system("crl"))->size() == 3);
}

TEST_CASE("the issuer-status gate holds through the service too", "[service][gate]") {
  ServiceFixture f;
  const auto issuing = *f.database->find_ca(std::string_view("issuing"));
  f.clock.set(issuing.not_after + std::chrono::hours(1));
  const auto rows = f.certificate_rows();
  require_refused(f.service->issue(f.admin, f.request("late.example.com")), "has expired");
  CHECK(f.certificate_rows() == rows);
}
