// Issuing through the CLI for every supported key type, checked by openssl: chain, extensions, URLs.
#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("init makes a two-level PKI whose certificates openssl accepts", "[cli][init]") {
  Pki pki;
  auto cas = pki.json("ca list --json");
  REQUIRE(cas.size() == 2);
  CHECK(cas[0]["name"] == "root");
  CHECK(cas[0]["default"] == false);
  CHECK(cas[1]["name"] == "issuing");
  CHECK(cas[1]["default"] == true);
  CHECK(cas[1]["parent"] == "root");

  // The issuing CA chains to the root; the root is self-signed.
  auto verify = run("openssl verify -CAfile " + shell_quote(pki.root_pem().string()) + " " +
                    shell_quote(pki.issuing_pem().string()));
  INFO(verify.output);
  CHECK(verify.exit_code == 0);

  const auto chain = pki.out("ca show issuing --chain");
  CHECK(chain == read_file(pki.issuing_pem()) + read_file(pki.root_pem()));

  // Keys at rest are encrypted under the generated passphrase; secrets are owner-only.
  for (const auto& entry : std::filesystem::directory_iterator(pki.dir() / "keys")) {
    CHECK(has(read_file(entry.path()), "BEGIN ENCRYPTED PRIVATE KEY"));
    CHECK((std::filesystem::status(entry.path()).permissions() & std::filesystem::perms::group_all) ==
          std::filesystem::perms::none);
  }
  const auto secret = pki.dir() / "secrets" / "key-passphrase";
  REQUIRE(std::filesystem::exists(secret));
  CHECK(std::filesystem::status(secret).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(std::filesystem::status(pki.dir()).permissions() == std::filesystem::perms::owner_all);

  // A second init refuses to touch it: conflict.
  auto again = pki.fca("init");
  CHECK(again.exit_code == 5);
  CHECK(has(again.output, "facility-ca: "));
}

TEST_CASE("issue: RSA-2048, P-256, P-384 and Ed25519 CSRs with profile nmos-node", "[cli][issue]") {
  Pki pki;
  for (const std::string key_type : {"rsa2048", "p256", "p384", "ed25519"}) {
    DYNAMIC_SECTION(key_type) {
      const std::string host = "node-" + key_type + ".example.test";
      const auto csr = pki.csr(key_type, key_type, host, "DNS:" + host);
      const auto cert = pki.issue(csr);

      auto verify = pki.verify(cert);
      INFO(verify.output);
      CHECK(verify.exit_code == 0);
      // An NMOS Node is both a TLS server and a TLS client.
      CHECK(run("openssl verify -purpose sslserver -CAfile " + shell_quote(pki.root_pem().string()) + " -untrusted " +
                shell_quote(pki.issuing_pem().string()) + " " + shell_quote(cert.string()))
                .exit_code == 0);
      CHECK(run("openssl verify -purpose sslclient -CAfile " + shell_quote(pki.root_pem().string()) + " -untrusted " +
                shell_quote(pki.issuing_pem().string()) + " " + shell_quote(cert.string()))
                .exit_code == 0);

      const auto text = pki.x509_text(cert);
      INFO(text);
      CHECK(has(text, "CA:FALSE"));
      CHECK(has(text, "TLS Web Server Authentication, TLS Web Client Authentication"));
      CHECK(has(text, "Digital Signature"));
      // keyEncipherment only where the key can encipher: RSA (zlint#454).
      CHECK(has(text, "Key Encipherment") == (key_type == "rsa2048"));
      CHECK(has(text, "DNS:" + host));
      CHECK(has(text, "X509v3 CRL Distribution Points"));
      CHECK(has(text, "URI:http://127.0.0.1:8080/crl/issuing.crl"));
      CHECK(has(text, "Authority Information Access"));
      CHECK(has(text, "OCSP - URI:http://127.0.0.1:8080/ocsp"));
      CHECK(has(text, "CA Issuers - URI:http://127.0.0.1:8080/ca/issuing.crt"));

      // The stored record says the same as the certificate.
      auto record = pki.json("show " + pki.serial_of(cert) + " --format json");
      CHECK(record["serial"] == pki.serial_of(cert));
      CHECK(record["ca"] == "issuing");
      CHECK(record["common_name"] == host);
      CHECK(record["sans"] == nlohmann::json::array({"DNS:" + host}));
      CHECK(record["profile"] == "nmos-node");
      CHECK(record["key_type"] == key_type);
      CHECK(record["status"] == "valid");
      CHECK(record["revoked_at"].is_null());
      CHECK(has(record["requester"].get<std::string>(), "cli:"));
      CHECK(record["certificate_pem"] == read_file(cert));
      auto fingerprint = run("openssl x509 -noout -fingerprint -sha256 -in " + shell_quote(cert.string()));
      std::string colon_free;
      for (char c : fingerprint.output.substr(fingerprint.output.find('=') + 1)) {
        if (c != ':' && c != '\n') colon_free += c;
      }
      CHECK(record["fingerprint_sha256"] == colon_free);
    }
  }
}

