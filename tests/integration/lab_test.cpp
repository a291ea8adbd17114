// The lab kit (docs/lab.md) driven like a tester: the real binary mints every kind into a directory,
// `lab check` runs openssl against them, and the test checks a few kinds itself with openssl and
// curl against a real `serve`. On an instance made without --lab every lab command is refused and
// writes nothing.
#include <sys/stat.h>

#include <ctime>
#include <set>
#include <vector>

#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

std::string row_counts(const Pki& pki) {
  return sqlite(pki, "SELECT (SELECT count(*) FROM certificates) || '/' || (SELECT count(*) FROM cas) || '/' || "
                     "(SELECT count(*) FROM audit_log) || '/' || (SELECT count(*) FROM crls)");
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

CommandResult openssl_verify(const std::filesystem::path& kit, const std::string& name, const std::string& extra = "") {
  return run("openssl verify -CAfile " + shell_quote((kit / "root.pem").string()) + " -untrusted " +
             shell_quote((kit / (name + ".chain.pem")).string()) + " " + extra + " " +
             shell_quote((kit / (name + ".crt.pem")).string()));
}

nlohmann::json entry_named(const nlohmann::json& manifest, const std::string& name) {
  for (const auto& entry : manifest["entries"]) {
    if (entry["name"] == name) return entry;
  }
  FAIL("no manifest entry " << name);
  return {};
}

}  // namespace

