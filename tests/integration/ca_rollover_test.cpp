// A root rollover against a real `facility-ca serve`, with curl and openssl as the only clients:
// EST /cacerts with the RFC 4210 link certificates, both generations' leaves verifying against
// either root through them, OCSP and the CRL of the old generation at the URLs its leaf carries,
// and the old generation refusing to issue.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <tuple>
#include <vector>

#include "api_fixture.hpp"
#include "est_client.hpp"
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// The PEM certificates of a file, one string each, in order.
std::vector<std::string> split_certificates(const std::string& text) {
  std::vector<std::string> out;
  const std::string begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----";
  for (auto at = text.find(begin); at != std::string::npos; at = text.find(begin, at + 1)) {
    const auto stop = text.find(end, at);
    REQUIRE(stop != std::string::npos);
    out.push_back(text.substr(at, stop + end.size() - at) + "\n");
  }
  return out;
}

std::string openssl_out(const std::string& args) {
  auto result = run("openssl " + args);
  INFO("openssl " << args << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
  return result.output;
}

std::string public_key(const std::filesystem::path& cert) { return openssl_out("x509 -noout -pubkey -in " + shell_quote(cert.string())); }

// The URI after "<label> - URI:" (AIA) or the first "URI:" (CDP) in `openssl x509 -ext` output.
std::string uri_in(const std::string& text, const std::string& after) {
  auto at = text.find(after);
  REQUIRE(at != std::string::npos);
  at = text.find("URI:", at);
  REQUIRE(at != std::string::npos);
  return trim(text.substr(at + 4, text.find('\n', at) - at - 4));
}

CommandResult verify(const std::filesystem::path& trusted, const std::filesystem::path& leaf,
                     const std::optional<std::filesystem::path>& untrusted = std::nullopt, const std::string& extra = "") {
  return run("openssl verify " + extra + " -CAfile " + shell_quote(trusted.string()) +
             (untrusted ? " -untrusted " + shell_quote(untrusted->string()) : "") + " " + shell_quote(leaf.string()));
}

}  // namespace

