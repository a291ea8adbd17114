#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "authority_fixture.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"

using namespace fca;

namespace {


struct OcspFixture : fca::test::AuthorityFixture {
  OcspService ocsp{*database, *database, *database, *authority, *keys, clock, OcspSettings{}};
  X509Ptr issuing_cert = std::move(*parse_certificate(database->find_ca("issuing")->certificate_pem));
  X509Ptr root_cert = std::move(*parse_certificate(database->find_ca("root")->certificate_pem));

  OcspFixture() { REQUIRE(ocsp.ensure_signers()); }

  static std::vector<std::uint8_t> request_der(const std::vector<std::pair<const X509*, const X509*>>& certs,
                                               const EVP_MD* md = EVP_sha1(), bool nonce = false) {
    OcspRequestPtr req(OCSP_REQUEST_new());
    for (const auto& [leaf, issuer] : certs) OCSP_request_add0_id(req.get(), OCSP_cert_to_id(md, leaf, issuer));
    if (nonce) OCSP_request_add1_nonce(req.get(), nullptr, -1);
    return der_encode(req.get(), i2d_OCSP_REQUEST);
  }

  struct Parsed {
    int response_status = -1;
    OcspBasicPtr basic;
  };
  Parsed parse(const OcspAnswer& answer) {
    const unsigned char* p = answer.der.data();
    OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
    REQUIRE(response);
    Parsed parsed;
    parsed.response_status = OCSP_response_status(response.get());
    parsed.basic.reset(OCSP_response_get1_basic(response.get()));
    return parsed;
  }

  // Verifies the response signature against root + issuing (the delegated signer must chain to them).
  bool verifies(OCSP_BASICRESP* basic) {
    X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), root_cert.get());
    X509_STORE_add_cert(store.get(), issuing_cert.get());
    const int ok = OCSP_basic_verify(basic, nullptr, store.get(), 0);
    ERR_clear_error();
    return ok == 1;
  }

  int status_of(OCSP_BASICRESP* basic, const X509* leaf, const EVP_MD* md = EVP_sha1(), int* reason = nullptr) {
    OcspCertIdPtr id(OCSP_cert_to_id(md, leaf, issuing_cert.get()));
    int status = -1, r = -1;
    ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
    if (!OCSP_resp_find_status(basic, id.get(), &status, &r, &revoked, &this_update, &next_update)) return -1;
    if (reason) *reason = r;
    return status;
  }

  OcspAnswer ask(const X509* leaf, const EVP_MD* md = EVP_sha1(), bool nonce = false) {
    return ocsp.respond(request_der({{leaf, issuing_cert.get()}}, md, nonce));
  }
};

}  // namespace

TEST_CASE("OCSP answers good, revoked with reason, held, released and unknown", "[ocsp]") {
  OcspFixture f;
  auto cert = f.issue("node.example.com");
  const X509* leaf = cert.certificate.get();

  auto good = f.parse(f.ask(leaf));
  REQUIRE(good.response_status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(f.verifies(good.basic.get()));
  CHECK(f.status_of(good.basic.get(), leaf) == V_OCSP_CERTSTATUS_GOOD);

  REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::certificate_hold, std::nullopt, "test"}));
  int reason = -1;
  CHECK(f.status_of(f.parse(f.ask(leaf)).basic.get(), leaf, EVP_sha1(), &reason) == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD);

  REQUIRE(f.authority->release_hold(cert.record.serial, std::nullopt, "test"));
  CHECK(f.status_of(f.parse(f.ask(leaf)).basic.get(), leaf) == V_OCSP_CERTSTATUS_GOOD);

  REQUIRE(f.authority->revoke({cert.record.serial, std::nullopt, RevocationReason::key_compromise, std::nullopt, "test"}));
  CHECK(f.status_of(f.parse(f.ask(leaf)).basic.get(), leaf, EVP_sha1(), &reason) == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);

  // A certificate this CA never issued (same issuer, made outside the database).
  auto other = f.issue("other.example.com");
  X509Ptr forged(X509_dup(other.certificate.get()));
  Asn1IntegerPtr serial(ASN1_INTEGER_new());
  ASN1_INTEGER_set(serial.get(), 0x1234567);
  X509_set_serialNumber(forged.get(), serial.get());
  auto unknown = f.parse(f.ask(forged.get()));
  CHECK(f.status_of(unknown.basic.get(), forged.get()) == V_OCSP_CERTSTATUS_UNKNOWN);
}

