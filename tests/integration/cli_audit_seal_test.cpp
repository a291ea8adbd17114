// verify-audit against an attacker who can write ca.db with sqlite3 but cannot read secrets/: an
// edited row with the chain recomputed, and the newest entries deleted.
#include "audit_forgery.hpp"
#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void issue_some(const Pki& pki) {
  for (const std::string name : {"a", "b", "c"}) {
    pki.issue(pki.csr(name, "p256", name + ".example.test", "DNS:" + name + ".example.test"));
  }
}

}  // namespace

TEST_CASE("verify-audit fails after an edited row whose chain was re-hashed", "[cli][audit][seal]") {
  Pki pki;
  issue_some(pki);
  auto intact = pki.fca_split("verify-audit");
  INFO(intact.err);
  REQUIRE(intact.exit_code == 0);
  CHECK(has(intact.out, "intact"));
  CHECK(has(intact.out, "keyed (HMAC) from entry 1"));

  // Entry 2 says someone else did it; every hash from there on recomputed, so the links all match.
  edit_and_rehash_audit(pki.dir() / "ca.db", 2, R"({"by":"mallory"})", Rehash::sha256);
  auto broken = pki.fca_split("verify-audit");
  INFO(broken.err);
  CHECK(broken.exit_code == 1);
  CHECK(has(broken.err, "entry 2"));
  CHECK(has(broken.err, "MAC mismatch"));
}

TEST_CASE("verify-audit fails after the newest 3 entries were deleted", "[cli][audit][seal]") {
  Pki pki;
  issue_some(pki);
  REQUIRE(pki.fca("verify-audit").exit_code == 0);
  const auto db = shell_quote((pki.dir() / "ca.db").string());
  auto deleted = run("sqlite3 " + db + " \"DROP TRIGGER audit_log_no_delete; "
                     "DELETE FROM audit_log WHERE sequence > (SELECT max(sequence) - 3 FROM audit_log);\"");
  INFO(deleted.output);
  REQUIRE(deleted.exit_code == 0);
  // What the old chain check would have said: the rest still links up.
  auto links = run("sqlite3 " + db + " \"SELECT count(*) FROM audit_log a JOIN audit_log b ON b.sequence = a.sequence + 1 "
                   "WHERE b.previous_hash <> a.hash\"");
  REQUIRE(links.output == "0\n");
  auto broken = pki.fca_split("verify-audit");
  INFO(broken.err);
  CHECK(broken.exit_code == 1);
  CHECK(has(broken.err, "newest 3 entries are missing"));
}
