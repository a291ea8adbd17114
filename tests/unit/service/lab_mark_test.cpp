// The lab mark: off by default, set only by an administrator, once, audited; it gates lab commands
// and puts "LAB" into the subject of every CA made afterwards.
#include <catch2/catch.hpp>

#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;

namespace {
bool is_lab(ServiceFixture& f) {
  auto lab = f.service->is_lab_instance();
  REQUIRE(lab);
  return *lab;
}

std::size_t audit_count(ServiceFixture& f, const std::string& action) {
  service::AuditQuery query;
  query.action = action;
  query.limit = service::Service::kMaxPage;
  auto page = f.service->audit_entries(f.admin, query);
  REQUIRE(page);
  return page->items.size();
}

CreateCaRequest ca_request(const std::string& name, const std::string& cn) {
  return CreateCaRequest{.name = name, .common_name = cn, .key = *KeySpec::parse("p256"), .validity_days = 365,
                         .parent = "root", .path_length = 0, .make_default = false, .requester = {}};
}
}  // namespace

TEST_CASE("an instance is not a lab until an administrator marks it", "[service][lab]") {
  ServiceFixture f;
  CHECK_FALSE(is_lab(f));
  auto refused = f.service->require_lab_instance();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::policy_refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not a lab instance"));

  // Not even an operator may mark it; nothing is written.
  auto by_operator = f.service->mark_lab_instance(f.operator_);
  REQUIRE_FALSE(by_operator);
  CHECK(by_operator.error().code == Errc::policy_refused);
  CHECK_FALSE(is_lab(f));
  CHECK(audit_count(f, "instance.mark-lab") == 0);

  // Outside a lab, CA names are left as given.
  auto plain = f.service->create_ca(f.admin, ca_request("plain", "Plain Issuing CA"));
  REQUIRE(plain);
  CHECK_THAT(plain->subject, Catch::Contains("CN=Plain Issuing CA"));
}

TEST_CASE("a lab instance is marked once, allows lab commands and names its CAs LAB", "[service][lab]") {
  ServiceFixture f;
  REQUIRE(f.service->mark_lab_instance(f.admin));
  REQUIRE(f.service->mark_lab_instance(f.admin));  // idempotent
  CHECK(is_lab(f));
  CHECK(f.service->require_lab_instance());
  CHECK(audit_count(f, "instance.mark-lab") == 1);

  auto prefixed = f.service->create_ca(f.admin, ca_request("bench", "Bench Issuing CA"));
  REQUIRE(prefixed);
  CHECK_THAT(prefixed->subject, Catch::Contains("CN=LAB Bench Issuing CA"));
  auto already = f.service->create_ca(f.admin, ca_request("lab2", "Plug-fest LAB CA"));
  REQUIRE(already);
  CHECK_THAT(already->subject, Catch::Contains("CN=Plug-fest LAB CA"));
}