TEST_CASE("issue prints PEM on stdout, JSON with --json, and the chain with --chain-out", "[cli][issue]") {
  Pki pki;
  const auto csr = pki.csr("stdout", "p256", "stdout.example.test", "DNS:stdout.example.test");
  const auto pem = pki.out("issue --csr " + shell_quote(csr.string()) + " --profile server");
  CHECK(pem.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(pem.find("BEGIN CERTIFICATE", 20) == std::string::npos);

  const auto chain_file = pki.file("chain.pem");
  auto issued = pki.json("issue --csr " + shell_quote(csr.string()) + " --profile server --days 30 --json --chain-out " +
                         shell_quote(chain_file.string()));
  CHECK(issued["profile"] == "server");
  CHECK(issued["status"] == "valid");
  const auto chain = read_file(chain_file);
  CHECK(chain == issued["certificate_pem"].get<std::string>() + read_file(pki.issuing_pem()) + read_file(pki.root_pem()));
  CHECK(issued["chain_pem"] == chain);
  // --days 30 was honoured: notAfter - notBefore is 30 days plus the backdate.
  const auto leaf = pki.file("leaf30.pem");
  write_file(leaf, issued["certificate_pem"].get<std::string>());
  CHECK(run("openssl x509 -noout -checkend " + std::to_string(29 * 86400) + " -in " + shell_quote(leaf.string()))
            .exit_code == 0);
  CHECK(run("openssl x509 -noout -checkend " + std::to_string(31 * 86400) + " -in " + shell_quote(leaf.string()))
            .exit_code != 0);

  // Standard input works as a CSR source.
  auto piped = run("cat " + shell_quote(csr.string()) + " | " + pki.command("issue --csr - --profile server"));
  CHECK(piped.exit_code == 0);
  CHECK(has(piped.output, "BEGIN CERTIFICATE"));
}

TEST_CASE("keygen-issue writes key, certificate, chain and an AES-256 PKCS#12", "[cli][keygen]") {
  Pki pki;
  const auto out_dir = pki.file("device");
  const auto passphrase_file = pki.file("p12-pass");
  write_file(passphrase_file, "correct horse battery staple\n");
  auto result = pki.fca_split("keygen-issue --cn device1.example.test --san DNS:device1.example.test --san "
                              "DNS:device1-alt.example.test --profile nmos-node --key-type rsa2048 --out-dir " +
                              shell_quote(out_dir.string()) + " --p12-passphrase-file " +
                              shell_quote(passphrase_file.string()));
  INFO(result.err);
  REQUIRE(result.exit_code == 0);

  const auto key = out_dir / "device1.example.test.key.pem";
  const auto cert = out_dir / "device1.example.test.crt.pem";
  const auto chain = out_dir / "device1.example.test.chain.pem";
  const auto p12 = out_dir / "device1.example.test.p12";
  for (const auto& file : {key, cert, chain, p12}) REQUIRE(std::filesystem::exists(file));
  CHECK(std::filesystem::status(key).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(std::filesystem::status(p12).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(has(read_file(key), "BEGIN ENCRYPTED PRIVATE KEY"));

  CHECK(pki.verify(cert).exit_code == 0);
  const auto text = pki.x509_text(cert);
  CHECK(has(text, "DNS:device1.example.test"));
  CHECK(has(text, "DNS:device1-alt.example.test"));
  CHECK(has(text, "Key Encipherment"));
  CHECK(read_file(chain) == read_file(cert) + read_file(pki.issuing_pem()) + read_file(pki.root_pem()));

  const std::string pass = "file:" + passphrase_file.string();
  auto info = run("openssl pkcs12 -info -noout -passin " + shell_quote(pass) + " -in " + shell_quote(p12.string()));
  INFO(info.output);
  CHECK(info.exit_code == 0);
  CHECK(has(info.output, "PBES2"));
  CHECK(has(info.output, "AES-256-CBC"));
  CHECK(run("openssl pkcs12 -info -noout -passin pass:wrong -in " + shell_quote(p12.string())).exit_code != 0);

  // The key in the PEM and in the PKCS#12 is the certificate's key.
  auto cert_key = run("openssl x509 -noout -pubkey -in " + shell_quote(cert.string()));
  auto pem_key = run("openssl pkey -pubout -passin " + shell_quote(pass) + " -in " + shell_quote(key.string()));
  auto p12_key = run("openssl pkcs12 -nocerts -nodes -passin " + shell_quote(pass) + " -in " +
                     shell_quote(p12.string()) + " | openssl pkey -pubout");
  CHECK(cert_key.output == pem_key.output);
  CHECK(cert_key.output == p12_key.output);

  // The same names again would overwrite the key: refused before anything is issued.
  const auto before = pki.certificate_rows();
  auto again = pki.fca("keygen-issue --cn device1.example.test --profile nmos-node --out-dir " +
                       shell_quote(out_dir.string()) + " --p12-passphrase-file " + shell_quote(passphrase_file.string()));
  CHECK(again.exit_code == 5);
  CHECK(pki.certificate_rows() == before);
}

TEST_CASE("keygen-issue without a passphrase writes a 0600 plaintext key and no PKCS#12", "[cli][keygen]") {
  Pki pki;
  const auto out_dir = pki.file("plain");
  auto result = pki.fca("keygen-issue --cn plain.example.test --profile server --out-dir " +
                        shell_quote(out_dir.string()));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto key = out_dir / "plain.example.test.key.pem";
  CHECK(has(read_file(key), "BEGIN PRIVATE KEY"));
  CHECK(std::filesystem::status(key).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK_FALSE(std::filesystem::exists(out_dir / "plain.example.test.p12"));
  CHECK(pki.verify(out_dir / "plain.example.test.crt.pem").exit_code == 0);
  // No --san: the CN became the SAN (policy adds it).
  CHECK(has(pki.x509_text(out_dir / "plain.example.test.crt.pem"), "DNS:plain.example.test"));
}

TEST_CASE("external root: ca csr, signed by an openssl root, import-signed, then issue", "[cli][external]") {
  Pki pki;
  const auto csr_file = pki.file("ext.csr");
  pki.out("ca csr ext --cn \"Ext Issuing\" --out " + shell_quote(csr_file.string()));
  REQUIRE(run("openssl req -noout -verify -in " + shell_quote(csr_file.string())).exit_code == 0);
  auto pending = pki.json("ca show ext --json");
  CHECK(pending["state"] == "pending");

  // An issuing request to a pending CA fails: it has no certificate yet.
  const auto early_csr = pki.csr("early", "p256", "early.example.test", "DNS:early.example.test");
  CHECK(pki.fca("issue --csr " + shell_quote(early_csr.string()) + " --profile server --ca ext").exit_code != 0);

  // The external root, made with openssl alone.
  const auto ext_root_key = pki.file("ext-root.key");
  const auto ext_root = pki.file("ext-root.pem");
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj '/CN=Ext Root' "
              "-keyout " + shell_quote(ext_root_key.string()) + " -out " + shell_quote(ext_root.string()))
              .exit_code == 0);
  const auto extfile = pki.file("ca.ext");
  write_file(extfile,
             "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
             "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  const auto ext_cert = pki.file("ext.pem");
  auto sign = run("openssl x509 -req -in " + shell_quote(csr_file.string()) + " -CA " + shell_quote(ext_root.string()) +
                  " -CAkey " + shell_quote(ext_root_key.string()) + " -CAcreateserial -days 200 -extfile " +
                  shell_quote(extfile.string()) + " -out " + shell_quote(ext_cert.string()));
  INFO(sign.output);
  REQUIRE(sign.exit_code == 0);
  const auto chain_file = pki.file("ext-chain.pem");
  write_file(chain_file, read_file(ext_cert) + read_file(ext_root));

  auto imported = pki.fca("ca import-signed ext --cert " + shell_quote(chain_file.string()));
  INFO(imported.output);
  REQUIRE(imported.exit_code == 0);
  CHECK(pki.json("ca show ext --json")["state"] == "active");
  // Completing it twice is a conflict.
  CHECK(pki.fca("ca import-signed ext --cert " + shell_quote(chain_file.string())).exit_code == 5);

  const auto csr = pki.csr("ext-leaf", "p256", "ext-leaf.example.test", "DNS:ext-leaf.example.test");
  const auto cert = pki.issue(csr, "nmos-node", "--ca ext");
  auto verify = run("openssl verify -CAfile " + shell_quote(ext_root.string()) + " -untrusted " +
                    shell_quote(ext_cert.string()) + " " + shell_quote(cert.string()));
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  // Not valid under the facility's own root.
  CHECK(pki.verify(cert).exit_code != 0);
  CHECK(has(pki.x509_text(cert), "URI:http://127.0.0.1:8080/crl/ext.crl"));
  CHECK(pki.out("ca show ext --chain") == read_file(ext_cert) + read_file(ext_root));
}

TEST_CASE("ca create, set-default and import move issuance between CAs", "[cli][ca]") {
  Pki pki;
  pki.out("ca create second --cn \"Second Issuing\" --parent root --key-type p384 --days 400");
  auto second = pki.json("ca show second --json");
  CHECK(second["parent"] == "root");
  CHECK(second["default"] == false);
  CHECK(pki.fca("ca create second --cn Again --parent root").exit_code == 5);
  CHECK(pki.fca("ca create orphan --cn Orphan --parent nope").exit_code == 4);
  CHECK(pki.fca("ca show nope").exit_code == 4);

  pki.out("ca set-default second");
  CHECK(pki.json("ca show second --json")["default"] == true);
  CHECK(pki.json("ca show issuing --json")["default"] == false);
  const auto csr = pki.csr("second", "p256", "second.example.test", "DNS:second.example.test");
  const auto cert = pki.issue(csr);
  CHECK(pki.json("show " + pki.serial_of(cert) + " --format json")["ca"] == "second");

  // Import a CA made by openssl, with an encrypted key.
  const auto key = pki.file("imported.key");
  const auto pass = pki.file("imported.pass");
  write_file(pass, "import-secret\n");
  const auto cert_file = pki.file("imported.pem");
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 365 -subj '/CN=Imported Root' "
              "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
              "-passout file:" + shell_quote(pass.string()) + " -keyout " + shell_quote(key.string()) + " -out " +
              shell_quote(cert_file.string()))
              .exit_code == 0);
  // Without the passphrase the key cannot be read.
  CHECK(pki.fca("ca import imported --cert " + shell_quote(cert_file.string()) + " --key " + shell_quote(key.string()))
            .exit_code != 0);
  auto imported = pki.fca("ca import imported --cert " + shell_quote(cert_file.string()) + " --key " +
                          shell_quote(key.string()) + " --key-passphrase-file " + shell_quote(pass.string()) +
                          " --default");
  INFO(imported.output);
  REQUIRE(imported.exit_code == 0);
  const auto imported_leaf = pki.issue(pki.csr("imp", "p256", "imp.example.test", "DNS:imp.example.test"));
  CHECK(run("openssl verify -CAfile " + shell_quote(cert_file.string()) + " " + shell_quote(imported_leaf.string()))
            .exit_code == 0);
}