TEST_CASE("root rollover: /cacerts, verification both ways, OCSP and CRL per generation, the old root refuses",
          "[serve][est][rollover]") {
  ServeFixture server([](nlohmann::json& config) {
    // A label whose CA is the root itself, so its /cacerts shows the root's rollover.
    config["est"]["labels"].push_back({{"label", "roll"}, {"ca", "root"}, {"profiles", {"nmos-node"}}});
  });
  const auto& pki = server.pki();
  const auto old_root = server.file("old-root.pem");
  write_file(old_root, pki.out("ca show root"));
  const auto before = pki.issue(pki.csr("before", "p256", "before.example.test", "DNS:before.example.test"), "nmos-node", "--ca root");

  auto rolled = pki.fca_split("ca rollover root");
  INFO(rolled.out << rolled.err);
  REQUIRE(rolled.exit_code == 0);
  CHECK(contains(rolled.out, "rolled over CA 'root'"));
  const auto new_root = server.file("new-root.pem");
  write_file(new_root, pki.out("ca show root"));
  CHECK(pki.out("ca show root-gen1") == read_file(old_root));
  CHECK(contains(pki.fca_split("ca show root").err, "generation 2, after root-gen1"));
  CHECK(contains(pki.out("ca list"), "1, replaced by root"));
  CHECK(openssl_out("x509 -noout -subject -in " + shell_quote(new_root.string())) ==
        openssl_out("x509 -noout -subject -in " + shell_quote(old_root.string())));
  CHECK(public_key(new_root) != public_key(old_root));

  // Audited once, by the CLI's administrator, with both serials.
  const auto old_serial = pki.serial_of(old_root), new_serial = pki.serial_of(new_root);
  auto audit = run("sqlite3 " + shell_quote((pki.dir() / "ca.db").string()) +
                   " \"select actor || ' ' || detail from audit_log where action = 'ca.rollover'\"");
  REQUIRE(audit.exit_code == 0);
  CHECK(occurrences_of(audit.output, "\n") == 1);
  CHECK(audit.output.starts_with("cli:"));
  CHECK(contains(audit.output, "\"old_serial\":\"" + old_serial + "\""));
  CHECK(contains(audit.output, "\"new_serial\":\"" + new_serial + "\""));

  // The name issues under the new generation; the old one refuses, and nothing is stored.
  const auto after = pki.issue(pki.csr("after", "p256", "after.example.test", "DNS:after.example.test"), "nmos-node", "--ca root");
  const auto rows = pki.certificate_rows();
  auto refused = pki.fca_split("issue --csr " + shell_quote(pki.csr("old", "p256", "old.example.test", "DNS:old.example.test").string()) +
                               " --profile nmos-node --ca root-gen1 --out " + shell_quote(server.file("old.pem").string()));
  CHECK(refused.exit_code == 3);
  CHECK(contains(refused.err, "was rolled over"));
  CHECK(pki.certificate_rows() == rows);

  // The running serve takes the new generation's OCSP responder at its next scheduler pass: SIGHUP
  // runs one now (operations.md). Until then the new leaf is not known to OCSP.
  server.send_signal(SIGHUP);
  const auto ocsp_of = [&](const std::filesystem::path& issuer, const std::filesystem::path& leaf) {
    return run("openssl ocsp -timeout 10 -issuer " + shell_quote(issuer.string()) + " -cert " + shell_quote(leaf.string()) +
               " -url " + shell_quote(server.ocsp_url()) + " -CAfile " + shell_quote(issuer.string()) + " 2>&1");
  };
  CommandResult new_status;
  for (int attempt = 0; attempt < 50; ++attempt) {
    new_status = ocsp_of(new_root, after);
    if (contains(new_status.output, ": good")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(new_status.output);
  CHECK(contains(new_status.output, "Response verify OK"));
  CHECK(contains(new_status.output, ": good"));

  // /cacerts: the new root, then OldWithNew, then NewWithOld, then OldWithOld; nothing else.
  EstClient est(server);
  auto cacerts = est.get("cacerts", "roll");
  INFO(cacerts.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(cacerts.status == 200);
  const auto cacerts_pem = server.file("roll-cacerts.pem");
  REQUIRE(est.certificates(cacerts, cacerts_pem).exit_code == 0);
  const auto served = split_certificates(read_file(cacerts_pem));
  REQUIRE(served.size() == 4);
  CHECK(served[0] == read_file(new_root));
  CHECK(served[3] == read_file(old_root));
  const auto old_with_new = server.file("old-with-new.pem"), new_with_old = server.file("new-with-old.pem");
  write_file(old_with_new, served[1]);
  write_file(new_with_old, served[2]);
  // RFC 4210 §4.4: OldWithNew holds the old public key signed with the new private key, NewWithOld the reverse.
  CHECK(public_key(old_with_new) == public_key(old_root));
  CHECK(public_key(new_with_old) == public_key(new_root));
  for (const auto& link : {old_with_new, new_with_old}) {
    const auto text = openssl_out("x509 -noout -text -in " + shell_quote(link.string()));
    CHECK(contains(text, "CA:TRUE"));
    CHECK(openssl_out("x509 -noout -subject -in " + shell_quote(link.string())) ==
          openssl_out("x509 -noout -subject -in " + shell_quote(old_root.string())));
    CHECK(openssl_out("x509 -noout -issuer -in " + shell_quote(link.string())).substr(7) ==
          openssl_out("x509 -noout -subject -in " + shell_quote(old_root.string())).substr(8));
  }
  // OldWithNew is signed by the new key, NewWithOld by the old one.
  CHECK(verify(new_root, old_with_new, std::nullopt, "-partial_chain").exit_code == 0);
  CHECK(verify(old_root, new_with_old, std::nullopt, "-partial_chain").exit_code == 0);

  // The old leaf: the old root, or the new root with OldWithNew; never the new root alone.
  auto old_by_old = verify(old_root, before);
  INFO(old_by_old.output);
  CHECK(old_by_old.exit_code == 0);
  auto old_by_new = verify(new_root, before, old_with_new);
  INFO(old_by_new.output);
  CHECK(old_by_new.exit_code == 0);
  CHECK(verify(new_root, before).exit_code != 0);
  // The new leaf: the new root, or the old root with NewWithOld; never the old root alone.
  auto new_by_new = verify(new_root, after);
  INFO(new_by_new.output);
  CHECK(new_by_new.exit_code == 0);
  auto new_by_old = verify(old_root, after, new_with_old);
  INFO(new_by_old.output);
  CHECK(new_by_old.exit_code == 0);
  CHECK(verify(old_root, after).exit_code != 0);

  // Each leaf's URLs name its own generation, and serve answers there with that generation's data.
  const auto before_ext = openssl_out("x509 -noout -ext crlDistributionPoints,freshestCRL,authorityInfoAccess -in " + shell_quote(before.string()));
  const auto after_ext = openssl_out("x509 -noout -ext crlDistributionPoints,freshestCRL,authorityInfoAccess -in " + shell_quote(after.string()));
  CHECK(uri_in(before_ext, "CRL Distribution") == server.url("/crl/root.crl"));
  CHECK(uri_in(after_ext, "CRL Distribution") == server.url("/crl/root-gen2.crl"));
  for (const auto& [ext, root] : {std::pair{before_ext, old_root}, std::pair{after_ext, new_root}}) {
    auto issuer = server.http("", uri_in(ext, "CA Issuers"));
    REQUIRE(issuer.status == 200);
    const auto fetched = server.file("fetched-issuer.pem");
    write_file(fetched, openssl_out("x509 -inform DER -in " + shell_quote(issuer.body_file.string())));
    CHECK(read_file(fetched) == read_file(root));
  }

  // Revoking the old generation's leaf after the rollover: OCSP says so, answered for the old root...
  REQUIRE(pki.fca("revoke " + pki.serial_of(before) + " --reason keyCompromise").exit_code == 0);
  auto old_status = ocsp_of(old_root, before);
  INFO(old_status.output);
  CHECK(contains(old_status.output, "Response verify OK"));
  CHECK(contains(old_status.output, ": revoked"));
  CHECK(contains(ocsp_of(new_root, after).output, ": good"));

  // ... and the CRLs at the leaf's CDP and freshestCRL (the full CRL is rebuilt by serve in the
  // background; the delta lists the revocation at once), signed by the old root, list it; the new
  // generation's do not.
  CHECK(uri_in(before_ext, "Freshest CRL") == server.url("/crl/root-delta.crl"));
  CHECK(uri_in(after_ext, "Freshest CRL") == server.url("/crl/root-gen2-delta.crl"));
  for (const auto& [ext, root, leaf, revoked] :
       {std::tuple{before_ext, old_root, before, true}, std::tuple{after_ext, new_root, after, false}}) {
    // The delta first: serve's rebuild thread may replace the full CRL (and its delta) at any moment,
    // and only a full CRL that lists the revocation replaces the one the delta fetched first was made
    // against, so delta-then-full always holds the revocation; full-then-delta can pair an old base
    // with a delta against a newer one, which openssl rightly leaves unused.
    std::vector<std::filesystem::path> crl_pems;
    for (const auto* point : {"Freshest CRL", "CRL Distribution"}) {
      auto crl = server.http("", uri_in(ext, point));
      INFO(crl.describe());
      REQUIRE(crl.status == 200);
      const auto crl_pem = server.file("fetched-crl-" + std::to_string(crl_pems.size()) + ".pem");
      write_file(crl_pem, openssl_out("crl -inform DER -in " + shell_quote(crl.body_file.string())));
      CHECK(contains(openssl_out("crl -noout -CAfile " + shell_quote(root.string()) + " -in " + shell_quote(crl_pem.string())),
                     "verify OK"));
      crl_pems.push_back(crl_pem);
    }
    auto checked = verify(root, leaf, std::nullopt,
                          "-crl_check -use_deltas -CRLfile " + shell_quote(crl_pems[0].string()) + " -CRLfile " +
                              shell_quote(crl_pems[1].string()));
    INFO(checked.output);
    if (revoked) {
      CHECK(contains(checked.output, "certificate revoked"));
    } else {
      CHECK(checked.exit_code == 0);
    }
  }
  // The CA listing says which generation is which.
  auto listed = pki.json("ca list --json");
  bool saw_old = false, saw_new = false;
  for (const auto& ca : listed) {
    if (ca["name"] == "root-gen1") {
      saw_old = true;
      CHECK(ca["successor"] == "root");
      CHECK(ca["publication_name"] == "root");
    }
    if (ca["name"] == "root") {
      saw_new = true;
      CHECK(ca["generation"] == 2);
      CHECK(ca["predecessor"] == "root-gen1");
    }
  }
  CHECK(saw_old);
  CHECK(saw_new);
}

TEST_CASE("rolling over an unknown or a pending CA is refused with a clear error and changes nothing", "[cli][rollover]") {
  Pki pki;
  REQUIRE(pki.fca("ca csr waiting --cn 'Waiting CA' --out " + shell_quote(pki.file("waiting.csr").string())).exit_code == 0);
  const auto count = [&](const std::string& table) {
    auto result = run("sqlite3 " + shell_quote((pki.dir() / "ca.db").string()) + " 'select count(*) from " + table + "'");
    REQUIRE(result.exit_code == 0);
    return result.output;
  };
  const auto cas = count("cas"), audit = count("audit_log");
  auto unknown = pki.fca_split("ca rollover nonesuch");
  CHECK(unknown.exit_code == 4);
  CHECK(contains(unknown.err, "nonesuch"));
  auto pending = pki.fca_split("ca rollover waiting");
  CHECK(pending.exit_code == 3);
  CHECK(contains(pending.err, "nothing to roll over"));
  CHECK(count("cas") == cas);
  CHECK(count("audit_log") == audit);
}

TEST_CASE("the REST API's CA answers name the generations after a rollover", "[serve][api][rollover]") {
  ApiFixture api;
  auto& server = api.serve();
  REQUIRE(server.pki().fca("ca rollover issuing").exit_code == 0);
  auto current = api.call("GET", "/api/v1/cas/issuing", api.admin());
  REQUIRE(current.status == 200);
  const auto now = api.json_of(current);
  CHECK(now["generation"] == 2);
  CHECK(now["publication_name"] == "issuing-gen2");
  CHECK(now["predecessor"] == "issuing-gen1");
  CHECK(now["successor"].is_null());
  CHECK(now["parent"] == "root");
  auto previous = api.call("GET", "/api/v1/cas/issuing-gen1", api.admin());
  REQUIRE(previous.status == 200);
  const auto old = api.json_of(previous);
  CHECK(old["generation"] == 1);
  CHECK(old["publication_name"] == "issuing");
  CHECK(old["successor"] == "issuing");
  CHECK(old["default"] == false);
  CHECK(now["default"] == true);
}
