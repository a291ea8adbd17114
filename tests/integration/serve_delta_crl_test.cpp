// Delta CRLs against a real `facility-ca serve`: a CLI revocation (another process) is in the served
// delta CRL as soon as the CLI returns, the full CRL is rebuilt by serve off the revocation path (once
// for a burst), and openssl verify -use_deltas combines what is served.
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

struct FetchedCrl {
  std::filesystem::path pem;
  long long number = -1;
  long long delta_base = -1;  // -1: a full CRL
  std::string text;
};

long long hex_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return -1;
  const auto colon = text.find('\n', at);
  const auto value_line_end = text.find('\n', colon + 1);
  std::string value = trim(text.substr(colon + 1, value_line_end - colon - 1));
  if (value.starts_with("0x")) return std::stoll(value.substr(2), nullptr, 16);
  return std::stoll(value);
}

// GET a DER CRL, check its headers, convert it with openssl and read its number (and delta base).
FetchedCrl fetch(ServeFixture& server, const std::string& path, const std::string& name) {
  auto response = server.http("", path);
  INFO(response.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(response.status == 200);
  CHECK(response.header("Content-Type") == "application/pkix-crl");
  CHECK(max_age_of(response.header("Cache-Control")) > 0);
  CHECK(!response.header("ETag").empty());
  CHECK(!response.header("Expires").empty());
  FetchedCrl crl;
  crl.pem = server.file(name);
  auto converted = run("openssl crl -inform DER -in " + shell_quote(response.body_file.string()) + " -out " +
                       shell_quote(crl.pem.string()));
  INFO(converted.output);
  REQUIRE(converted.exit_code == 0);
  auto text = run("openssl crl -noout -text -in " + shell_quote(crl.pem.string()));
  REQUIRE(text.exit_code == 0);
  crl.text = text.output;
  crl.number = hex_after(crl.text, "X509v3 CRL Number");
  crl.delta_base = hex_after(crl.text, "X509v3 Delta CRL Indicator");
  return crl;
}

FetchedCrl full_crl(ServeFixture& server, const std::string& name) { return fetch(server, "/crl/issuing.crl", name); }
FetchedCrl delta_crl(ServeFixture& server, const std::string& name) {
  return fetch(server, "/crl/issuing-delta.crl", name);
}

bool lists(const FetchedCrl& crl, const std::string& serial) { return contains(crl.text, "Serial Number: " + serial); }

CommandResult verify_with_deltas(const ServeFixture& server, const FetchedCrl& full, const FetchedCrl& delta,
                                 const std::filesystem::path& leaf) {
  return run("openssl verify -crl_check -use_deltas -CRLfile " + shell_quote(full.pem.string()) + " -CRLfile " +
             shell_quote(delta.pem.string()) + " -CAfile " + shell_quote(server.chain_pem().string()) + " " +
             shell_quote(leaf.string()));
}

std::string full_crls_above(const ServeFixture& server, long long number) {
  return sqlite(server.pki(), "SELECT count(*) FROM crls WHERE issuer_id = (SELECT id FROM cas WHERE name = 'issuing') "
                              "AND base_number IS NULL AND number > " + std::to_string(number));
}

}  // namespace

