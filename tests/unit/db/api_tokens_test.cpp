// The REST API's tables: tokens (hash only, one live token per name, revoke once), idempotency claims,
// and the statistics /metrics reads.
#include <catch2/catch.hpp>

#include "db_fixture.hpp"
#include "fca/db/database.hpp"

using fca::from_unix;
using fca::test::TempDir;
using fca::test::db::count_rows;
using fca::test::db::kNow;
using fca::test::db::open_database;

namespace {

fca::ApiTokenRecord token(std::string name, std::string hash) {
  fca::ApiTokenRecord t;
  t.name = std::move(name);
  t.secret_sha256 = std::move(hash);
  t.roles = {"operator"};
  t.profiles = std::vector<std::string>{"server"};
  t.created_by = "cli:root";
  t.created_at = from_unix(kNow);
  return t;
}

fca::AuditEvent audit(std::string action) { return fca::AuditEvent{"cli:root", std::move(action), "token:x", "{}", from_unix(kNow)}; }

}  // namespace

TEST_CASE("api tokens: stored by hash, one live token per name, revoked once, each change audited", "[db][api]") {
  TempDir dir;
  const auto file = dir / "ca.db";
  auto db = open_database(file);
  auto id = db->insert_token(token("ci", std::string(64, 'a')), audit("token.create"));
  REQUIRE(id);
  auto found = db->find_token_by_hash(std::string(64, 'a'));
  REQUIRE(found);
  CHECK(found->name == "ci");
  CHECK(found->roles == std::vector<std::string>{"operator"});
  CHECK_FALSE(found->cas.has_value());
  CHECK(found->profiles == std::vector<std::string>{"server"});
  CHECK(db->find_token_by_hash(std::string(64, 'b')).error().code == fca::Errc::not_found);

  auto twin = db->insert_token(token("ci", std::string(64, 'c')), audit("token.create"));
  REQUIRE_FALSE(twin);
  CHECK(twin.error().code == fca::Errc::conflict);
  CHECK(count_rows(file, "api_tokens") == 1);
  CHECK(count_rows(file, "audit_log", "action = 'token.create'") == 1);  // the refused insert left no entry

  REQUIRE(db->touch_token(*id, from_unix(kNow + 5)));
  CHECK(db->find_token(*id)->last_used_at == from_unix(kNow + 5));
  auto revoked = db->revoke_token(*id, from_unix(kNow + 10), audit("token.revoke"));
  REQUIRE(revoked);
  CHECK(revoked->revoked_at == from_unix(kNow + 10));
  CHECK(db->revoke_token(*id, from_unix(kNow + 11), audit("token.revoke")).error().code == fca::Errc::conflict);
  CHECK(db->revoke_token(999, from_unix(kNow + 11), audit("token.revoke")).error().code == fca::Errc::not_found);
  CHECK(count_rows(file, "audit_log", "action = 'token.revoke'") == 1);
  // The name is free again once its token is revoked.
  CHECK(db->insert_token(token("ci", std::string(64, 'd')), audit("token.create")));
}

TEST_CASE("api idempotency keys: the first claim wins, a failed request releases its claim", "[db][api]") {
  TempDir dir;
  auto db = open_database(dir / "ca.db");
  const fca::IdempotencyRecord claim{"api:ci", "k1", "hash1", false, 0, {}, {}, from_unix(kNow)};
  auto first = db->claim_idempotency_key(claim);
  REQUIRE(first);
  CHECK_FALSE(first->has_value());
  auto second = db->claim_idempotency_key(claim);
  REQUIRE(second);
  REQUIRE(second->has_value());
  CHECK_FALSE((*second)->completed);
  auto done = claim;
  done.completed = true;
  done.status = 201;
  done.body = "{}";
  done.location = "/api/v1/certificates/0A";
  REQUIRE(db->complete_idempotency_key(done));
  auto third = db->claim_idempotency_key(claim);
  REQUIRE(third->has_value());
  CHECK((*third)->completed);
  CHECK((*third)->location == "/api/v1/certificates/0A");
  // Another principal's key of the same text is its own.
  auto other = db->claim_idempotency_key(fca::IdempotencyRecord{"api:other", "k1", "hash2", false, 0, {}, {}, from_unix(kNow)});
  REQUIRE(other);
  CHECK_FALSE(other->has_value());
  REQUIRE(db->release_idempotency_key("api:other", "k1"));
  CHECK_FALSE(db->claim_idempotency_key(fca::IdempotencyRecord{"api:other", "k1", "hash2", false, 0, {}, {}, from_unix(kNow)})->has_value());
  // A completed answer is never released.
  REQUIRE(db->release_idempotency_key("api:ci", "k1"));
  CHECK((*db->claim_idempotency_key(claim))->completed);
  CHECK(db->check_writable());
  // A day later the key is free again.
  auto next_day = claim;
  next_day.created_at = from_unix(kNow + fca::db::Database::kIdempotencyKeySeconds + 1);
  CHECK_FALSE(db->claim_idempotency_key(next_day)->has_value());
}
