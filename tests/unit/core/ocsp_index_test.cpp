// The ready-to-send OCSP index: scan resistance and bounds of the cache, the CertID extraction, and
// the service's use of it with the SQLite read path (unknown serials never indexed; a change by
// another connection found by the revision check, only the changed entry re-signed).
#include <catch2/catch.hpp>

#include <openssl/ocsp.h>

#include <future>
#include <thread>

#include "authority_fixture.hpp"
#include "fca/core/ocsp_index.hpp"
#include "fca/core/x509.hpp"
#include "fca/db/ocsp_lookup.hpp"

using namespace fca;

namespace {


std::shared_ptr<const OcspReadyAnswer> ready_for(int n) {
  auto ready = std::make_shared<OcspReadyAnswer>();
  const std::string key = "certid-" + std::to_string(n);
  ready->cert_id.assign(key.begin(), key.end());
  ready->serial = std::to_string(n);
  return ready;
}

bool holds(OcspIndex& index, int n) {
  const auto key = ready_for(n)->cert_id;
  return index.find(key).has_value();
}

std::vector<std::uint8_t> request_der(const X509* leaf, const X509* issuer, bool nonce = false, const X509* second = nullptr) {
  OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), leaf, issuer));
  if (second) OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), second, issuer));
  if (nonce) OCSP_request_add1_nonce(req.get(), nullptr, -1);
  return der_encode(req.get(), i2d_OCSP_REQUEST);
}

std::vector<std::uint8_t> request_for_serial(const X509* issuer, const std::string& serial_hex) {
  BignumPtr bn;
  BIGNUM* raw = nullptr;
  BN_hex2bn(&raw, serial_hex.c_str());
  bn.reset(raw);
  std::unique_ptr<ASN1_INTEGER, OsslDeleter<ASN1_INTEGER_free>> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_request_add0_id(req.get(), OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer),
                                                   serial.get()));
  return der_encode(req.get(), i2d_OCSP_REQUEST);
}

}  // namespace

TEST_CASE("OCSP index: a scan of serials each asked once does not evict the hot set", "[ocsp][index]") {
  for (std::size_t shards : {1u, 8u}) {
    INFO("shards " << shards);
    const std::size_t capacity = 400;
    OcspIndex index(capacity, shards);
    // The hot set: 40 answers, asked for again and again.
    for (int n = 0; n < 40; ++n) index.put(ready_for(n), {});
    for (int round = 0; round < 3; ++round) {
      for (int n = 0; n < 40; ++n) REQUIRE(holds(index, n));
    }
    // A scan: 20 times the capacity, every serial new and asked once.
    for (int n = 1000; n < 1000 + 20 * static_cast<int>(capacity); ++n) {
      index.put(ready_for(n), {});
      CHECK(index.size() <= capacity);
    }
    int kept = 0;
    for (int n = 0; n < 40; ++n) kept += holds(index, n) ? 1 : 0;
    CHECK(kept == 40);
    // The scan's own entries were the ones evicted: most of it is gone.
    int scanned_kept = 0;
    for (int n = 1000; n < 1000 + 20 * static_cast<int>(capacity); ++n) scanned_kept += holds(index, n) ? 1 : 0;
    CHECK(scanned_kept <= static_cast<int>(capacity) - 40);
  }
}

TEST_CASE("OCSP index: bounded, and an old hot set gives way to a new one", "[ocsp][index]") {
  OcspIndex index(100, 1);
  for (int n = 0; n < 100; ++n) {
    index.put(ready_for(n), {});
    holds(index, n);  // promoted: protected holds 80, the rest is demoted to probation
  }
  CHECK(index.size() == 100);
  // A new working set asked twice replaces the old one: nothing is pinned for ever. (The second time,
  // an entry probation let go is remembered and goes straight to protected.)
  for (int round = 0; round < 2; ++round) {
    for (int n = 500; n < 600; ++n) {
      if (!holds(index, n)) index.put(ready_for(n), {});
    }
  }
  int fresh = 0;
  for (int n = 500; n < 600; ++n) fresh += holds(index, n) ? 1 : 0;
  CHECK(fresh >= 80);
  CHECK(index.size() == 100);
}

TEST_CASE("OCSP index: replace and restamp only touch the entry they were given", "[ocsp][index]") {
  OcspIndex index(10, 1);
  auto first = ready_for(1);
  index.put(first, {5, 0});
  auto second = ready_for(1);
  index.put(second, {6, 0});
  CHECK_FALSE(index.replace(first, ready_for(1), {7, 0}));  // first is no longer there
  index.restamp(first, {9, 0});
  auto hit = index.find(first->cert_id);
  REQUIRE(hit);
  CHECK(hit->ready == second);
  CHECK(hit->stamp == OcspStamp{6, 0});
  index.restamp(second, {4, 0});  // older than what it holds: ignored
  CHECK(index.find(first->cert_id)->stamp == OcspStamp{6, 0});
  index.remove(second);
  CHECK(index.size() == 0);
}

