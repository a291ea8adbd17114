// TokenService over a real SQLite database with a ManualClock: who may manage tokens, what a token
// authenticates as, and every way one stops working.
#include <catch2/catch.hpp>

#include "fca/db/database.hpp"
#include "fca/service/tokens.hpp"
#include "test_support.hpp"

using fca::service::Principal;
using fca::service::Role;
using fca::service::TokenRefusal;
using fca::service::TokenService;
using fca::service::TokenSpec;

TEST_CASE("tokens: administrators manage them; a token authenticates as its name, roles and scope", "[api][tokens]") {
  fca::test::TempDir dir;
  auto db = fca::db::Database::open(dir / "ca.db");
  REQUIRE(db);
  fca::ManualClock clock(fca::from_unix(1'767'225'600));
  TokenService tokens(**db, clock);
  const auto admin = Principal::cli("root");
  const auto op = Principal::api("ops", {Role::operator_}, std::nullopt, std::nullopt);

  CHECK(tokens.create(op, TokenSpec{"x", {Role::auditor}, {}, {}, {}}).error().code == fca::Errc::policy_refused);
  CHECK(tokens.list(op).error().code == fca::Errc::policy_refused);
  CHECK(tokens.create(admin, TokenSpec{"Bad Name", {Role::auditor}, {}, {}, {}}).error().code == fca::Errc::invalid_input);
  CHECK(tokens.create(admin, TokenSpec{"x", {}, {}, {}, {}}).error().code == fca::Errc::invalid_input);
  CHECK(tokens.create(admin, TokenSpec{"x", {Role::enrollee}, {}, {}, {}}).error().code == fca::Errc::invalid_input);
  CHECK(tokens.create(admin, TokenSpec{"x", {Role::auditor}, clock.now(), {}, {}}).error().code == fca::Errc::invalid_input);

  auto made = tokens.create(admin, TokenSpec{"ci", {Role::operator_}, clock.now() + std::chrono::hours(1),
                                             std::set<std::string>{"issuing"}, std::nullopt});
  REQUIRE(made);
  CHECK(made->secret.starts_with("fca_"));
  CHECK(made->secret.size() == 4 + 43);  // 256 bits, base64url without padding
  CHECK(made->record.secret_sha256.size() == 64);
  CHECK(made->record.secret_sha256.find(made->secret) == std::string::npos);
  auto other = tokens.create(admin, TokenSpec{"other", {Role::auditor}, {}, {}, {}});
  REQUIRE(other);
  CHECK(other->secret != made->secret);

  auto who = tokens.authenticate(made->secret);
  REQUIRE(who);
  CHECK(who->principal.id == "api:ci");
  CHECK(who->principal.roles == std::set<Role>{Role::operator_});
  CHECK(who->principal.cas == std::set<std::string>{"issuing"});
  CHECK_FALSE(who->principal.profiles.has_value());

  CHECK(tokens.authenticate("").error() == TokenRefusal::malformed);
  CHECK(tokens.authenticate("Bearer x").error() == TokenRefusal::malformed);
  auto wrong = made->secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  CHECK(tokens.authenticate(wrong).error() == TokenRefusal::unknown);

  clock.advance(std::chrono::hours(1));
  CHECK(tokens.authenticate(made->secret).error() == TokenRefusal::expired);
  CHECK(tokens.authenticate(other->secret));
  REQUIRE(tokens.revoke(admin, other->record.id));
  CHECK(tokens.authenticate(other->secret).error() == TokenRefusal::revoked);
  CHECK(tokens.revoke(admin, other->record.id).error().code == fca::Errc::conflict);

  // The audit log names tokens, never their secrets.
  auto entries = (*db)->entries(0, 100);
  REQUIRE(entries);
  int token_entries = 0;
  for (const auto& e : *entries) {
    if (e.event.action.starts_with("token.")) ++token_entries;
    CHECK(e.event.detail.find(made->secret) == std::string::npos);
    CHECK(e.event.detail.find(other->secret) == std::string::npos);
  }
  CHECK(token_entries == 3);  // two creates, one revoke
}
