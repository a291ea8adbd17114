// `facility-ca serve` with one CA whose key cannot be used: the other CAs are still served.
#include "serve_fixture.hpp"

using namespace fca::test;

TEST_CASE("serve: a CA whose key is gone does not take the other CAs' OCSP and CRLs down", "[serve][refresh]") {
  ServeFixture server({}, /*start_now=*/false);
  const auto leaf = server.issue_leaf("survivor");

  // The root's key file disappears (a broken disk, an operator's mistake): its OCSP responder certificate
  // can no longer be issued and its CRL no longer signed.
  auto key_uri = run("sqlite3 " + shell_quote(server.pki().dir().string() + "/ca.db") +
                                  " \"select key_uri from cas where name = 'root'\"");
  REQUIRE(key_uri.exit_code == 0);
  const auto key_file = trim(key_uri.output).substr(std::string("file:").size());
  REQUIRE(std::filesystem::remove(key_file));

  server.start();
  CHECK(contains(server.log(), "CA 'root'"));

  auto answer = server.ocsp_query(leaf, "-no_nonce");
  INFO(answer.output << "\nserver stderr:\n" << server.log());
  CHECK(answer.exit_code == 0);
  CHECK(contains(answer.output, "Response verify OK"));
  CHECK(contains(answer.output, ": good\n"));

  auto crl = server.http("", "/crl/issuing.crl");
  CHECK(crl.status == 200);
}