TEST_CASE("OCSP index: only nonce-less single requests yield a CertID, byte for byte", "[ocsp][index]") {
  fca::test::AuthorityFixture f;
  auto leaf = f.issue("a.example.com");
  auto other = f.issue("b.example.com");
  auto issuing = std::move(*parse_certificate(f.database->find_ca("issuing")->certificate_pem));

  const auto plain = request_der(leaf.certificate.get(), issuing.get());
  auto id = single_cert_id(plain);
  REQUIRE(id);
  OcspCertIdPtr expected(OCSP_cert_to_id(EVP_sha1(), leaf.certificate.get(), issuing.get()));
  CHECK(std::vector<std::uint8_t>(id->begin(), id->end()) == der_encode(expected.get(), i2d_OCSP_CERTID));

  CHECK_FALSE(single_cert_id(request_der(leaf.certificate.get(), issuing.get(), true)));
  CHECK_FALSE(single_cert_id(request_der(leaf.certificate.get(), issuing.get(), false, other.certificate.get())));
  auto trailing = plain;
  trailing.push_back(0);
  CHECK_FALSE(single_cert_id(trailing));
  CHECK_FALSE(single_cert_id(std::span<const std::uint8_t>(plain).first(plain.size() - 1)));
  CHECK_FALSE(single_cert_id({}));
}

TEST_CASE("OCSP index in the service: unknown serials are not indexed, known ones are, with headers",
          "[ocsp][index]") {
  fca::test::AuthorityFixture f;
  OcspService ocsp{*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, OcspSettings{}};
  auto source = db::SqliteOcspStatusSource::open(f.dir / "ca.db");
  REQUIRE(source);
  ocsp.use_status_source(*source);
  REQUIRE(ocsp.ensure_signers());
  auto issuing = std::move(*parse_certificate(f.database->find_ca("issuing")->certificate_pem));

  const auto unknown = request_for_serial(issuing.get(), "1234567890ABCDEF");
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(ocsp.respond_cached(unknown).has_value());  // must be signed: nothing indexed for it
    auto answer = ocsp.respond(unknown);
    CHECK(answer.outcome == OcspOutcome::successful);
    CHECK_FALSE(answer.headers);
  }
  CHECK(ocsp.cached_answers() == 0);

  auto leaf = f.issue("known.example.com");
  const auto known = request_der(leaf.certificate.get(), issuing.get());
  CHECK_FALSE(ocsp.respond_cached(known).has_value());
  auto signed_answer = ocsp.respond(known);
  CHECK(ocsp.cached_answers() == 1);
  auto indexed = ocsp.respond_cached(known);
  REQUIRE(indexed);
  CHECK(indexed->der == signed_answer.der);
  REQUIRE(indexed->headers);
  CHECK(indexed->headers->etag.size() == 66);  // quoted SHA-256 hex
  CHECK(indexed->headers->expires == http_date(*indexed->next_update));
}

TEST_CASE("OCSP index in the service: a change by another connection is in the next answer, others stay as signed",
          "[ocsp][index]") {
  fca::test::AuthorityFixture f;
  OcspService ocsp{*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, OcspSettings{}};
  auto source = db::SqliteOcspStatusSource::open(f.dir / "ca.db");
  REQUIRE(source);
  ocsp.use_status_source(*source);
  REQUIRE(ocsp.ensure_signers());
  auto issuing = std::move(*parse_certificate(f.database->find_ca("issuing")->certificate_pem));
  auto hot = f.issue("hot.example.com");
  auto cold = f.issue("cold.example.com");
  const auto hot_request = request_der(hot.certificate.get(), issuing.get());
  const auto cold_request = request_der(cold.certificate.get(), issuing.get());
  const auto hot_first = ocsp.respond(hot_request);
  const auto cold_first = ocsp.respond(cold_request);
  REQUIRE(ocsp.cached_answers() == 2);

  // Nothing changed: answered from the index without reading the revisions again, and without asking
  // SQLite at all (the WAL-index header is unchanged). The first call catches up with the writes above.
  REQUIRE(ocsp.respond_cached(hot_request));
  const auto reads_before = (*source)->revision_reads();
  const auto checks_before = (*source)->version_checks();
  for (int i = 0; i < 5; ++i) REQUIRE(ocsp.respond_cached(hot_request));
  CHECK((*source)->revision_reads() == reads_before);
  CHECK((*source)->version_checks() == checks_before);

  // Another connection (as another process would) revokes the cold one: this service is not told.
  auto other = db::Database::open(f.dir / "ca.db");
  REQUIRE(other);
  StatusChange change{CertificateStatus::valid, CertificateStatus::revoked, f.clock.now(), RevocationReason::superseded,
                      std::nullopt};
  REQUIRE((*other)->change_status(cold.record.issuer_id, cold.record.serial, change,
                                  AuditEvent{"test", "certificate.revoke", "x", "{}", f.clock.now()}));

  // The hot one was checked and is still the same signed answer; the cold one needs a new signature.
  auto hot_after = ocsp.respond_cached(hot_request);
  REQUIRE(hot_after);
  CHECK(hot_after->der == hot_first.der);
  CHECK((*source)->version_checks() > checks_before);
  CHECK((*source)->revision_reads() > reads_before);
  CHECK_FALSE(ocsp.respond_cached(cold_request).has_value());
  auto cold_after = ocsp.respond(cold_request);
  CHECK(cold_after.der != cold_first.der);
  auto cold_indexed = ocsp.respond_cached(cold_request);
  REQUIRE(cold_indexed);
  CHECK(cold_indexed->der == cold_after.der);
  // The new answer says revoked.
  const unsigned char* p = cold_after.der.data();
  std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE_free>> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(cold_after.der.size())));
  REQUIRE(response);
  std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP_free>> basic(OCSP_response_get1_basic(response.get()));
  REQUIRE(basic);
  OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), cold.certificate.get(), issuing.get()));
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  REQUIRE(OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_update, &next_update));
  CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(reason == OCSP_REVOKED_STATUS_SUPERSEDED);
}

