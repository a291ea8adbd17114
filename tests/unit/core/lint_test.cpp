#include <catch2/catch.hpp>

#include "authority_fixture.hpp"
#include <openssl/pem.h>

#include "fca/core/x509.hpp"

using namespace fca;
using fca::test::run;
using fca::test::shell_quote;

namespace {
// Signs `extfile` extensions onto a P-256 key with the fixture's issuing CA, outside facility-ca, with openssl.
X509Ptr sign_with_openssl(fca::test::AuthorityFixture& ca, const std::string& extensions, const std::string& days = "30") {
  auto issuing = ca.database->find_ca("issuing");
  auto key_pem = ca.keys->get(issuing->key_uri);
  REQUIRE(key_pem);
  // Export the issuing key for openssl (test-only, into the temp dir).
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), const_cast<EVP_PKEY*>((*key_pem)->key()), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  fca::test::write_file(ca.dir / "issuing.key", std::string(data, static_cast<std::size_t>(len)));
  fca::test::write_file(ca.dir / "lint.csr", ca.csr("p256", "/CN=lint.example.com"));
  fca::test::write_file(ca.dir / "lint.ext", extensions);
  auto out = run("openssl x509 -req -in " + shell_quote((ca.dir / "lint.csr").string()) + " -CA " +
                 shell_quote((ca.dir / "issuing.pem").string()) + " -CAkey " + shell_quote((ca.dir / "issuing.key").string()) +
                 " -set_serial 0x4142434445464748494A4B4C4D4E4F5051525354 -days " + days + " -extfile " +
                 shell_quote((ca.dir / "lint.ext").string()) + " -out " + shell_quote((ca.dir / "lint.pem").string()));
  INFO(out.output);
  REQUIRE(out.exit_code == 0);
  return std::move(*parse_certificate(fca::test::read_file(ca.dir / "lint.pem")));
}
}  // namespace

TEST_CASE("lint accepts what the profile describes and rejects what it does not", "[lint]") {
  fca::test::AuthorityFixture ca;
  const auto server = *ca.authority->settings().profiles.find("server");
  auto issuer = parse_certificate(ca.database->find_ca("issuing")->certificate_pem);
  const std::string good =
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
      "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nsubjectAltName=DNS:lint.example.com\n";
  auto ok = sign_with_openssl(ca, good);
  CHECK(lint_certificate(ok.get(), issuer->get(), server));

  struct Case {
    std::string name, extensions, reason;
  };
  const std::vector<Case> cases = {
      {"leaf with CA:TRUE", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nsubjectAltName=DNS:lint.example.com\n",
       "CA:TRUE"},
      {"keyEncipherment on EC", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
                                "subjectAltName=DNS:lint.example.com\n",
       "keyUsage"},
      {"wrong EKU", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nsubjectAltName=DNS:lint.example.com\n",
       "extendedKeyUsage"},
      {"no SAN", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                 "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
       "subjectAltName"},
      {"CN not among SANs", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nsubjectAltName=DNS:other.example.com\n",
       "CN is not among the SANs"},
      {"basicConstraints not critical", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                                        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nsubjectAltName=DNS:lint.example.com\n",
       "basicConstraints"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto cert = sign_with_openssl(ca, c.extensions);
      auto result = lint_certificate(cert.get(), issuer->get(), server);
      REQUIRE_FALSE(result);
      CHECK(result.error().code == Errc::internal);
      CHECK_THAT(result.error().message, Catch::Contains(c.reason));
    }
  }
  SECTION("validity past the issuer's") {
    auto cert = sign_with_openssl(ca, good, "4000");
    auto result = lint_certificate(cert.get(), issuer->get(), server);
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains("after the issuer"));
  }
  SECTION("signed by someone else") {
    auto root = parse_certificate(ca.database->find_ca("root")->certificate_pem);
    auto result = lint_certificate(ok.get(), root->get(), server);
    REQUIRE_FALSE(result);
  }
}
