// The application takes its time from the clock injected at Instance::open: moved across a CA's
// expiry, the commands' service refuses to issue.
#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "instance.hpp"
#include "test_support.hpp"

using namespace fca;

TEST_CASE("Instance uses the injected clock for issuing and for the issuer-status gate", "[app][clock]") {
  fca::test::TempDir dir;
  auto config = app::parse_config(nlohmann::json{{"keys", {{"allow_unencrypted", true}}}}, "test");
  REQUIRE(config);
  const auto start = std::chrono::system_clock::now() + std::chrono::days(400);
  auto clock = std::make_shared<ManualClock>(start);
  auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto instance = app::Instance::open(dir.path(), std::move(*config), logger, clock);
  REQUIRE(instance);
  auto& service = (*instance)->service();
  const auto& who = (*instance)->operator_principal();
  CHECK(who.id.starts_with("cli:"));
  CHECK(who.is_admin());

  auto root = service.create_ca(who, {"root", "Clock Root", *KeySpec::parse("p256"), 30, std::nullopt, std::nullopt, true, ""});
  REQUIRE(root);
  // Dated by the injected clock, not the wall clock (which is 400 days earlier).
  CHECK(std::chrono::abs(root->created_at - start) < std::chrono::seconds(1));
  CHECK(root->not_after > start + std::chrono::days(29));

  auto csr = fca::test::make_csr_with_openssl(dir / "leaf.key", "p256", "/CN=leaf.example.com", "DNS:leaf.example.com");
  auto issued = service.issue(who, IssueRequest{csr, "nmos-node", "", std::nullopt, 5});
  REQUIRE(issued);
  CHECK(issued->certificate.record.issued_at >= start);

  clock->set(root->not_after + std::chrono::seconds(1));
  auto late = service.issue(who, IssueRequest{csr, "nmos-node", "", std::nullopt, 5});
  REQUIRE_FALSE(late);
  CHECK(late.error().code == Errc::policy_refused);
  CHECK_THAT(late.error().message, Catch::Contains("CA 'root' has expired"));
}
