#include <catch2/catch.hpp>

#include <set>
#include <sys/stat.h>

#include "authority_fixture.hpp"
#include "fca/core/x509.hpp"

using namespace fca;
using fca::test::AuthorityFixture;

namespace {
IssueRequest request(std::string csr, std::string profile = "nmos-node") {
  IssueRequest r;
  r.csr = std::move(csr);
  r.profile = std::move(profile);
  r.requester = "test";
  return r;
}
}  // namespace

TEST_CASE("certificates for RSA, P-256, P-384 and Ed25519 keys chain to the root with openssl", "[authority]") {
  AuthorityFixture ca;
  for (const std::string key_type : {"rsa2048", "p256", "p384", "ed25519"}) {
    DYNAMIC_SECTION(key_type) {
      auto issued = ca.authority->issue(request(ca.csr(key_type, "/CN=node1.example.com", "DNS:node1.example.com")));
      REQUIRE(issued);
      auto verify = ca.openssl_verify(issued->chain_pem().substr(0, issued->pem().size()));
      INFO(verify.output);
      CHECK(verify.exit_code == 0);
      CHECK_THAT(verify.output, Catch::Contains(": OK"));

      auto text = fca::test::run("openssl x509 -noout -text -in " + fca::test::shell_quote((ca.dir / "leaf.pem").string()));
      REQUIRE(text.exit_code == 0);
      CHECK_THAT(text.output, Catch::Contains("TLS Web Server Authentication, TLS Web Client Authentication"));
      CHECK_THAT(text.output, Catch::Contains("DNS:node1.example.com"));
      CHECK_THAT(text.output, Catch::Contains("URI:http://127.0.0.1:8080/crl/issuing.crl"));
      CHECK_THAT(text.output, Catch::Contains("OCSP - URI:http://127.0.0.1:8080/ocsp"));
      CHECK_THAT(text.output, Catch::Contains("CA Issuers - URI:http://127.0.0.1:8080/ca/issuing.crt"));
      CHECK_THAT(text.output, Catch::Contains("CA:FALSE"));
      if (key_type == "rsa2048") {
        CHECK_THAT(text.output, Catch::Contains("Digital Signature, Key Encipherment"));
      } else {
        CHECK_THAT(text.output, Catch::Contains("Digital Signature"));
        CHECK_THAT(text.output, !Catch::Contains("Key Encipherment"));
      }
      CHECK(issued->record.key_type == key_type);
      CHECK(issued->chain.size() == 2);  // issuing CA first, then the root
      CHECK(common_name(X509_get_subject_name(issued->chain.front().get())) == "Test Issuing CA");
    }
  }
}

