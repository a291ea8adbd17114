// The OCSP and CRL front ends as plain functions of a Request: no socket, a real core underneath.
#include <catch2/catch.hpp>

#include <openssl/ocsp.h>

#include <spdlog/sinks/null_sink.h>

#include "../core/authority_fixture.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"
#include "fca/crl/crl_http.hpp"
#include "fca/ocsp/ocsp_http.hpp"

using namespace fca;

namespace {

std::shared_ptr<spdlog::logger> quiet() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

std::string base64_path(const std::vector<std::uint8_t>& der) {
  std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), der.data(), static_cast<int>(der.size()))));
  std::string encoded;
  for (char c : out) encoded += c == '/' ? "%2F" : c == '+' ? "%2B" : c == '=' ? "%3D" : std::string(1, c);
  return encoded;
}

int cert_status(const std::string& response_der, const X509* leaf, const X509* issuer) {
  const auto* p = reinterpret_cast<const unsigned char*>(response_der.data());
  std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE_free>> response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(response_der.size())));
  if (!response) return -2;
  std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP_free>> basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return -3;
  std::unique_ptr<OCSP_CERTID, OsslDeleter<OCSP_CERTID_free>> id(OCSP_cert_to_id(EVP_sha1(), leaf, issuer));
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (!OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked, &this_update, &next_update)) return -1;
  return status;
}

struct FrontEnds : test::AuthorityFixture {
  OcspService ocsp{*database, *database, *database, *authority, *keys, clock, OcspSettings{}};
  CrlService crls{*database, *database, *keys, clock, CrlSettings{}, default_settings().urls};
  X509Ptr issuing_cert = std::move(*parse_certificate(database->find_ca("issuing")->certificate_pem));
  ocsp::OcspFrontEnd ocsp_front{ocsp, ocsp::OcspHttpSettings{}, quiet()};
  crl::CrlFrontEnd crl_front{[this](std::string_view name) { return database->find_ca(name); }, crls, crl::CrlHttpSettings{},
                             quiet()};

  FrontEnds() {
    REQUIRE(ocsp.ensure_signers());
    authority->on_status_changed([this](const CaRecord&, const CertificateRecord& c) { ocsp.status_changed(c); });
  }

  std::vector<std::uint8_t> request_der(const X509* leaf, bool nonce = false) {
    std::unique_ptr<OCSP_REQUEST, OsslDeleter<OCSP_REQUEST_free>> req(OCSP_REQUEST_new());
    OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), leaf, issuing_cert.get()));
    if (nonce) OCSP_request_add1_nonce(req.get(), nullptr, -1);
    return der_encode(req.get(), i2d_OCSP_REQUEST);
  }
};

http::Request get(std::string target) {
  http::Request r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

}  // namespace

TEST_CASE("OCSP front end: signs on a miss, then answers the pre-signed bytes inline until the status changes",
          "[http][ocsp][frontend]") {
  FrontEnds f;
  auto cert = f.issue("node.example.com");
  const auto der = f.request_der(cert.certificate.get());
  const auto request = get("/ocsp/" + base64_path(der));

  CHECK_FALSE(f.ocsp_front.answer_cached(request).has_value());  // nothing signed yet: the pool's job
  const auto signed_now = f.ocsp_front.answer(request);
  REQUIRE(signed_now.status == 200);
  CHECK(signed_now.header("Content-Type") == "application/ocsp-response");
  CHECK(signed_now.header("Cache-Control").starts_with("max-age="));
  CHECK(cert_status(signed_now.body, cert.certificate.get(), f.issuing_cert.get()) == V_OCSP_CERTSTATUS_GOOD);

  auto cached = f.ocsp_front.answer_cached(request);
  REQUIRE(cached.has_value());
  CHECK(cached->body == signed_now.body);
  CHECK(cached->header("ETag") == signed_now.header("ETag"));

  // A conditional GET with the ETag: 304 without a body.
  auto conditional = request;
  conditional.headers.emplace_back("If-None-Match", std::string(signed_now.header("ETag")));
  auto not_modified = f.ocsp_front.answer_cached(conditional);
  REQUIRE(not_modified);
  CHECK(not_modified->status == 304);
  CHECK(not_modified->body.empty());

  // POST of the same DER takes the same cached answer.
  http::Request post;
  post.method = "POST";
  post.target = "/ocsp";
  post.headers.emplace_back("Content-Type", "application/ocsp-request");
  post.body.assign(der.begin(), der.end());
  auto posted = f.ocsp_front.answer_cached(post);
  REQUIRE(posted);
  CHECK(posted->body == signed_now.body);

  // A revocation: the cached answer is no longer usable inline; the signed one says revoked.
  REQUIRE(f.authority->revoke(RevokeRequest{cert.record.serial, std::nullopt, RevocationReason::key_compromise, std::nullopt, "test"}));
  CHECK_FALSE(f.ocsp_front.answer_cached(request).has_value());
  const auto after = f.ocsp_front.answer(request);
  CHECK(cert_status(after.body, cert.certificate.get(), f.issuing_cert.get()) == V_OCSP_CERTSTATUS_REVOKED);

  // A nonce is never answered from the cache.
  const auto nonce_request = get("/ocsp/" + base64_path(f.request_der(cert.certificate.get(), true)));
  CHECK_FALSE(f.ocsp_front.answer_cached(nonce_request).has_value());
  CHECK(f.ocsp_front.answer(nonce_request).header("Cache-Control").starts_with("max-age=0"));
}

