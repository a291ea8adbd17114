// OCSP requests built byte by byte (DER), so each test says exactly what the client sent: the CertID
// encoding echoed back, and malformedRequest for what RFC 6960 and this responder refuse.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "authority_fixture.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"

using namespace fca;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes tlv(std::uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  const auto n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.insert(out.end(), {0x81, static_cast<std::uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes seq(std::initializer_list<Bytes> parts) { return tlv(0x30, cat(parts)); }
Bytes octets(const Bytes& b) { return tlv(0x04, b); }
Bytes integer(const Bytes& b) { return tlv(0x02, b); }
const Bytes kNull{0x05, 0x00};
const Bytes kSha1Oid{0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A};
const Bytes kNonceOid{0x06, 0x09, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};
const Bytes kUnknownOid{0x06, 0x04, 0x2A, 0x03, 0x04, 0x05};  // 1.2.3.4.5
const Bytes kTrue{0x01, 0x01, 0xFF};

Bytes extension(const Bytes& oid, bool critical, const Bytes& value) {
  return critical ? seq({oid, kTrue, octets(value)}) : seq({oid, octets(value)});
}

struct RequestParts {
  bool sha1_null_parameters = true;
  Bytes serial;                       // magnitude; the issued serial by default
  std::optional<Bytes> version;       // [0] EXPLICIT INTEGER content
  std::vector<Bytes> single_extensions;
  std::vector<Bytes> request_extensions;
  std::optional<Bytes> signature;     // the whole [0] EXPLICIT Signature
};

struct Fixture : fca::test::AuthorityFixture {
  OcspService ocsp{*database, *database, *database, *authority, *keys, clock, OcspSettings{}};
  X509Ptr issuing_cert = std::move(*parse_certificate(database->find_ca("issuing")->certificate_pem));
  IssuedCertificate leaf = issue("node.example.com");
  Bytes name_hash, key_hash, serial;

  Fixture() {
    REQUIRE(ocsp.ensure_signers());
    OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), leaf.certificate.get(), issuing_cert.get()));
    ASN1_OCTET_STRING *name = nullptr, *key = nullptr;
    ASN1_INTEGER* number = nullptr;
    OCSP_id_get0_info(&name, nullptr, &key, &number, id.get());
    name_hash.assign(ASN1_STRING_get0_data(name), ASN1_STRING_get0_data(name) + ASN1_STRING_length(name));
    key_hash.assign(ASN1_STRING_get0_data(key), ASN1_STRING_get0_data(key) + ASN1_STRING_length(key));
    serial = der_encode(number, i2d_ASN1_INTEGER);
    serial.erase(serial.begin(), serial.begin() + 2);  // tag and (short) length
  }

  Bytes cert_id(const RequestParts& parts) const {
    const Bytes algorithm = parts.sha1_null_parameters ? seq({kSha1Oid, kNull}) : seq({kSha1Oid});
    return seq({algorithm, octets(name_hash), octets(key_hash), integer(parts.serial.empty() ? serial : parts.serial)});
  }

  Bytes request(const RequestParts& parts) const {
    Bytes single_extensions;
    for (const auto& e : parts.single_extensions) single_extensions = cat({single_extensions, e});
    const Bytes one = parts.single_extensions.empty() ? seq({cert_id(parts)})
                                                      : seq({cert_id(parts), tlv(0xA0, tlv(0x30, single_extensions))});
    Bytes tbs_content;
    if (parts.version) tbs_content = tlv(0xA0, integer(*parts.version));
    tbs_content = cat({tbs_content, seq({one})});
    if (!parts.request_extensions.empty()) {
      Bytes extensions;
      for (const auto& e : parts.request_extensions) extensions = cat({extensions, e});
      tbs_content = cat({tbs_content, tlv(0xA2, tlv(0x30, extensions))});
    }
    const Bytes tbs = tlv(0x30, tbs_content);
    return parts.signature ? seq({tbs, *parts.signature}) : seq({tbs});
  }

  OcspAnswer ask(const Bytes& der) { return ocsp.respond(der); }
};

int response_status(const OcspAnswer& answer) {
  const unsigned char* p = answer.der.data();
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
  REQUIRE(response);
  return OCSP_response_status(response.get());
}

// The DER of the (only) CertID in a successful response.
Bytes answered_cert_id(const OcspAnswer& answer) {
  const unsigned char* p = answer.der.data();
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
  REQUIRE(response);
  OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
  REQUIRE(basic);
  REQUIRE(OCSP_resp_count(basic.get()) == 1);
  return der_encode(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(basic.get(), 0)), i2d_OCSP_CERTID);
}

// Where one TLV's content starts and where the TLV ends (short or two-octet lengths, as built here).
struct At {
  std::size_t content;
  std::size_t end;
};
At at(const Bytes& der, std::size_t pos) {
  std::size_t length = der.at(pos + 1);
  std::size_t content = pos + 2;
  if (length == 0x81) {
    length = der.at(pos + 2);
    content = pos + 3;
  } else if (length == 0x82) {
    length = (std::size_t{der.at(pos + 2)} << 8) | der.at(pos + 3);
    content = pos + 4;
  }
  return {content, content + length};
}
Bytes read_tlv_content(const Bytes& der) {
  const auto outer = at(der, 0);
  return Bytes(der.begin() + static_cast<long>(outer.content), der.begin() + static_cast<long>(outer.end));
}

constexpr int kSuccessful = OCSP_RESPONSE_STATUS_SUCCESSFUL;
constexpr int kMalformed = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;

}  // namespace