TEST_CASE("OCSP echoes the CertID hash algorithm and the nonce", "[ocsp]") {
  OcspFixture f;
  auto cert = f.issue("node.example.com");
  auto sha256 = f.parse(f.ask(cert.certificate.get(), EVP_sha256()));
  CHECK(f.status_of(sha256.basic.get(), cert.certificate.get(), EVP_sha256()) == V_OCSP_CERTSTATUS_GOOD);
  CHECK(f.status_of(sha256.basic.get(), cert.certificate.get(), EVP_sha1()) == -1);  // not re-hashed to SHA-1

  OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), cert.certificate.get(), f.issuing_cert.get()));
  OCSP_request_add1_nonce(req.get(), nullptr, 16);
  const auto der = der_encode(req.get(), i2d_OCSP_REQUEST);
  auto answer = f.ocsp.respond(der);
  CHECK_FALSE(answer.cacheable);
  auto parsed = f.parse(answer);
  CHECK(OCSP_check_nonce(req.get(), parsed.basic.get()) == 1);
}

TEST_CASE("malformed, oversized-nonce and foreign requests get OCSP errors", "[ocsp]") {
  OcspFixture f;
  CHECK(f.ocsp.respond({}).outcome == OcspOutcome::malformed_request);
  const std::vector<std::uint8_t> garbage{0x30, 0x82, 0x01, 0x00, 0x01, 0x02};
  auto bad = f.ocsp.respond(garbage);
  CHECK(bad.outcome == OcspOutcome::malformed_request);
  CHECK(f.parse(bad).response_status == OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);

  auto cert = f.issue("node.example.com");
  auto full = OcspFixture::request_der({{cert.certificate.get(), f.issuing_cert.get()}});
  full.resize(full.size() - 3);
  CHECK(f.ocsp.respond(full).outcome == OcspOutcome::malformed_request);

  OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), cert.certificate.get(), f.issuing_cert.get()));
  std::vector<unsigned char> long_nonce(64, 0xAB);
  OCSP_request_add1_nonce(req.get(), long_nonce.data(), static_cast<int>(long_nonce.size()));
  const auto der = der_encode(req.get(), i2d_OCSP_REQUEST);
  CHECK(f.ocsp.respond(der).outcome == OcspOutcome::malformed_request);

  // An issuer this instance does not serve.
  auto foreign_key = generate_key(*KeySpec::parse("p256"));
  X509Ptr foreign(X509_dup(f.issuing_cert.get()));
  X509_set_pubkey(foreign.get(), foreign_key->get());
  auto foreign_answer = f.ocsp.respond(OcspFixture::request_der({{cert.certificate.get(), foreign.get()}}));
  CHECK(foreign_answer.outcome == OcspOutcome::unauthorized);
  CHECK(f.parse(foreign_answer).response_status == OCSP_RESPONSE_STATUS_UNAUTHORIZED);
}

