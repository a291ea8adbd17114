// OcspService::ensure_signers over several CAs when one CA's key cannot be used: the others still get
// their responders, and the failure is recorded for that CA alone.
#include <catch2/catch.hpp>

#include <openssl/ocsp.h>

#include "authority_fixture.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"

using namespace fca;

TEST_CASE("one CA whose key cannot be used does not stop the OCSP responders of the others", "[ocsp][failure]") {
  fca::test::AuthorityFixture f;
  auto leaf = f.issue("leaf.example.com");
  auto root = f.database->find_ca("root");
  auto issuing = f.database->find_ca("issuing");
  REQUIRE(root.has_value());
  REQUIRE(issuing.has_value());
  REQUIRE(root->key_uri.starts_with("file:"));
  REQUIRE(std::filesystem::remove(root->key_uri.substr(5)));

  // A new process: keys opened afresh, so the root's is gone for good.
  KeyStoreRouter store;
  store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{f.dir / "keys", "test passphrase", false}), true);
  SigningKeys keys(store);
  CertificateAuthority authority(*f.database, *f.database, keys, f.clock, f.authority->settings());
  OcspService ocsp(*f.database, *f.database, *f.database, authority, keys, f.clock, OcspSettings{});

  auto issued = ocsp.ensure_signers();
  REQUIRE_FALSE(issued.has_value());
  CHECK_THAT(issued.error().message, Catch::Contains("CA 'root'"));
  CHECK_THAT(issued.error().message, !Catch::Contains("CA 'issuing'"));
  auto status = ocsp.signer_status();
  REQUIRE(status.contains(root->id));
  REQUIRE(status.contains(issuing->id));
  CHECK(status[root->id].failing);
  CHECK_FALSE(status[root->id].last_error.empty());
  CHECK_FALSE(status[issuing->id].failing);
  CHECK(status[issuing->id].last_success.has_value());

  // The issuing CA (listed after the root) answers for its certificates.
  auto issuing_cert = parse_certificate(issuing->certificate_pem);
  REQUIRE(issuing_cert.has_value());
  std::unique_ptr<OCSP_REQUEST, OsslDeleter<OCSP_REQUEST_free>> request(OCSP_REQUEST_new());
  OCSP_request_add0_id(request.get(), OCSP_cert_to_id(EVP_sha1(), leaf.certificate.get(), issuing_cert->get()));
  auto answer = ocsp.respond(der_encode(request.get(), i2d_OCSP_REQUEST));
  INFO(answer.reason);
  CHECK(answer.outcome == OcspOutcome::successful);
}
