// `facility-ca serve` as a CRL publisher: CRLs fetched over HTTP and the hash directory, checked by
// openssl verify; and a CRL that survives a restart.
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// The CRL number of a PEM CRL file; -1 when openssl cannot read it.
long long crl_number(const std::filesystem::path& crl_pem) {
  auto result = run("openssl crl -noout -crlnumber -in " + shell_quote(crl_pem.string()));
  const auto at = result.output.find("crlNumber=0x");
  if (result.exit_code != 0 || at == std::string::npos) return -1;
  return std::stoll(result.output.substr(at + 12), nullptr, 16);
}

std::string crl_text(const std::filesystem::path& crl_pem) {
  auto result = run("openssl crl -noout -text -in " + shell_quote(crl_pem.string()));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  return result.output;
}

// GET /crl/issuing.crl, check it is a DER CRL, and convert it to PEM with openssl; returns the PEM file.
std::filesystem::path fetch_der_crl(ServeFixture& server, const std::string& name) {
  auto response = server.http("", "/crl/issuing.crl");
  INFO(response.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(response.status == 200);
  CHECK(response.header("Content-Type") == "application/pkix-crl");
  CHECK(!response.header("Last-Modified").empty());
  CHECK(!response.header("Expires").empty());
  CHECK(!response.header("ETag").empty());
  const long max_age = max_age_of(response.header("Cache-Control"));
  CHECK(max_age > 0);
  CHECK(max_age <= 900);  // crl.max_age_seconds default
  const auto pem = server.file(name);
  auto converted = run("openssl crl -inform DER -in " + shell_quote(response.body_file.string()) + " -out " +
                       shell_quote(pem.string()));
  INFO(converted.output);
  REQUIRE(converted.exit_code == 0);
  return pem;
}

std::filesystem::path fetch_pem_crl(ServeFixture& server, const std::string& name) {
  auto response = server.http("", "/crl/issuing.pem");
  INFO(response.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(response.status == 200);
  CHECK(response.body.starts_with("-----BEGIN X509 CRL-----"));
  const auto pem = server.file(name);
  write_file(pem, response.body);
  return pem;
}

CommandResult verify_with_crl(const ServeFixture& server, const std::filesystem::path& crl_pem,
                              const std::filesystem::path& leaf) {
  return run("openssl verify -crl_check -CRLfile " + shell_quote(crl_pem.string()) + " -CAfile " +
             shell_quote(server.chain_pem().string()) + " " + shell_quote(leaf.string()));
}

CommandResult verify_with_hash_dir(const ServeFixture& server, const std::filesystem::path& leaf) {
  return run("openssl verify -no-CAfile -no-CAstore -CApath " + shell_quote((server.pki().dir() / "crl-hash").string()) +
             " -crl_check " + shell_quote(leaf.string()));
}

void check_accepted(const CommandResult& result, const std::filesystem::path& leaf) {
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(contains(result.output, leaf.string() + ": OK"));
}

void check_revoked(const CommandResult& result) {
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(contains(result.output, "certificate revoked"));
}

// A status change by the CLI makes only the delta CRL; serve rebuilds the full CRL (and the hash
// directory's copy) in the background within crl.rebuild_check_seconds: wait, bounded, for that.
void wait_for_rebuild(const ServeFixture& server, int& rebuilds) {
  ++rebuilds;
  INFO(server.log());
  REQUIRE(server.wait_for_log("rebuilt 1 full CRL(s)", rebuilds));
}

}  // namespace

TEST_CASE("serve: CRLs over HTTP and the hash directory follow revocations without a restart", "[serve][crl]") {
  ServeFixture server;
  const auto good = server.issue_leaf("good");
  const auto bad = server.issue_leaf("bad");
  const auto paused = server.issue_leaf("paused");
  const auto bad_serial = server.pki().serial_of(bad);
  const auto paused_serial = server.pki().serial_of(paused);

  const auto before = fetch_der_crl(server, "before.pem");
  const long long number_before = crl_number(before);
  CHECK(number_before >= 1);
  check_accepted(verify_with_crl(server, before, bad), bad);
  check_accepted(verify_with_hash_dir(server, bad), bad);

  int rebuilds = 0;
  server.cli("revoke " + bad_serial + " --reason keyCompromise");
  wait_for_rebuild(server, rebuilds);

  // DER over HTTP, converted by openssl.
  const auto der_crl = fetch_der_crl(server, "after-der.pem");
  const long long number_after = crl_number(der_crl);
  CHECK(number_after > number_before);
  const auto text = crl_text(der_crl);
  CHECK(contains(text, "Serial Number: " + bad_serial));
  CHECK(contains(text, "Key Compromise"));
  CHECK(contains(text, "Issuer: CN = Facility Issuing CA"));
  check_revoked(verify_with_crl(server, der_crl, bad));
  check_accepted(verify_with_crl(server, der_crl, good), good);

  // PEM over HTTP, used as is.
  const auto pem_crl = fetch_pem_crl(server, "after-pem.pem");
  CHECK(crl_number(pem_crl) == number_after);
  check_revoked(verify_with_crl(server, pem_crl, bad));
  check_accepted(verify_with_crl(server, pem_crl, good), good);

  // The hash directory (CA certificates and their CRLs under subject-hash names), nothing else trusted.
  check_revoked(verify_with_hash_dir(server, bad));
  check_accepted(verify_with_hash_dir(server, good), good);

  // Hold and release: rejected while held, accepted again after, each time from what is served now.
  server.cli("hold " + paused_serial);
  wait_for_rebuild(server, rebuilds);
  const auto held_crl = fetch_der_crl(server, "held.pem");
  CHECK(crl_number(held_crl) > number_after);
  CHECK(contains(crl_text(held_crl), "Certificate Hold"));
  check_revoked(verify_with_crl(server, held_crl, paused));
  check_revoked(verify_with_hash_dir(server, paused));
  server.cli("unhold " + paused_serial);
  wait_for_rebuild(server, rebuilds);
  const auto released_crl = fetch_der_crl(server, "released.pem");
  CHECK_FALSE(contains(crl_text(released_crl), "Serial Number: " + paused_serial));
  check_accepted(verify_with_crl(server, released_crl, paused), paused);
  check_accepted(verify_with_hash_dir(server, paused), paused);
  check_revoked(verify_with_hash_dir(server, bad));

  // The CA certificate the AIA names: DER, and the same certificate as `ca show issuing`.
  auto ca = server.http("", "/ca/issuing.crt");
  INFO(ca.describe());
  REQUIRE(ca.status == 200);
  CHECK(ca.header("Content-Type") == "application/pkix-cert");
  auto same = run("openssl x509 -inform DER -in " + shell_quote(ca.body_file.string()) + " -noout -fingerprint -sha256 && "
                  "openssl x509 -in " + shell_quote(server.pki().issuing_pem().string()) + " -noout -fingerprint -sha256");
  INFO(same.output);
  REQUIRE(same.exit_code == 0);
  const auto first_line = same.output.substr(0, same.output.find('\n'));
  CHECK(first_line.starts_with("sha256 Fingerprint="));
  CHECK(occurrences_of(same.output, first_line) == 2);

  // A conditional GET of the current CRL: 304.
  auto current = server.http("", "/crl/issuing.crl");
  auto conditional = server.http("-H " + shell_quote("If-None-Match: " + current.header("ETag")), "/crl/issuing.crl");
  INFO(conditional.describe());
  CHECK(conditional.status == 304);
  CHECK(conditional.body.empty());
  // Unknown CAs and odd names are 404, not a crash.
  CHECK(server.http("", "/crl/nosuchca.crl").status == 404);
  CHECK(server.http("", "/crl/..%2Fconfig.json").status == 404);
  SERVE_CHECK(server, server.running());
}

TEST_CASE("serve: SIGTERM exits 0 and the CRL outlives a restart", "[serve][crl][restart]") {
  ServeFixture server;
  const auto bad = server.issue_leaf("gone");
  const auto good = server.issue_leaf("kept");
  const auto bad_serial = server.pki().serial_of(bad);
  int rebuilds = 0;
  server.cli("revoke " + bad_serial + " --reason keyCompromise");
  wait_for_rebuild(server, rebuilds);
  const auto first = fetch_der_crl(server, "first.pem");
  const long long number = crl_number(first);
  REQUIRE(number >= 1);
  CHECK(contains(crl_text(first), "Serial Number: " + bad_serial));

  const int code = server.stop();
  {
    INFO("server stderr:\n" << server.log());
    CHECK(code == 0);
    CHECK_FALSE(server.killed_after_grace());
    CHECK(contains(server.log(), "SIGTERM"));
    CHECK(contains(server.log(), "stopped"));
  }
  // The access log (stdout) has the requests that were served.
  CHECK(contains(server.access_log(), "GET /crl/issuing.crl 200"));
  // Nothing listens any more.
  CHECK_FALSE(loopback_port_accepts(server.port()));

  server.start();
  const auto second = fetch_der_crl(server, "second.pem");
  CHECK(crl_number(second) >= number);
  CHECK(contains(crl_text(second), "Serial Number: " + bad_serial));
  check_revoked(verify_with_crl(server, second, bad));
  check_accepted(verify_with_crl(server, second, good), good);
  check_revoked(verify_with_hash_dir(server, bad));
  // OCSP agrees after the restart.
  auto ocsp = server.ocsp_query(bad);
  INFO(ocsp.output << "\nserver stderr:\n" << server.log());
  CHECK(contains(ocsp.output, "Response verify OK"));
  CHECK(contains(ocsp.output, ": revoked"));
  CHECK(contains(ocsp.output, "Reason: keyCompromise"));
}