TEST_CASE("every answer echoes this request's CertID encoding, cached or not", "[ocsp][request]") {
  Fixture f;
  RequestParts absent;
  absent.sha1_null_parameters = false;
  RequestParts with_null;

  // First client: SHA-1 without NULL parameters; its answer is cached.
  auto first = f.ask(f.request(absent));
  REQUIRE(response_status(first) == kSuccessful);
  CHECK(answered_cert_id(first) == f.cert_id(absent));
  CHECK(f.ocsp.cached_answers() == 1);

  // Second client: with NULL. It must not get the first client's encoding back.
  auto second = f.ask(f.request(with_null));
  REQUIRE(response_status(second) == kSuccessful);
  CHECK(answered_cert_id(second) == f.cert_id(with_null));

  auto third = f.ask(f.request(absent));
  CHECK(answered_cert_id(third) == f.cert_id(absent));
  // And the cache still answers a repeated request without signing again.
  auto repeat = f.ask(f.request(absent));
  CHECK(repeat.der == third.der);
}

TEST_CASE("requests RFC 6960 does not allow get malformedRequest", "[ocsp][request]") {
  Fixture f;
  REQUIRE(response_status(f.ask(f.request({}))) == kSuccessful);

  SECTION("a critical unknown request extension") {
    RequestParts parts;
    parts.request_extensions = {extension(kUnknownOid, true, {0x05, 0x00})};
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
    // The same extension, not critical, is ignored.
    parts.request_extensions = {extension(kUnknownOid, false, {0x05, 0x00})};
    CHECK(response_status(f.ask(f.request(parts))) == kSuccessful);
  }
  SECTION("a critical unknown single-request extension") {
    RequestParts parts;
    parts.single_extensions = {extension(kUnknownOid, true, {0x05, 0x00})};
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
  }
  SECTION("the nonce twice") {
    RequestParts parts;
    parts.request_extensions = {extension(kNonceOid, false, octets({1, 2, 3, 4})),
                                extension(kNonceOid, false, octets({5, 6, 7, 8}))};
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
  }
  SECTION("version other than v1") {
    RequestParts parts;
    parts.version = Bytes{99};
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
    parts.version = Bytes{1};
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
    // v1 spelt out is still v1.
    parts.version = Bytes{0};
    CHECK(response_status(f.ask(f.request(parts))) == kSuccessful);
  }
  SECTION("an indefinite-length (BER) outer encoding") {
    const Bytes der = f.request({});
    // 30 len <tbs>  ->  30 80 <tbs> 00 00
    const auto inner = read_tlv_content(der);
    Bytes ber{0x30, 0x80};
    ber.insert(ber.end(), inner.begin(), inner.end());
    ber.insert(ber.end(), {0x00, 0x00});
    // OpenSSL itself parses it, so only the DER check refuses it.
    const unsigned char* p = ber.data();
    OcspRequestPtr parsed(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(ber.size())));
    REQUIRE(parsed);
    CHECK(response_status(f.ask(ber)) == kMalformed);
  }
  SECTION("a non-minimal length") {
    const Bytes der = f.request({});
    const auto inner = read_tlv_content(der);
    Bytes long_form{0x30, 0x82, static_cast<std::uint8_t>(inner.size() >> 8), static_cast<std::uint8_t>(inner.size())};
    long_form.insert(long_form.end(), inner.begin(), inner.end());
    CHECK(response_status(f.ask(long_form)) == kMalformed);
  }
  SECTION("a bogus optionalSignature") {
    // sha256WithRSAEncryption over nothing, with no certificate to check it against.
    const Bytes algorithm = seq({Bytes{0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B}, kNull});
    RequestParts parts;
    parts.signature = tlv(0xA0, seq({algorithm, tlv(0x03, {0x00, 0xDE, 0xAD, 0xBE, 0xEF})}));
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
  }
  SECTION("a serial longer than 20 octets") {
    RequestParts parts;
    parts.serial = Bytes(21, 0x11);
    CHECK(response_status(f.ask(f.request(parts))) == kMalformed);
    parts.serial = Bytes(20, 0x11);  // 20 is allowed: unknown, not refused
    CHECK(response_status(f.ask(f.request(parts))) == kSuccessful);
  }
}

TEST_CASE("a signed request is answered when its signature verifies with the certificate it carries",
          "[ocsp][request]") {
  Fixture f;
  // A throwaway self-signed requestor certificate: the signer is trusted for nothing.
  PKeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("requestor"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);

  OcspRequestPtr request(OCSP_REQUEST_new());
  OCSP_request_add0_id(request.get(), OCSP_cert_to_id(EVP_sha1(), f.leaf.certificate.get(), f.issuing_cert.get()));
  REQUIRE(OCSP_request_sign(request.get(), cert.get(), key.get(), EVP_sha256(), nullptr, 0) == 1);
  auto der = der_encode(request.get(), i2d_OCSP_REQUEST);
  CHECK(response_status(f.ask(der)) == kSuccessful);

  // One flipped bit in the signature value: refused.
  // OCSPRequest { tbsRequest, [0] { Signature { algorithm, signature BIT STRING, [0] certs } } }
  const auto outer = at(der, 0);
  const auto tbs = at(der, outer.content);
  const auto explicit_signature = at(der, tbs.end);
  const auto signature = at(der, explicit_signature.content);
  const auto algorithm = at(der, signature.content);
  const auto bits = at(der, algorithm.end);
  REQUIRE(der[bits.content - 2] == 0x03);
  der[bits.end - 1] ^= 0x01;
  CHECK(response_status(f.ask(der)) == kMalformed);
}