TEST_CASE("serve: a CLI revocation is in the delta CRL at once; the full CRL waits for serve's rebuild, one per burst",
          "[serve][crl][delta]") {
  // No rebuild unless the test asks for one (SIGHUP runs the scheduler's pass), so what the CLI
  // alone leaves behind can be seen.
  ServeFixture server([](nlohmann::json& config) {
    config["crl"]["rebuild_check_seconds"] = 3600;
    config["serve"]["scheduler_interval_seconds"] = 3600;
  });
  const auto revoked = server.issue_leaf("revoked");
  const auto good = server.issue_leaf("good");
  std::vector<std::filesystem::path> burst;
  for (int i = 0; i < 4; ++i) burst.push_back(server.issue_leaf("burst" + std::to_string(i)));
  const auto revoked_serial = server.pki().serial_of(revoked);

  const auto base = full_crl(server, "base.pem");
  REQUIRE(base.number >= 1);
  CHECK(base.delta_base == -1);
  CHECK(contains(base.text, "Freshest CRL"));
  CHECK(contains(base.text, "/crl/issuing-delta.crl"));
  const auto empty_delta = delta_crl(server, "delta0.pem");
  CHECK(empty_delta.delta_base == base.number);
  CHECK(empty_delta.number > base.number);
  CHECK(contains(empty_delta.text, "No Revoked Certificates"));

  // The CLI (another process) revokes: when it returns, the served delta lists the certificate.
  server.cli("revoke " + revoked_serial + " --reason keyCompromise");
  const auto delta = delta_crl(server, "delta1.pem");
  CHECK(delta.delta_base == base.number);
  CHECK(delta.number > empty_delta.number);
  CHECK(lists(delta, revoked_serial));
  CHECK(contains(delta.text, "Key Compromise"));
  CHECK(contains(delta.text, "Delta CRL Indicator: critical"));
  // ...and the full CRL is the old one: neither the CLI nor a request rebuilt it.
  const auto stale = full_crl(server, "stale.pem");
  CHECK(stale.number == base.number);
  CHECK_FALSE(lists(stale, revoked_serial));
  CHECK(full_crls_above(server, base.number) == "0");

  // A relying party with the base and the delta sees the revocation.
  auto verdict = verify_with_deltas(server, stale, delta, revoked);
  INFO(verdict.output);
  CHECK(verdict.exit_code != 0);
  CHECK(contains(verdict.output, "certificate revoked"));
  auto accepted = verify_with_deltas(server, stale, delta, good);
  INFO(accepted.output);
  CHECK(accepted.exit_code == 0);

  // A burst: every change is in the next delta at once, the full CRL still untouched.
  for (const auto& leaf : burst) server.cli("revoke " + server.pki().serial_of(leaf) + " --reason superseded");
  const auto burst_delta = delta_crl(server, "delta2.pem");
  CHECK(burst_delta.number > delta.number);
  for (const auto& leaf : burst) CHECK(lists(burst_delta, server.pki().serial_of(leaf)));
  CHECK(full_crl(server, "still-stale.pem").number == base.number);

  // One rebuild pass: the five changes make one full CRL, numbered above every delta so far, and a
  // fresh (empty) delta against it.
  const int passes_before = occurrences_of(server.log(), "regenerated 1 CRL(s)");
  server.send_signal(SIGHUP);
  REQUIRE(server.wait_for_log("regenerated 1 CRL(s)", passes_before + 1));
  CHECK(full_crls_above(server, base.number) == "1");
  const auto rebuilt = full_crl(server, "rebuilt.pem");
  CHECK(rebuilt.number > burst_delta.number);
  CHECK(lists(rebuilt, revoked_serial));
  for (const auto& leaf : burst) CHECK(lists(rebuilt, server.pki().serial_of(leaf)));
  const auto after = delta_crl(server, "delta3.pem");
  CHECK(after.delta_base == rebuilt.number);
  CHECK(contains(after.text, "No Revoked Certificates"));
  SERVE_CHECK(server, server.running());
}

TEST_CASE("serve: a CLI revocation's full CRL is rebuilt in the background within seconds", "[serve][crl][delta]") {
  ServeFixture server;  // crl.rebuild_check_seconds: 1 (the default)
  const auto leaf = server.issue_leaf("later");
  const auto serial = server.pki().serial_of(leaf);
  const auto base = full_crl(server, "base.pem");
  const auto started = std::chrono::steady_clock::now();
  server.cli("hold " + serial);
  CHECK(lists(delta_crl(server, "delta.pem"), serial));
  // The rebuild thread's log line, then the served full CRL (bounded wait; the bound is the claim).
  REQUIRE(server.wait_for_log("rebuilt 1 full CRL(s)", 1, std::chrono::seconds(10)));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed < std::chrono::seconds(5));
  const auto rebuilt = full_crl(server, "rebuilt.pem");
  CHECK(rebuilt.number > base.number);
  CHECK(lists(rebuilt, serial));
  CHECK(contains(rebuilt.text, "Certificate Hold"));

  // Released: the next delta says removeFromCRL until the next rebuild drops it from the full CRL.
  server.cli("unhold " + serial);
  const auto released = delta_crl(server, "released.pem");
  CHECK(lists(released, serial));
  CHECK(contains(released.text, "Remove From CRL"));
  REQUIRE(server.wait_for_log("rebuilt 1 full CRL(s)", 2, std::chrono::seconds(10)));
  CHECK_FALSE(lists(full_crl(server, "after-release.pem"), serial));
  SERVE_CHECK(server, server.running());
}