TEST_CASE("the delegated responder certificate chains to its CA and is renewed before expiry", "[ocsp]") {
  OcspFixture f;
  auto issuing = f.database->find_ca("issuing");
  auto signer = f.database->current_ocsp_signer(issuing->id);
  REQUIRE(signer);
  auto signer_cert = parse_certificate(signer->certificate_pem);
  REQUIRE(signer_cert);
  CHECK(X509_check_purpose(signer_cert->get(), X509_PURPOSE_OCSP_HELPER, 0) == 1);
  CHECK(X509_get_ext_by_NID(signer_cert->get(), NID_id_pkix_OCSP_noCheck, -1) >= 0);
  CHECK(signed_by(signer_cert->get(), f.issuing_cert.get()));
  CHECK(f.database->find_certificate(issuing->id, signer->serial)->profile == "ocsp-signer");

  CHECK(*f.ocsp.ensure_signers() == 0);  // still fresh: kept
  f.clock.advance(std::chrono::days(OcspSettings{}.signer_validity_days - OcspSettings{}.renew_signer_before_days + 1));
  CHECK(*f.ocsp.ensure_signers() == 2);  // root and issuing both renewed
  auto renewed = f.database->current_ocsp_signer(issuing->id);
  CHECK(renewed->serial != signer->serial);
}

TEST_CASE("pre-signed answers are cached, replaced on status change and refreshed before nextUpdate", "[ocsp]") {
  OcspFixture f;
  auto cert = f.issue("node.example.com");
  auto first = f.ask(cert.certificate.get());
  REQUIRE(first.cacheable);
  auto second = f.ask(cert.certificate.get());
  CHECK(second.der == first.der);  // served from the cache
  CHECK(f.ocsp.cached_answers() == 1);

  // A revocation by another process reaches the database only: the status check still catches it.
  CertificateRecord record = *f.database->find_certificate(cert.record.issuer_id, cert.record.serial);
  StatusChange change{CertificateStatus::valid, CertificateStatus::revoked, f.clock.now(), RevocationReason::superseded, std::nullopt};
  REQUIRE(f.database->change_status(record.issuer_id, record.serial, change, AuditEvent{"test", "certificate.revoke", "x", "{}", f.clock.now()}));
  auto after = f.ask(cert.certificate.get());
  CHECK(after.der != first.der);
  CHECK(f.status_of(f.parse(after).basic.get(), cert.certificate.get()) == V_OCSP_CERTSTATUS_REVOKED);

  // Moving time close to nextUpdate makes the refresh re-sign.
  const auto old_next = *after.next_update;
  f.clock.advance(OcspSettings{}.validity - OcspSettings{}.refresh_before + std::chrono::minutes(1));
  auto refreshed = f.ocsp.refresh_cache();
  REQUIRE(refreshed);
  CHECK(*refreshed == 1);
  auto later = f.ask(cert.certificate.get());
  CHECK(*later.next_update > old_next);
  CHECK(*later.next_update - f.clock.now() > OcspSettings{}.refresh_before);
}