TEST_CASE("lab: every lab command is refused on a non-lab instance and leaves no row", "[lab]") {
  Pki pki;  // init without --lab
  const auto before = row_counts(pki);
  const auto kit = pki.file("kit");
  for (const std::string& command : std::vector<std::string>{
           "lab mint --all --out-dir " + shell_quote(kit.string()),
        "lab mint expired --cn x.localhost --out-dir " + shell_quote(kit.string()),
        "lab mint weak-key --out-dir " + shell_quote(kit.string()), "lab check --kit-dir " + shell_quote(kit.string()),
        "lab check --ocsp-url http://127.0.0.1:9/ocsp"}) {
    auto result = pki.fca_split(command);
    INFO(command << "\nstdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code == 3);
    CHECK(contains(result.err, "not a lab instance"));
  }
  CHECK(row_counts(pki) == before);
  CHECK_FALSE(std::filesystem::exists(kit));
  CHECK_FALSE(std::filesystem::exists(pki.dir() / "lab"));
  // Bad usage is refused before the instance is even asked.
  CHECK(pki.fca("lab mint no-such-kind").exit_code == 2);
  CHECK(pki.fca("lab mint").exit_code == 2);
}

TEST_CASE("lab: mint --all then lab check; each kind behaves as its manifest says with openssl", "[lab][serve]") {
  ServeFixture serve({}, /*start_now=*/false, "--lab");
  const Pki& pki = serve.pki();
  const auto kit = pki.file("kit");
  const auto started = std::time(nullptr);
  auto minted = pki.fca_split("lab mint --all --out-dir " + shell_quote(kit.string()));
  INFO("stdout: " << minted.out << "\nstderr: " << minted.err);
  REQUIRE(minted.exit_code == 0);
  const auto manifest = nlohmann::json::parse(read_file(kit / "manifest.json"));

  // Every kind is in the manifest, every entry with its files (keys 0600) and what a client must do.
  std::set<std::string> kinds;
  for (const auto& entry : manifest["entries"]) {
    kinds.insert(entry["kind"].get<std::string>());
    CHECK_FALSE(entry["client_must"].get<std::string>().empty());
    CHECK_FALSE(entry["checks"].empty());
    CHECK(mode_of(kit / entry["key"].get<std::string>()) == 0600);
    CHECK(mode_of(kit / entry["cert"].get<std::string>()) == 0644);
  }
  for (const std::string kind :
       {"valid", "expired", "not-yet-valid", "revoked", "on-hold", "wrong-eku", "no-san", "wildcard", "ip-san",
        "wrong-host", "self-signed", "untrusted-root", "expired-intermediate", "revoked-intermediate", "long-chain",
        "weak-key", "sha1-signature", "missing-aia"}) {
    CHECK(kinds.count(kind) == 1);
  }

  // Lab-made in the row and the audit entry; the audit entry and issued_at say when it was made, the
  // certificate's own window is back-dated.
  const auto expired = entry_named(manifest, "expired");
  const std::string serial = expired["serial"];
  CHECK(sqlite(pki, "SELECT lab_made FROM certificates WHERE serial = '" + serial + "'") == "1");
  for (const auto& entry : manifest["entries"]) {
    if (entry["kind"] == "self-signed") continue;  // no issuer holds it: the audit log alone records it
    INFO(entry["name"]);
    CHECK(sqlite(pki, "SELECT lab_made FROM certificates WHERE serial = '" + entry["serial"].get<std::string>() + "'") ==
          "1");
  }
  const auto audit = sqlite(pki, "SELECT at || '|' || detail FROM audit_log WHERE object LIKE '%/" + serial + "'");
  CHECK(contains(audit, "\"lab\":true"));
  CHECK(contains(audit, "\"kind\":\"expired\""));
  const long audit_at = std::stol(audit.substr(0, audit.find('|')));
  CHECK(audit_at >= started - 5);
  CHECK(audit_at <= std::time(nullptr) + 5);
  const long not_after = std::stol(sqlite(pki, "SELECT not_after FROM certificates WHERE serial = '" + serial + "'"));
  CHECK(not_after < started - 86400);
  CHECK(contains(sqlite(pki, "SELECT detail FROM audit_log WHERE action = 'certificate.lab-self-signed'"),
                 "\"lab\":true"));
  // The init demo certificates came through production issuance: not lab-made.
  CHECK(sqlite(pki, "SELECT count(*) FROM certificates WHERE lab_made = 0 AND common_name = 'revoked.localhost'") ==
        "1");

  // lab check against the in-process responder.
  auto checked = pki.fca_split("lab check --kit-dir " + shell_quote(kit.string()));
  INFO("lab check stdout:\n" << checked.out << "\nstderr: " << checked.err);
  CHECK(checked.exit_code == 0);
  CHECK_FALSE(contains(checked.out, "DIFFERS"));
  CHECK(contains(checked.out, "checks as expected"));
  for (const std::string tool : {"verify", "tls", "tls-client", "ocsp", "x509"}) {
    CHECK(contains(checked.out, " " + tool + " "));
  }

  // A few kinds checked here, independently of the manifest.
  auto r = openssl_verify(kit, "valid", "-purpose sslserver");
  CHECK(r.exit_code == 0);
  r = openssl_verify(kit, "expired");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "certificate has expired"));
  r = openssl_verify(kit, "not-yet-valid");
  CHECK(contains(r.output, "certificate is not yet valid"));
  r = openssl_verify(kit, "wrong-eku-client-only", "-purpose sslserver");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "unsuitable certificate purpose"));
  r = openssl_verify(kit, "wrong-eku-server-only", "-purpose sslclient");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "unsuitable certificate purpose"));
  r = run("openssl verify -CAfile " + shell_quote((kit / "root.pem").string()) + " " +
          shell_quote((kit / "untrusted-root.crt.pem").string()));
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "unable to get local issuer certificate"));
  r = openssl_verify(kit, "untrusted-root");
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "self-signed certificate in certificate chain"));
  r = openssl_verify(kit, "expired-intermediate");
  CHECK(contains(r.output, "certificate has expired"));
  CHECK(contains(r.output, "at 1 depth lookup"));
  r = openssl_verify(kit, "long-chain", "-purpose sslserver -show_chain");
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "depth=4"));
  r = run("openssl x509 -noout -text -in " + shell_quote((kit / "weak-key.crt.pem").string()));
  CHECK(contains(r.output, "Public-Key: (1024 bit)"));
  r = run("openssl pkey -noout -text -in " + shell_quote((kit / "weak-key.key.pem").string()));
  CHECK(contains(r.output, "Private-Key: (1024 bit"));
  r = run("openssl x509 -noout -text -in " + shell_quote((kit / "sha1-signature.crt.pem").string()));
  CHECK((contains(r.output, "Signature Algorithm: ecdsa-with-SHA1") ||
         contains(r.output, "Signature Algorithm: sha1WithRSAEncryption")));
  r = run("openssl x509 -noout -ext authorityInfoAccess,crlDistributionPoints -in " +
          shell_quote((kit / "missing-aia.crt.pem").string()));
  CHECK_FALSE(contains(r.output, "URI:"));
  r = run("openssl x509 -noout -ext subjectAltName -in " + shell_quote((kit / "no-san.crt.pem").string()));
  CHECK_FALSE(contains(r.output, "DNS:"));

  // With the real serve: its CRL over HTTP marks the revoked kind, and lab check passes against the
  // running OCSP responder too.
  serve.start();
  {
    // The expired and revoked intermediates are broken on purpose: the instance is still ready.
    const auto port = std::to_string(serve.https_port());
    auto ready = run("curl -sS --max-time 10 --cacert " + shell_quote(pki.root_pem().string()) + " --resolve localhost:" +
                     port + ":127.0.0.1 https://localhost:" + port + "/readyz");
    INFO(ready.output << "\n" << serve.log());
    CHECK(contains(ready.output, "\"ready\":true"));
  }
  auto crl = serve.http("", "/crl/issuing.crl");
  REQUIRE(crl.status == 200);
  const auto crl_pem = pki.file("issuing-crl.pem");
  REQUIRE(run("openssl crl -inform DER -in " + shell_quote(crl.body_file.string()) + " -out " +
              shell_quote(crl_pem.string())).exit_code == 0);
  r = openssl_verify(kit, "revoked");
  CHECK(r.exit_code == 0);  // without revocation data it looks fine: that is why clients must check
  r = openssl_verify(kit, "revoked", "-crl_check -CRLfile " + shell_quote(crl_pem.string()));
  CHECK(r.exit_code != 0);
  CHECK(contains(r.output, "certificate revoked"));
  r = openssl_verify(kit, "on-hold", "-crl_check -CRLfile " + shell_quote(crl_pem.string()));
  CHECK(contains(r.output, "certificate revoked"));

  auto against_serve = pki.fca_split("lab check --kit-dir " + shell_quote(kit.string()) + " --ocsp-url " +
                                     serve.ocsp_url());
  INFO("lab check --ocsp-url stdout:\n" << against_serve.out << "\nstderr: " << against_serve.err);
  CHECK(against_serve.exit_code == 0);
  CHECK(contains(against_serve.out, "ocsp -url " + serve.ocsp_url()));

  // Active faults are checked against the running serve too: each gives what a client must see.
  // Scoped to certificates outside the kit, so the kit's own checks still see true answers.
  const auto faulted = serve.issue_leaf("faulted");
  const auto faulted_serial = pki.serial_of(faulted);
  pki.out("lab fault ocsp tryLater --serial " + faulted_serial + " --for 5m");
  pki.out("lab fault crl missing --ca lab-untrusted-root --for 5m");
  {
    auto with_faults = pki.fca_split("lab check --kit-dir " + shell_quote(kit.string()) + " --ocsp-url " + serve.ocsp_url());
    INFO("lab check with faults stdout:\n" << with_faults.out << "\nstderr: " << with_faults.err);
    CHECK(with_faults.exit_code == 0);
    CHECK(contains(with_faults.out, "ocsp tryLater 0x" + faulted_serial + ": expected \"trylater\", seen \"trylater\""));
    CHECK(contains(with_faults.out, "expected \"HTTP 404\", seen \"HTTP 404\""));
    // Without the responder's URL the faults are named, not silently passed.
    auto in_process = pki.fca_split("lab check --kit-dir " + shell_quote(kit.string()));
    CHECK(contains(in_process.out, "2 active revocation fault(s) not checked"));
  }
  pki.out("lab fault clear");

  // The lab's CAs broken on purpose (expired, revoked) do not stop an export.
  const auto exported = pki.fca_split("ocsp export " + shell_quote(pki.file("published").string()));
  INFO("stdout: " << exported.out << "\nstderr: " << exported.err);
  CHECK(exported.exit_code == 0);
  CHECK(contains(exported.out, "pre-signed answers"));

  // lab check reports a kind that does not behave as its manifest says.
  auto tampered = manifest;
  for (auto& entry : tampered["entries"]) {
    if (entry["name"] == "expired") entry["checks"][0]["expect"] = "OK";
  }
  write_file(kit / "manifest.json", tampered.dump(2));
  auto differing = pki.fca_split("lab check --kit-dir " + shell_quote(kit.string()));
  CHECK(differing.exit_code != 0);
  CHECK(contains(differing.out, "DIFFERS"));
  CHECK(occurrences_of(differing.out, "DIFFERS") == 1);

  // A dedicated CA is made once and reused; one kind for another name goes to another directory.
  const auto cas_before = sqlite(pki, "SELECT count(*) FROM cas");
  const auto kit2 = pki.file("kit2");
  auto again = pki.fca_split("lab mint expired-intermediate --cn again.localhost --out-dir " + shell_quote(kit2.string()));
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(sqlite(pki, "SELECT count(*) FROM cas") == cas_before);
  CHECK(sqlite(pki, "SELECT count(*) FROM cas WHERE name = 'lab-expired-intermediate' AND subject LIKE '%LAB%'") == "1");
  const auto manifest2 = nlohmann::json::parse(read_file(kit2 / "manifest.json"));
  REQUIRE(manifest2["entries"].size() == 1);
  CHECK(manifest2["entries"][0]["issuer_ca"] == "lab-expired-intermediate");
  CHECK(manifest2["entries"][0]["common_name"] == "again.localhost");
  auto checked2 = pki.fca_split("lab check --kit-dir " + shell_quote(kit2.string()));
  INFO(checked2.out);
  CHECK(checked2.exit_code == 0);
}
