// Lab faults through the service: administrators only, lab instances only, audited, validated before
// anything is written; and the read-only source serve uses sees each commit in its very next call and
// lets a fault lapse at its expiry.
#include <catch2/catch.hpp>

#include "fca/db/lab_faults.hpp"
#include "fca/service/lab_faults.hpp"
#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;

namespace {

struct LabFixture : ServiceFixture {
  service::LabFaultService faults{*service, *database, *database, clock};
  std::size_t rows() {
    auto listed = database->list_lab_faults();
    REQUIRE(listed);
    return listed->size();
  }
};

service::LabFaultSpec ocsp(const std::string& mode) {
  service::LabFaultSpec spec;
  spec.kind = LabFaultKind::ocsp;
  spec.mode = mode;
  return spec;
}

}  // namespace

TEST_CASE("lab fault durations: a whole number and s, m or h", "[service][lab]") {
  CHECK(*service::parse_lab_duration("30s") == std::chrono::seconds(30));
  CHECK(*service::parse_lab_duration("10m") == std::chrono::seconds(600));
  CHECK(*service::parse_lab_duration("2h") == std::chrono::seconds(7200));
  for (const auto* bad : {"", "s", "10", "0s", "-5s", "1.5m", "10d", "m10", " 10s", "10 s", "99999999999s"}) {
    INFO(bad);
    auto parsed = service::parse_lab_duration(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::invalid_input);
  }
}

TEST_CASE("lab faults are refused off a lab instance and to non-administrators, writing nothing", "[service][lab]") {
  LabFixture f;
  const auto audit_before = f.audit_entries();
  auto refused = f.faults.set(f.admin, ocsp("tryLater"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::policy_refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not a lab instance"));
  CHECK_FALSE(f.faults.list(f.admin));
  CHECK_FALSE(f.faults.clear(f.admin, std::nullopt));

  REQUIRE(f.service->mark_lab_instance(f.admin));
  const auto audit_marked = f.audit_entries();
  CHECK(audit_marked == audit_before + 1);
  for (const auto* who : {&f.operator_, &f.auditor, &f.est}) {
    auto not_admin = f.faults.set(*who, ocsp("tryLater"));
    REQUIRE_FALSE(not_admin);
    CHECK(not_admin.error().code == Errc::policy_refused);
    CHECK_FALSE(f.faults.clear(*who, std::nullopt));
  }
  CHECK(f.rows() == 0);
  CHECK(f.audit_entries() == audit_marked);
}

TEST_CASE("lab fault set, list and clear: validated, audited, seen at once by serve's source", "[service][lab]") {
  LabFixture f;
  REQUIRE(f.service->mark_lab_instance(f.admin));
  auto source = db::SqliteLabFaultSource::open(f.dir / "ca.db");
  REQUIRE(source);
  REQUIRE((*source)->active_faults(f.clock.now())->empty());

  const auto audit_before = f.audit_entries();
  SECTION("bad specs write nothing") {
    std::vector<service::LabFaultSpec> bad;
    bad.push_back(ocsp("sleepy"));
    bad.push_back(ocsp("delay"));  // no --ms
    auto long_delay = ocsp("delay");
    long_delay.delay_ms = service::kMaxLabFaultDelayMs + 1;
    bad.push_back(long_delay);
    auto ms_elsewhere = ocsp("stale");
    ms_elsewhere.delay_ms = 10;
    bad.push_back(ms_elsewhere);
    auto too_long = ocsp("tryLater");
    too_long.duration = service::kMaxLabFaultDuration + std::chrono::seconds(1);
    bad.push_back(too_long);
    auto both = ocsp("tryLater");
    both.ca = "issuing";
    both.serial = "01";
    bad.push_back(both);
    service::LabFaultSpec crl_without_ca;
    crl_without_ca.kind = LabFaultKind::crl;
    crl_without_ca.mode = "expired";
    bad.push_back(crl_without_ca);
    auto crl_ocsp_mode = crl_without_ca;
    crl_ocsp_mode.ca = "issuing";
    crl_ocsp_mode.mode = "stale";
    bad.push_back(crl_ocsp_mode);
    auto no_such_ca = ocsp("tryLater");
    no_such_ca.ca = "nosuch";
    bad.push_back(no_such_ca);
    for (const auto& spec : bad) {
      INFO(spec.mode);
      auto refused = f.faults.set(f.admin, spec);
      REQUIRE_FALSE(refused);
      CHECK((refused.error().code == Errc::invalid_input || refused.error().code == Errc::not_found));
    }
    CHECK(f.rows() == 0);
    CHECK(f.audit_entries() == audit_before);
  }

  SECTION("a fault applies until it expires, and a clear is seen in the next read") {
    auto spec = ocsp("delay");
    spec.delay_ms = 250;
    spec.serial = "0a:1b";
    spec.duration = std::chrono::seconds(30);
    auto set = f.faults.set(f.admin, spec);
    REQUIRE(set);
    CHECK(set->fault.serial == "0A1B");
    CHECK(set->fault.expires_at == f.clock.now() + std::chrono::seconds(30));
    CHECK(set->active);

    auto crl = service::LabFaultSpec{LabFaultKind::crl, "missing", "issuing", std::nullopt, std::chrono::seconds(60), std::nullopt};
    auto crl_set = f.faults.set(f.admin, crl);
    REQUIRE(crl_set);
    CHECK(crl_set->ca == "issuing");

    auto audit = f.audit_since(audit_before);
    REQUIRE(audit.size() == 2);
    CHECK(audit[0].event.action == "lab.fault-set");
    CHECK(audit[0].event.actor == f.admin.id);
    CHECK_THAT(audit[0].event.detail, Catch::Contains("\"mode\":\"delay\"") && Catch::Contains("\"serial\":\"0A1B\"") &&
                                    Catch::Contains("\"delay_ms\":250"));

    auto active = (*source)->active_faults(f.clock.now());
    REQUIRE(active);
    REQUIRE(active->size() == 2);
    CHECK((*active)[0].mode == "delay");
    CHECK((*active)[0].delay_ms == 250);
    CHECK((*active)[1].kind == LabFaultKind::crl);
    // At its expiry the OCSP fault no longer applies; the CRL one (60 s) still does.
    CHECK((*source)->active_faults(f.clock.now() + std::chrono::seconds(30))->size() == 1);
    CHECK((*source)->active_faults(f.clock.now() + std::chrono::seconds(60))->empty());
    f.clock.advance(std::chrono::seconds(31));
    auto listed = f.faults.list(f.admin);
    REQUIRE(listed);
    REQUIRE(listed->size() == 2);
    CHECK_FALSE((*listed)[0].active);
    CHECK((*listed)[1].active);

    auto unknown = f.faults.clear(f.admin, 999);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == Errc::not_found);
    CHECK(f.audit_since(audit_before).size() == 2);

    auto one = f.faults.clear(f.admin, crl_set->fault.id);
    REQUIRE(one);
    CHECK(*one == 1);
    CHECK((*source)->active_faults(f.clock.now())->empty());  // the next read sees the delete
    auto all = f.faults.clear(f.admin, std::nullopt);
    REQUIRE(all);
    CHECK(*all == 1);
    CHECK(f.rows() == 0);
    audit = f.audit_since(audit_before);
    REQUIRE(audit.size() == 4);
    CHECK(audit[2].event.action == "lab.fault-clear");
    CHECK_THAT(audit[3].event.detail, Catch::Contains("\"all\":true"));
  }
}
