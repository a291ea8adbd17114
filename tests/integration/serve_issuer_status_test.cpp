// Issuer-status gates seen from outside: a CA revoked in its parent's register issues nothing from
// the CLI, and `facility-ca serve` answers `revoked` for what it issued once its key is compromised.
#include "serve_fixture.hpp"

using namespace fca::test;

TEST_CASE("serve: OCSP says revoked for certificates of a CA revoked for keyCompromise", "[serve][ocsp][gate]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("below-issuing");
  for (const std::string variant : {"-nonce", "-no_nonce"}) {
    auto good = server.ocsp_query(leaf, variant);
    INFO(good.output << "\nserver stderr:\n" << server.log());
    CHECK(contains(good.output, ": good\n"));
  }

  // The issuing CA's own certificate is a row in the root's register; revoke it there, from another process.
  const auto issuing_serial = server.pki().serial_of(server.pki().issuing_pem());
  server.cli("revoke --ca root " + issuing_serial + " --reason keyCompromise");

  for (const std::string variant : {"-nonce", "-no_nonce"}) {
    auto revoked = server.ocsp_query(leaf, variant);
    INFO(variant << "\n" << revoked.output << "\nserver stderr:\n" << server.log());
    CHECK(revoked.exit_code == 0);
    CHECK(contains(revoked.output, "Response verify OK"));
    CHECK(contains(revoked.output, leaf.string() + ": revoked\n"));
    CHECK(contains(revoked.output, "Reason: cACompromise"));
    CHECK(contains(revoked.output, "Revocation Time: "));
  }

  // And the CLI may no longer issue under it: refused (exit 3) with the reason, and no row.
  const auto rows = server.pki().certificate_rows();
  const auto csr = server.pki().csr("late", "p256", "late.example.test", "DNS:late.example.test");
  auto refused = server.pki().fca_split("issue --csr " + shell_quote(csr.string()) + " --profile nmos-node");
  INFO(refused.err);
  CHECK(refused.exit_code == 3);
  CHECK(contains(refused.err, "CA 'issuing' is revoked (keyCompromise)"));
  CHECK(server.pki().certificate_rows() == rows);
}