TEST_CASE("requests policy forbids are refused with a reason and store nothing", "[authority][policy]") {
  auto settings = AuthorityFixture::default_settings();
  settings.policy.allowed_dns_suffixes = {"example.com"};
  AuthorityFixture ca(settings);
  const auto rows_before = ca.certificate_rows();
  const auto audit_before = ca.database->entries(0, 100000)->size();

  struct Case {
    std::string name, key_type, subject, san;
    std::vector<std::string> extra;
    std::string profile;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"CA:TRUE requested", "p256", "/CN=evil.example.com", "DNS:evil.example.com", {"basicConstraints=critical,CA:TRUE"}, "server", "CA:TRUE"},
      {"wildcard", "p256", "/CN=*.example.com", "", {}, "server", "wildcard"},
      {"IP SAN", "p256", "/CN=node.example.com", "IP:192.0.2.10", {}, "server", "192.0.2.10"},
      {"outside suffixes", "p256", "/CN=node.other.org", "", {}, "server", "outside the allowed DNS suffixes"},
      {"RSA-1024", "rsa1024", "/CN=small.example.com", "", {}, "server", "RSA-1024"},
      {"unknown profile", "p256", "/CN=node.example.com", "", {}, "superuser", "unknown profile"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto issued = ca.authority->issue(request(ca.csr(c.key_type, c.subject, c.san, c.extra), c.profile));
      REQUIRE_FALSE(issued);
      CHECK_THAT(issued.error().message, Catch::Contains(c.reason));
    }
  }
  SECTION("broken CSR signature") {
    auto pem = ca.csr("p256", "/CN=node.example.com");
    auto req = parse_csr(pem);
    REQUIRE(req);
    // Flip one bit in the signature value and re-encode.
    const ASN1_BIT_STRING* signature = nullptr;
    X509_REQ_get0_signature(req->get(), &signature, nullptr);
    const_cast<unsigned char*>(ASN1_STRING_get0_data(signature))[5] ^= 0x01;
    auto issued = ca.authority->issue(request(to_pem(req->get()), "server"));
    REQUIRE_FALSE(issued);
    CHECK(issued.error().code == Errc::invalid_input);
    CHECK_THAT(issued.error().message, Catch::Contains("signature does not verify"));
  }
  SECTION("garbage instead of a CSR") {
    auto issued = ca.authority->issue(request("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"));
    REQUIRE_FALSE(issued);
    CHECK(issued.error().code == Errc::invalid_input);
  }
  SECTION("validity beyond the profile maximum") {
    auto r = request(ca.csr("p256", "/CN=node.example.com"), "server");
    r.validity_days = 398;
    auto issued = ca.authority->issue(r);
    REQUIRE_FALSE(issued);
    CHECK(issued.error().code == Errc::policy_refused);
  }
  CHECK(ca.certificate_rows() == rows_before);
  CHECK(ca.database->entries(0, 100000)->size() == audit_before);
}

TEST_CASE("requested extensions are never copied", "[authority]") {
  AuthorityFixture ca;
  auto issued = ca.authority->issue(request(
      ca.csr("p256", "/CN=node.example.com/O=Evil Corp", "DNS:node.example.com",
             {"keyUsage=critical,keyCertSign", "extendedKeyUsage=codeSigning", "nsComment=hello"}),
      "server"));
  REQUIRE(issued);
  const X509* cert = issued->certificate.get();
  CHECK((X509_get_key_usage(const_cast<X509*>(cert)) & X509v3_KU_KEY_CERT_SIGN) == 0);
  CHECK(X509_get_ext_by_NID(cert, NID_netscape_comment, -1) < 0);
  CHECK(issued->record.subject == "CN=node.example.com");  // policy decides the subject: no O from the request
  auto text = ca.openssl_verify(issued->pem());
  CHECK(text.exit_code == 0);
}

TEST_CASE("validity is backdated for skew and capped by the issuer", "[authority]") {
  AuthorityFixture ca;
  auto issued = ca.authority->issue(request(ca.csr("p256", "/CN=node.example.com")));
  REQUIRE(issued);
  const auto now = ca.clock.now();
  CHECK(issued->record.not_before <= now - std::chrono::minutes(4));
  CHECK(issued->record.not_after - issued->record.not_before ==
        std::chrono::days(90) + ca.authority->settings().backdate);

  // Near the end of the issuing CA's life, a leaf ends with it.
  auto issuing = ca.database->find_ca("issuing");
  ca.clock.set(issuing->not_after - std::chrono::days(10));
  auto late = ca.authority->issue(request(ca.csr("p256", "/CN=late.example.com")));
  REQUIRE(late);
  CHECK(late->record.not_after == issuing->not_after);

  ca.clock.set(issuing->not_after + std::chrono::days(1));
  auto expired = ca.authority->issue(request(ca.csr("p256", "/CN=later.example.com")));
  REQUIRE_FALSE(expired);
}

