// Acceptance: the same CA flows work with the CA keys in SoftHSMv2 via pkcs11: URIs — a root and an
// issuing CA generated on the token, RSA and ECDSA leaves issued and verified by openssl, a revocation.
#include <catch2/catch.hpp>

#include <openssl/pem.h>

#include <memory>

#include "fca/core/authority.hpp"
#include "fca/core/key_store.hpp"
#include "fca/db/database.hpp"
#include "softhsm_fixture.hpp"

using namespace fca;
using namespace fca::test;

namespace {

// pkcs11-tool's listing of the token's private keys, read in another process.
std::string token_private_keys(const std::string& token) {
  auto listing = pkcs11_tool("--token-label " + shell_quote(token) + " --login --pin " + user_pin +
                             " --list-objects --type privkey");
  REQUIRE(listing.exit_code == 0);
  return listing.output;
}

}  // namespace

TEST_CASE("a CA whose keys live in SoftHSMv2 issues, chains and revokes", "[pkcs11][authority]") {
  TempDir work;
  auto database = db::Database::open(work / "ca.db");
  REQUIRE(database);
  db::Database& db = **database;

  KeyStoreRouter key_store;
  key_store.add(std::make_unique<Pkcs11KeyStore>(store_options(ca_token)), true);
  SigningKeys keys(key_store);
  SystemClock clock;
  CaSettings settings;
  settings.urls.base = "http://127.0.0.1:8080";
  settings.subject.organization = "Facility PKCS11 Test";
  CertificateAuthority authority(db, db, keys, clock, settings);

  auto root = authority.create_ca({"root", "Token Root CA", KeySpec{KeyAlgorithm::ec, 0, "P-256"}, 7300, std::nullopt,
                                   std::nullopt, false, "test"});
  REQUIRE(root);
  auto issuing = authority.create_ca({"issuing", "Token Issuing CA", KeySpec{KeyAlgorithm::rsa, 2048, ""}, 3650,
                                      std::string("root"), 0, true, "test"});
  REQUIRE(issuing);

  // Both CA keys are token objects, named by pkcs11: URIs and generated non-extractable on the token.
  const std::string token_prefix = std::string("pkcs11:token=") + ca_token + ";";
  CHECK_THAT(root->key_uri, Catch::StartsWith(token_prefix));
  CHECK_THAT(issuing->key_uri, Catch::StartsWith(token_prefix));
  CHECK(root->key_uri != issuing->key_uri);
  const std::string private_keys = token_private_keys(ca_token);
  for (const auto* ca : {&*root, &*issuing}) {
    auto uri = Pkcs11Uri::parse(ca->key_uri);
    REQUIRE(uri);
    INFO(ca->key_uri);
    CHECK_THAT(private_keys, Catch::Contains("label:      " + uri->path.at("object") + "\n"));
    CHECK_FALSE(ca->key_uri.find("pin") != std::string::npos);
  }
  CHECK_THAT(private_keys, Catch::Contains("never extractable"));
  CHECK_THAT(private_keys, !Catch::Contains("Access:     extractable"));

  // The certificates carry the token's public keys.
  auto root_public = token_public_key(ca_token, Pkcs11Uri::parse(root->key_uri)->path.at("object"));
  auto issuing_public = token_public_key(ca_token, Pkcs11Uri::parse(issuing->key_uri)->path.at("object"));
  BioPtr root_bio(BIO_new_mem_buf(root->certificate_pem.data(), static_cast<int>(root->certificate_pem.size())));
  X509Ptr root_certificate(PEM_read_bio_X509(root_bio.get(), nullptr, nullptr, nullptr));
  BioPtr issuing_bio(
      BIO_new_mem_buf(issuing->certificate_pem.data(), static_cast<int>(issuing->certificate_pem.size())));
  X509Ptr issuing_certificate(PEM_read_bio_X509(issuing_bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(root_certificate);
  REQUIRE(issuing_certificate);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(root_certificate.get()), root_public.get()) == 1);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(issuing_certificate.get()), issuing_public.get()) == 1);
  CHECK(X509_verify(root_certificate.get(), root_public.get()) == 1);     // self-signed on the token
  CHECK(X509_verify(issuing_certificate.get(), root_public.get()) == 1);  // signed by the root's token key

  write_file(work / "root.pem", root->certificate_pem);
  write_file(work / "issuing.pem", issuing->certificate_pem);
  auto issuing_verified = run("openssl verify -CAfile " + shell_quote((work / "root.pem").string()) + " " +
                              shell_quote((work / "issuing.pem").string()));
  INFO(issuing_verified.output);
  CHECK(issuing_verified.exit_code == 0);

  std::vector<IssuedCertificate> leaves;
  for (const std::string key_type : {"rsa2048", "p256"}) {
    INFO(key_type);
    const auto csr = make_csr_with_openssl(work / (key_type + ".key"), key_type, "/CN=node1.example.com",
                                           "DNS:node1.example.com");
    auto issued = authority.issue({csr, "nmos-node", "test", std::nullopt, std::nullopt});
    REQUIRE(issued);
    CHECK(issued->record.key_type == key_type);
    CHECK(issued->record.common_name == "node1.example.com");
    CHECK(issued->record.issuer_id == issuing->id);

    const auto leaf_file = work / ("leaf-" + key_type + ".pem");
    write_file(leaf_file, issued->pem());
    auto verified = run("openssl verify -CAfile " + shell_quote((work / "root.pem").string()) + " -untrusted " +
                        shell_quote((work / "issuing.pem").string()) + " -purpose sslserver " +
                        shell_quote(leaf_file.string()));
    INFO(verified.output);
    CHECK(verified.exit_code == 0);
    CHECK_THAT(verified.output, Catch::Contains(": OK"));
    auto client = run("openssl verify -CAfile " + shell_quote((work / "root.pem").string()) + " -untrusted " +
                      shell_quote((work / "issuing.pem").string()) + " -purpose sslclient " +
                      shell_quote(leaf_file.string()));
    CHECK(client.exit_code == 0);
    CHECK(X509_verify(issued->certificate.get(), issuing_public.get()) == 1);
    leaves.push_back(std::move(*issued));
  }
  REQUIRE(leaves.size() == 2);

  // A certificate from another (software) root does not verify against the token chain: the check can fail.
  {
    auto foreign = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=foreign "
                       "-keyout " + shell_quote((work / "foreign.key").string()) + " -out " +
                       shell_quote((work / "foreign.pem").string()));
    REQUIRE(foreign.exit_code == 0);
    auto refused = run("openssl verify -CAfile " + shell_quote((work / "root.pem").string()) + " -untrusted " +
                       shell_quote((work / "issuing.pem").string()) + " " +
                       shell_quote((work / "foreign.pem").string()));
    CHECK(refused.exit_code != 0);
  }

  auto revoked = authority.revoke({leaves[0].record.serial, std::nullopt, RevocationReason::key_compromise,
                                   std::nullopt, "test"});
  REQUIRE(revoked);
  CHECK(revoked->status == CertificateStatus::revoked);
  auto stored = db.find_certificate(issuing->id, leaves[0].record.serial);
  REQUIRE(stored);
  CHECK(stored->status == CertificateStatus::revoked);
  REQUIRE(stored->revocation_reason);
  CHECK(*stored->revocation_reason == RevocationReason::key_compromise);
  CHECK(stored->revoked_at.has_value());
  auto untouched = db.find_certificate(issuing->id, leaves[1].record.serial);
  REQUIRE(untouched);
  CHECK(untouched->status == CertificateStatus::valid);

  auto twice = authority.revoke({leaves[0].record.serial, std::nullopt, RevocationReason::superseded, std::nullopt,
                                 "test"});
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == Errc::conflict);

  // A CA name already used on the token: the key store refuses to overwrite the existing key.
  Pkcs11KeyStore direct(store_options(ca_token));
  auto clash = direct.generate(KeySpec{KeyAlgorithm::ec, 0, "P-256"}, Pkcs11Uri::parse(root->key_uri)->path.at("object"));
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::conflict);
}