TEST_CASE("OCSP answers are made while a CRL build holds the database", "[ocsp][index]") {
  fca::test::AuthorityFixture f;
  OcspService ocsp{*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, OcspSettings{}};
  auto source = db::SqliteOcspStatusSource::open(f.dir / "ca.db");
  REQUIRE(source);
  ocsp.use_status_source(*source);
  REQUIRE(ocsp.ensure_signers());
  auto issuing_ca = *f.database->find_ca("issuing");
  auto issuing = std::move(*parse_certificate(issuing_ca.certificate_pem));
  auto leaf = f.issue("during-crl.example.com");
  const auto request = request_der(leaf.certificate.get(), issuing.get());

  // The hook runs inside crl_snapshot, with Database's mutex held and its read transaction open:
  // an answer that needed that mutex could not finish before the hook returns.
  // The answering thread is joined after the snapshot, so a regression fails the check, not the run.
  std::promise<OcspOutcome> answered;
  auto outcome_future = answered.get_future();
  std::thread answering;
  std::optional<OcspOutcome> outcome;
  bool finished_in_time = false;
  f.database->set_crl_snapshot_hook([&] {
    answering = std::thread([&] { answered.set_value(ocsp.respond(request).outcome); });
    finished_in_time = outcome_future.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  auto snapshot = f.database->crl_snapshot(issuing_ca.id, std::nullopt);
  f.database->set_crl_snapshot_hook({});
  answering.join();
  outcome = outcome_future.get();
  REQUIRE(snapshot);
  CHECK(finished_in_time);
  CHECK(outcome == OcspOutcome::successful);
  CHECK(ocsp.cached_answers() == 1);
}

TEST_CASE("OCSP index in the service: a CA compromise in the parent's register changes the indexed answers below it",
          "[ocsp][index]") {
  fca::test::AuthorityFixture f;
  OcspService ocsp{*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, OcspSettings{}};
  auto source = db::SqliteOcspStatusSource::open(f.dir / "ca.db");
  REQUIRE(source);
  ocsp.use_status_source(*source);
  REQUIRE(ocsp.ensure_signers());
  auto issuing_ca = *f.database->find_ca("issuing");
  REQUIRE(issuing_ca.parent_id);
  auto issuing = std::move(*parse_certificate(issuing_ca.certificate_pem));
  auto leaf = f.issue("below.example.com");
  const auto request = request_der(leaf.certificate.get(), issuing.get());
  const auto first = ocsp.respond(request);
  REQUIRE(ocsp.respond_cached(request));

  // The issuing CA's own certificate, in the root's register, revoked for keyCompromise by another
  // connection: the leaf's row is untouched, only the parent's revision moves.
  auto other = db::Database::open(f.dir / "ca.db");
  REQUIRE(other);
  StatusChange change{CertificateStatus::valid, CertificateStatus::revoked, f.clock.now(),
                      RevocationReason::key_compromise, std::nullopt};
  REQUIRE((*other)->change_status(*issuing_ca.parent_id, serial_hex(issuing.get()), change,
                                  AuditEvent{"test", "certificate.revoke", "x", "{}", f.clock.now()}));

  CHECK_FALSE(ocsp.respond_cached(request).has_value());  // no longer true: must be signed again
  const auto after = ocsp.respond(request);
  CHECK(after.der != first.der);
  const unsigned char* p = after.der.data();
  std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE_free>> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(after.der.size())));
  REQUIRE(response);
  std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP_free>> basic(OCSP_response_get1_basic(response.get()));
  REQUIRE(basic);
  OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), leaf.certificate.get(), issuing.get()));
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  REQUIRE(OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_update, &next_update));
  CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(reason == OCSP_REVOKED_STATUS_CACOMPROMISE);
}