TEST_CASE("OCSP front end: HTTP refusals and malformed requests are answered inline", "[http][ocsp][frontend]") {
  FrontEnds f;
  http::Request post;
  post.method = "POST";
  post.target = "/ocsp";
  post.headers.emplace_back("Content-Type", "text/plain");
  post.body = "x";
  auto refused = f.ocsp_front.answer_cached(post);
  REQUIRE(refused);
  CHECK(refused->status == 415);

  // Not base64, or nothing after the prefix: malformedRequest (30 03 0a 01 01) inside a 200.
  for (const auto* target : {"/ocsp/%ZZ", "/ocsp", "/ocsp/", "/ocsp/AAAA"}) {
    auto answer = f.ocsp_front.answer_cached(get(target));
    INFO(target);
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(answer->body == std::string("\x30\x03\x0a\x01\x01", 5));
  }
}

TEST_CASE("CRL front end: CRLs and CA certificates through the lookup it is given", "[http][crl][frontend]") {
  FrontEnds f;
  auto der = f.crl_front.crl(get("/crl/issuing.crl"));
  REQUIRE(der.status == 200);
  CHECK(der.header("Content-Type") == "application/pkix-crl");
  const auto* p = reinterpret_cast<const unsigned char*>(der.body.data());
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.body.size())));
  CHECK(parsed);
  auto pem = f.crl_front.crl(get("/crl/issuing.pem"));
  CHECK(pem.body.starts_with("-----BEGIN X509 CRL-----"));
  auto conditional = get("/crl/issuing.crl");
  conditional.headers.emplace_back("If-None-Match", std::string(der.header("ETag")));
  CHECK(f.crl_front.crl(conditional).status == 304);

  auto crt = f.crl_front.certificate(get("/ca/root.crt"));
  REQUIRE(crt.status == 200);
  CHECK(crt.header("Content-Type") == "application/pkix-cert");
  CHECK(f.crl_front.certificate(get("/ca/issuing.pem")).body.starts_with("-----BEGIN CERTIFICATE-----"));

  for (const auto* target : {"/crl/nobody.crl", "/crl/issuing.txt", "/crl/ISSUING.crl", "/crl/.crl", "/crl/a/b.crl"}) {
    INFO(target);
    CHECK(f.crl_front.crl(get(target)).status == 404);
  }
  CHECK(f.crl_front.certificate(get("/ca/nobody.pem")).status == 404);

  // A lookup that fails for another reason than "not found" is a 500, not a 404.
  crl::CrlFrontEnd broken([](std::string_view) -> Result<CaRecord> { return fail(Errc::storage, "disk gone"); }, f.crls,
                          crl::CrlHttpSettings{}, quiet());
  CHECK(broken.crl(get("/crl/issuing.crl")).status == 500);
}