TEST_CASE("revoke, hold and release follow RFC 5280 and refuse repeats", "[authority]") {
  AuthorityFixture ca;
  auto issued = ca.authority->issue(request(ca.csr("p256", "/CN=node.example.com")));
  REQUIRE(issued);
  const auto serial = issued->record.serial;

  RevokeRequest hold{serial, std::nullopt, RevocationReason::certificate_hold, std::nullopt, "test"};
  auto held = ca.authority->revoke(hold);
  REQUIRE(held);
  CHECK(held->status == CertificateStatus::on_hold);
  CHECK_FALSE(ca.authority->revoke(hold));

  auto released = ca.authority->release_hold(serial, std::nullopt, "test");
  REQUIRE(released);
  CHECK(released->status == CertificateStatus::valid);
  CHECK_FALSE(released->revoked_at);
  CHECK_FALSE(ca.authority->release_hold(serial, std::nullopt, "test"));

  const auto invalid_since = ca.clock.now() - std::chrono::hours(2);
  auto revoked = ca.authority->revoke({serial, "issuing", RevocationReason::key_compromise, invalid_since, "test"});
  REQUIRE(revoked);
  CHECK(revoked->status == CertificateStatus::revoked);
  CHECK(revoked->revocation_reason == RevocationReason::key_compromise);
  CHECK(revoked->invalidity_date == std::chrono::time_point_cast<std::chrono::seconds>(invalid_since));

  auto twice = ca.authority->revoke({serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"});
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == Errc::conflict);
  CHECK_THAT(twice.error().message, Catch::Contains("already revoked"));
  CHECK_FALSE(ca.authority->release_hold(serial, std::nullopt, "test"));

  auto unknown = ca.authority->revoke({"0102", std::nullopt, RevocationReason::unspecified, std::nullopt, "test"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::not_found);

  auto future = ca.authority->issue(request(ca.csr("p256", "/CN=other.example.com")));
  auto bad_date = ca.authority->revoke({future->record.serial, std::nullopt, RevocationReason::unspecified,
                                        ca.clock.now() + std::chrono::hours(1), "test"});
  CHECK_FALSE(bad_date);
}

TEST_CASE("a CA certificate issued in the instance can be revoked", "[authority]") {
  AuthorityFixture ca;
  auto issuing = ca.database->find_ca("issuing");
  auto cert = parse_certificate(issuing->certificate_pem);
  auto revoked = ca.authority->revoke({serial_hex(cert->get()), "root", RevocationReason::ca_compromise, std::nullopt, "test"});
  REQUIRE(revoked);
  CHECK(revoked->profile == "sub-ca");
  CHECK(revoked->status == CertificateStatus::revoked);
}

TEST_CASE("CA names that are not plain, taken, or a delta CRL's URL are refused and nothing is made", "[authority][ca]") {
  AuthorityFixture ca;
  const auto cas_before = ca.database->list_cas()->size();
  const auto audit_before = ca.database->entries(0, 100000)->size();
  struct Case {
    std::string name, reason;
    Errc code;
  };
  for (const auto& c : std::vector<Case>{{"Issuing", "a-z, 0-9", Errc::invalid_input},
                                         {"-lead", "a-z, 0-9", Errc::invalid_input},
                                         {"issuing", "exists already", Errc::conflict},
                                         {"issuing-delta", "/crl/issuing-delta.crl is the delta CRL of CA 'issuing'",
                                          Errc::invalid_input},
                                         {"other-delta", "delta CRL of CA 'other'", Errc::invalid_input}}) {
    DYNAMIC_SECTION(c.name) {
      CreateCaRequest request;
      request.name = c.name;
      request.common_name = "Test CA " + c.name;
      request.key = *KeySpec::parse("p256");
      request.parent = "root";
      request.requester = "test";
      auto made = ca.authority->create_ca(request);
      REQUIRE_FALSE(made);
      CHECK(made.error().code == c.code);
      CHECK_THAT(made.error().message, Catch::Contains(c.reason));
    }
  }
  CHECK(ca.database->list_cas()->size() == cas_before);
  CHECK(ca.database->entries(0, 100000)->size() == audit_before);
}

TEST_CASE("renewal keeps names and profile, leaves the old certificate valid, and refuses revoked ones", "[authority]") {
  AuthorityFixture ca;
  auto issued = ca.authority->issue(request(ca.csr("rsa2048", "/CN=node.example.com", "DNS:alias.example.com")));
  REQUIRE(issued);
  auto renewed = ca.authority->renew(issued->record.serial, std::nullopt,
                                     ca.csr("p256", "/CN=something-else.example.com"), "test");
  REQUIRE(renewed);
  CHECK(renewed->record.common_name == "node.example.com");
  CHECK(renewed->record.sans == issued->record.sans);
  CHECK(renewed->record.profile == "nmos-node");
  CHECK(renewed->record.renewal_of == issued->record.serial);
  CHECK(renewed->record.key_type == "p256");
  CHECK(ca.authority->find_certificate(issued->record.serial, std::nullopt)->status == CertificateStatus::valid);

  REQUIRE(ca.authority->revoke({issued->record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));
  auto again = ca.authority->renew(issued->record.serial, std::nullopt, ca.csr("p256", "/CN=x.example.com"), "test");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::conflict);
  // Renewal never un-revokes.
  CHECK(ca.authority->find_certificate(issued->record.serial, std::nullopt)->status == CertificateStatus::revoked);
}

TEST_CASE("the OCSP signer profile carries OCSPSigning and ocsp-nocheck", "[authority]") {
  AuthorityFixture ca;
  auto issued = ca.authority->issue(request(ca.csr("p256", "/CN=Issuing OCSP Signer"), "ocsp-signer"));
  REQUIRE(issued);
  auto text = ca.openssl_verify(issued->pem());
  CHECK(text.exit_code == 0);
  auto dump = fca::test::run("openssl x509 -noout -text -in " + fca::test::shell_quote((ca.dir / "leaf.pem").string()));
  CHECK_THAT(dump.output, Catch::Contains("OCSP Signing"));
  CHECK_THAT(dump.output, Catch::Contains("OCSP No Check"));
}

TEST_CASE("10,000 issued serials are unique, positive and 20 bytes long", "[authority][slow]") {
  AuthorityFixture ca;
  const auto csr = ca.csr("p256", "/CN=bulk.example.com");
  std::set<std::string> serials;
  for (int i = 0; i < 10000; ++i) {
    auto issued = ca.authority->issue(request(csr, "server"));
    REQUIRE(issued);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(issued->certificate.get());
    REQUIRE(ASN1_STRING_type(serial) == V_ASN1_INTEGER);  // V_ASN1_NEG_INTEGER for a negative one
    REQUIRE(ASN1_STRING_length(serial) == 20);
    serials.insert(issued->record.serial);
  }
  CHECK(serials.size() == 10000);
  CHECK(ca.certificate_rows() == 10000 + 1);  // and the issuing CA's own certificate
}

TEST_CASE("CA keys are encrypted at rest with mode 0600", "[authority][keys]") {
  AuthorityFixture ca;
  auto issuing = ca.database->find_ca("issuing");
  REQUIRE(issuing->key_uri.starts_with("file:"));
  const std::string path = issuing->key_uri.substr(5);
  CHECK_THAT(fca::test::read_file(path), Catch::Contains("BEGIN ENCRYPTED PRIVATE KEY"));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  FileKeyStore wrong({ca.dir / "keys", "not the passphrase", false});
  CHECK_FALSE(wrong.open(issuing->key_uri));

  // A plaintext key file is refused unless the store allows it (lab mode).
  FileKeyStore lab({ca.dir / "lab-keys", std::nullopt, true});
  auto uri = lab.generate(*KeySpec::parse("p256"), "plain");
  REQUIRE(uri);
  CHECK(lab.open(*uri));
  FileKeyStore strict({ca.dir / "lab-keys", "x", false});
  auto refused = strict.open(*uri);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not encrypted"));
}

TEST_CASE("a CA for an external root: CSR out, signed certificate in", "[authority][ca]") {
  AuthorityFixture ca;
  auto pending = ca.authority->create_external_ca_csr({"ext", "External Issuing", *KeySpec::parse("p256"), "test"});
  REQUIRE(pending);
  CHECK(pending->state == CaState::pending);
  CHECK_FALSE(ca.authority->issue([&] { auto r = request(ca.csr("p256", "/CN=a.example.com")); r.ca = "ext"; return r; }()));

  // An offline root made by openssl signs the request.
  auto& dir = ca.dir;
  using fca::test::run;
  using fca::test::shell_quote;
  fca::test::write_file(dir / "ext.csr", pending->csr_pem);
  fca::test::write_file(dir / "ext.cnf", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                                        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + shell_quote((dir / "off.key").string()) +
              " -out " + shell_quote((dir / "off.pem").string()) + " -subj /CN=Offline-Root -days 30").exit_code == 0);
  REQUIRE(run("openssl x509 -req -in " + shell_quote((dir / "ext.csr").string()) + " -CA " + shell_quote((dir / "off.pem").string()) +
              " -CAkey " + shell_quote((dir / "off.key").string()) + " -CAcreateserial -days 20 -extfile " +
              shell_quote((dir / "ext.cnf").string()) + " -out " + shell_quote((dir / "ext.pem").string()))
              .exit_code == 0);

  // A certificate for some other key is refused.
  auto wrong = ca.authority->import_signed_ca("ext", fca::test::read_file(dir / "off.pem"), "test");
  REQUIRE_FALSE(wrong);

  auto active = ca.authority->import_signed_ca(
      "ext", fca::test::read_file(dir / "ext.pem") + fca::test::read_file(dir / "off.pem"), "test");
  REQUIRE(active);
  CHECK(active->state == CaState::active);
  // openssl dated the certificate by the wall clock, after the fixture's clock was set: a CA that is not
  // yet valid issues nothing, so the clock moves past its notBefore first.
  ca.clock.set(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto r = request(ca.csr("p256", "/CN=a.example.com"));
  r.ca = "ext";
  auto issued = ca.authority->issue(r);
  REQUIRE(issued);
  CHECK(issued->chain.size() == 2);
  fca::test::write_file(dir / "leaf-ext.pem", issued->pem());
  auto verify = run("openssl verify -CAfile " + shell_quote((dir / "off.pem").string()) + " -untrusted " +
                    shell_quote((dir / "ext.pem").string()) + " " + shell_quote((dir / "leaf-ext.pem").string()));
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("an existing CA certificate and key can be imported", "[authority][ca]") {
  AuthorityFixture ca;
  using fca::test::run;
  using fca::test::shell_quote;
  REQUIRE(run("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + shell_quote((ca.dir / "old.key").string()) + " -out " +
              shell_quote((ca.dir / "old.pem").string()) +
              " -subj /CN=Old-CA -days 100 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
              .exit_code == 0);
  ImportCaRequest import_request{"old", fca::test::read_file(ca.dir / "old.pem"), fca::test::read_file(ca.dir / "old.key"), "", false, "test"};
  auto imported = ca.authority->import_ca(import_request);
  REQUIRE(imported);
  CHECK(imported->key_uri.starts_with("file:"));
  // A certificate without keyCertSign is not a CA to sign with.
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + shell_quote((ca.dir / "leafy.key").string()) +
              " -out " + shell_quote((ca.dir / "leafy.pem").string()) + " -subj /CN=Leafy -days 10 -addext basicConstraints=critical,CA:FALSE")
              .exit_code == 0);
  ImportCaRequest bad{"leafy", fca::test::read_file(ca.dir / "leafy.pem"), fca::test::read_file(ca.dir / "leafy.key"), "", false, "test"};
  CHECK_FALSE(ca.authority->import_ca(bad));
  CHECK_FALSE(ca.database->find_ca("leafy"));
}
