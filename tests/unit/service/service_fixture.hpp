#pragma once
// The service over a real SQLite database and file key store (AuthorityFixture: root, default issuing
// CA "issuing" below it, a ManualClock), plus a second issuing CA "other", and principals of each kind.
#include "../core/authority_fixture.hpp"
#include "fca/service/service.hpp"

namespace fca::test {

struct ServiceFixture : AuthorityFixture {
  std::unique_ptr<service::Service> service;
  service::Principal admin = service::Principal::cli("alice");
  // An EST client whose label allows the issuing CA and the nmos-node profile, and nothing else.
  service::Principal est = service::Principal::est("CN=node1.example.com", {"issuing"}, {"nmos-node"});
  service::Principal operator_ =
      service::Principal::api("ops-bot", {service::Role::operator_}, std::set<std::string>{"issuing"}, std::nullopt);
  service::Principal auditor = service::Principal::api("audit-bot", {service::Role::auditor}, std::nullopt, std::nullopt);

  ServiceFixture() {
    service = std::make_unique<service::Service>(service::ServiceContext{
        .cas = *database,
        .certificates = *database,
        .audit = *database,
        .enrollments = *database,
        .marks = *database,
        .authority = *authority,
        .clock = clock,
        .verify_audit = [this]() -> Result<service::AuditCheck> {
          auto checked = database->verify_audit();
          if (!checked) return std::unexpected(checked.error());
          return service::AuditCheck{checked->intact, checked->entries, checked->first_bad_sequence, checked->reason,
                                   checked->keyed_from, checked->head_count};
        },
    });
    auto other = authority->create_ca({"other", "Other Issuing CA", *KeySpec::parse("p256"), 3650, "root", 0, false, "test"});
    if (!other) throw std::runtime_error(other.error().message);
  }

  IssueRequest request(const std::string& cn, const std::string& profile = "nmos-node",
                       std::optional<std::string> ca = std::nullopt) {
    IssueRequest r;
    // CA and responder profiles carry no SANs; every other profile gets the CN as a DNS SAN.
    r.csr = csr("p256", "/CN=" + cn, profile == "sub-ca" || profile == "ocsp-signer" ? "" : "DNS:" + cn);
    r.profile = profile;
    r.ca = std::move(ca);
    return r;
  }

  std::int64_t audit_entries() { return static_cast<std::int64_t>(database->entries(0, 1000000)->size()); }
  std::vector<AuditEntry> audit_since(std::int64_t count) { return *database->entries(count, 1000000); }
};

}  // namespace fca::test