TEST_CASE("serve: delta CRL routes: PEM, conditional GET, unknown CAs are 404", "[serve][crl][delta]") {
  ServeFixture server;
  auto pem = server.http("", "/crl/issuing-delta.pem");
  INFO(pem.describe());
  REQUIRE(pem.status == 200);
  CHECK(pem.header("Content-Type") == "application/x-pem-file");
  CHECK(pem.body.starts_with("-----BEGIN X509 CRL-----"));
  auto der = server.http("", "/crl/issuing-delta.crl");
  REQUIRE(der.status == 200);
  CHECK(der.header("ETag") != server.http("", "/crl/issuing.crl").header("ETag"));
  auto conditional = server.http("-H " + shell_quote("If-None-Match: " + der.header("ETag")), "/crl/issuing-delta.crl");
  CHECK(conditional.status == 304);
  for (const std::string path : {"/crl/nosuchca-delta.crl", "/crl/nosuchca-delta.pem", "/crl/-delta.crl",
                                 "/crl/issuing-delta.der", "/crl/issuing-delta-delta.crl"}) {
    auto response = server.http("", path);
    INFO(path << "\n" << response.describe());
    CHECK(response.status == 404);
  }
  CHECK(server.wait_for_log("no such CA"));
  SERVE_CHECK(server, server.running());
}

TEST_CASE("without serve: a CLI revocation leaves the full CRL behind until crl generate", "[cli][crl][delta]") {
  Pki pki;
  const auto leaf = pki.issue(pki.csr("offline", "p256", "offline.example.test", "DNS:offline.example.test"));
  const auto serial = pki.serial_of(leaf);
  pki.out("crl generate");
  const auto count_full = [&](const std::string& where) {
    return sqlite(pki, "SELECT count(*) FROM crls WHERE base_number IS NULL AND issuer_id = (SELECT id FROM cas WHERE "
                       "name = 'issuing')" + where);
  };
  const auto fulls = count_full("");
  pki.out("revoke " + serial + " --reason keyCompromise");
  CHECK(count_full("") == fulls);  // the revocation made a delta only
  CHECK(sqlite(pki, "SELECT entries FROM crls WHERE base_number IS NOT NULL ORDER BY number DESC LIMIT 1") == "1");
  CHECK(sqlite(pki, "SELECT (SELECT revocation_revision FROM crls WHERE base_number IS NULL ORDER BY number DESC LIMIT 1) < "
                    "(SELECT revision FROM revocation_revisions WHERE issuer_id = (SELECT id FROM cas WHERE name = 'issuing'))") == "1");

  const auto generated = pki.out("crl generate --ca issuing");
  CHECK(contains(generated, "issuing: full CRL"));
  CHECK(contains(generated, "(1 entries)"));
  CHECK(std::stoi(count_full("")) == std::stoi(fulls) + 1);
  // Unknown CA: status 4, nothing made.
  const auto before = sqlite(pki, "SELECT count(*) FROM crls");
  auto unknown = pki.fca("crl generate --ca nosuchca");
  CHECK(unknown.exit_code == 4);
  CHECK(contains(unknown.output, "nosuchca"));
  CHECK(sqlite(pki, "SELECT count(*) FROM crls") == before);
}
