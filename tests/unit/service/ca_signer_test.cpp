// Service::ca_signer: the CA key and chain a front end signs EST serverkeygen's key package with
// (RFC 7030 §4.4.2), for exactly those who may keygen-issue at that CA, while the CA may issue.
#include <catch2/catch.hpp>

#include "fca/core/x509.hpp"
#include "service_fixture.hpp"

using namespace fca;
using namespace fca::test;

TEST_CASE("the CA signer: the CA's own key and chain, for who may issue there, while the CA may issue",
          "[service][ca-signer]") {
  ServiceFixture f;
  auto signer = f.service->ca_signer(f.est, "issuing");
  REQUIRE(signer);
  REQUIRE(signer->chain.size() == 2);
  CHECK(common_name(X509_get_subject_name(signer->chain[0].get())).find("Issuing") != std::string::npos);
  CHECK(X509_check_issued(signer->chain[1].get(), signer->chain[0].get()) == X509_V_OK);
  // The key is the one the CA certificate certifies.
  CHECK(EVP_PKEY_eq(signer->key->key(), X509_get0_pubkey(signer->chain[0].get())) == 1);

  // Outside the principal's CA scope, or a principal that may not issue: refused.
  auto elsewhere = f.service->ca_signer(f.est, "other");
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().code == Errc::policy_refused);
  CHECK_THAT(elsewhere.error().message, Catch::Contains("may not use CA 'other'"));
  auto auditor = f.service->ca_signer(f.auditor, "issuing");
  REQUIRE_FALSE(auditor);
  CHECK(auditor.error().code == Errc::policy_refused);
  // No name: never the default CA by accident.
  auto unnamed = f.service->ca_signer(f.admin, "");
  REQUIRE_FALSE(unnamed);
  CHECK(unnamed.error().code == Errc::invalid_input);

  // A CA whose own certificate is revoked signs nothing (the issuer-status gate).
  auto other = f.authority->find_ca(std::string_view("other"));
  REQUIRE(other);
  auto row = f.authority->ca_certificate_record(*other);
  REQUIRE(row);
  REQUIRE(row->has_value());
  REQUIRE(f.service->revoke(f.admin, RevokeRequest{(*row)->serial, std::string("root"), RevocationReason::ca_compromise,
                                                   std::nullopt, ""}));
  auto revoked = f.service->ca_signer(f.admin, "other");
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().code == Errc::policy_refused);
}