TEST_CASE("several CertIDs in one request are answered together", "[ocsp]") {
  OcspFixture f;
  auto a = f.issue("a.example.com");
  auto b = f.issue("b.example.com");
  REQUIRE(f.authority->revoke({b.record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));
  auto answer = f.ocsp.respond(OcspFixture::request_der({{a.certificate.get(), f.issuing_cert.get()},
                                                         {b.certificate.get(), f.issuing_cert.get()}}));
  auto parsed = f.parse(answer);
  REQUIRE(parsed.basic);
  CHECK(OCSP_resp_count(parsed.basic.get()) == 2);
  CHECK(f.status_of(parsed.basic.get(), a.certificate.get()) == V_OCSP_CERTSTATUS_GOOD);
  CHECK(f.status_of(parsed.basic.get(), b.certificate.get()) == V_OCSP_CERTSTATUS_REVOKED);
}

TEST_CASE("with sign_with_ca_key the CA signs answers itself and no responder certificate is issued", "[ocsp]") {
  fca::test::AuthorityFixture f;
  OcspSettings settings;
  settings.sign_with_ca_key = true;
  OcspService ocsp(*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, settings);
  REQUIRE(ocsp.ensure_signers());
  auto issuing = f.database->find_ca("issuing");
  CHECK_FALSE(f.database->current_ocsp_signer(issuing->id));

  auto cert = f.issue("node.example.com");
  auto issuing_cert = parse_certificate(issuing->certificate_pem);
  auto answer = ocsp.respond(OcspFixture::request_der({{cert.certificate.get(), issuing_cert->get()}}));
  REQUIRE(answer.outcome == OcspOutcome::successful);
  const unsigned char* p = answer.der.data();
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
  OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
  REQUIRE(basic);
  // The CA certificate itself is the signer: with the response's own certificates ignored (NOINTERN),
  // it verifies against the CA alone.
  STACK_OF(X509)* signers = sk_X509_new_null();
  sk_X509_push(signers, issuing_cert->get());
  X509StorePtr store(X509_STORE_new());
  CHECK(OCSP_basic_verify(basic.get(), signers, store.get(), OCSP_NOINTERN | OCSP_TRUSTOTHER | OCSP_NOVERIFY) == 1);
  sk_X509_free(signers);
}

TEST_CASE("OCSP answers revoked (cACompromise) for certificates of a CA revoked for keyCompromise", "[ocsp][gate]") {
  OcspFixture f;
  auto leaf = f.issue("under-compromised.example.com");
  auto answer = f.ask(leaf.certificate.get());
  REQUIRE(answer.outcome == OcspOutcome::successful);
  CHECK(f.status_of(f.parse(answer).basic.get(), leaf.certificate.get()) == V_OCSP_CERTSTATUS_GOOD);

  // Hold and other reasons leave the leaves' answers alone; only a compromised key changes them.
  const auto issuing_serial = serial_hex(f.issuing_cert.get());
  REQUIRE(f.authority->revoke(RevokeRequest{issuing_serial, "root", RevocationReason::certificate_hold, std::nullopt, "test"}));
  CHECK(f.status_of(f.parse(f.ask(leaf.certificate.get())).basic.get(), leaf.certificate.get()) == V_OCSP_CERTSTATUS_GOOD);
  REQUIRE(f.authority->release_hold(issuing_serial, "root", "test"));

  REQUIRE(f.authority->revoke(RevokeRequest{issuing_serial, "root", RevocationReason::key_compromise, std::nullopt, "test"}));
  for (bool nonce : {false, true}) {
    auto revoked = f.ask(leaf.certificate.get(), EVP_sha1(), nonce);
    REQUIRE(revoked.outcome == OcspOutcome::successful);
    auto parsed = f.parse(revoked);
    CHECK(f.verifies(parsed.basic.get()));
    int reason = -1;
    CHECK(f.status_of(parsed.basic.get(), leaf.certificate.get(), EVP_sha1(), &reason) == V_OCSP_CERTSTATUS_REVOKED);
    CHECK(reason == OCSP_REVOKED_STATUS_CACOMPROMISE);
  }
}

TEST_CASE("a revoked CA whose responder certificate is due signs its own answers", "[ocsp][gate]") {
  OcspFixture f;
  auto leaf = f.issue("under-revoked.example.com");
  REQUIRE(f.authority->revoke(RevokeRequest{serial_hex(f.issuing_cert.get()), "root", RevocationReason::ca_compromise,
                                            std::nullopt, "test"}));
  // Past the delegated responder's renewal point: the revoked CA may not issue a new one.
  f.clock.advance(std::chrono::days(OcspSettings{}.signer_validity_days));
  const auto rows = f.certificate_rows();
  auto ensured = f.ocsp.ensure_signers();
  INFO((ensured ? std::string() : ensured.error().message));
  REQUIRE(ensured);
  // The root's responder is renewed (one row); the revoked issuing CA gets none.
  CHECK(f.certificate_rows() == rows + 1);

  auto answer = f.ask(leaf.certificate.get());
  REQUIRE(answer.outcome == OcspOutcome::successful);
  auto parsed = f.parse(answer);
  CHECK(f.verifies(parsed.basic.get()));
  int reason = -1;
  CHECK(f.status_of(parsed.basic.get(), leaf.certificate.get(), EVP_sha1(), &reason) == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(reason == OCSP_REVOKED_STATUS_CACOMPROMISE);
}
