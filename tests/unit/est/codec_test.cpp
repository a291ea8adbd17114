// The EST wire encodings apart from HTTP: what real clients send (libest, nmos-cpp, curl + openssl)
// and what they must be able to read back.
#include <catch2/catch.hpp>

#include <openssl/pkcs7.h>

#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"
#include "fca/est/codec.hpp"
#include "fca/service/credentials.hpp"

using namespace fca;

namespace {

std::vector<std::uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

std::string csr_pem() {
  auto key = generate_key(*KeySpec::parse("p256"));
  REQUIRE(key);
  auto csr = service::build_csr(key->get(), "node.example.test", {SubjectAltName{SubjectAltName::Kind::dns, "node.example.test"}});
  REQUIRE(csr);
  return to_pem(csr->get());
}

}  // namespace

TEST_CASE("est codec: base64 with any whitespace, nothing else", "[est][codec]") {
  CHECK(est::decode_base64("TWFu") == bytes("Man"));
  CHECK(est::decode_base64("TW\r\nFu\n") == bytes("Man"));
  CHECK(est::decode_base64(" T W F u\t") == bytes("Man"));
  CHECK(est::decode_base64("TWE=") == bytes("Ma"));
  CHECK(est::decode_base64("TWE") == bytes("Ma"));  // padding optional
  CHECK(est::decode_base64("TQ==") == bytes("M"));
  CHECK_FALSE(est::decode_base64("TWF!").has_value());
  CHECK_FALSE(est::decode_base64("TQ==TQ==").has_value());  // data after padding
  CHECK_FALSE(est::decode_base64("T").has_value());         // a lone character is no byte
  CHECK_FALSE(est::decode_base64("TR==").has_value());      // non-zero fill bits
}

TEST_CASE("est codec: base64 answers come in 64-column CRLF lines and decode back", "[est][codec]") {
  std::vector<std::uint8_t> data(200);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  const auto text = est::encode_base64_lines(data);
  CHECK(text.substr(64, 2) == "\r\n");
  CHECK(text.ends_with("\r\n"));
  std::size_t at = 0;
  while (at < text.size()) {
    const auto eol = text.find("\r\n", at);
    REQUIRE(eol != std::string::npos);
    CHECK(eol - at <= 64);
    at = eol + 2;
  }
  CHECK(est::decode_base64(text) == data);
  CHECK(est::encode_base64_lines(bytes("M")) == "TQ==\r\n");
}

TEST_CASE("est codec: a CSR body as PEM (either armour) or bare base64 of the DER", "[est][codec]") {
  const auto pem = csr_pem();
  auto parsed = parse_csr(pem);
  REQUIRE(parsed);
  const auto der = der_encode<X509_REQ>(parsed->get(), [](const X509_REQ* r, unsigned char** out) { return i2d_X509_REQ(r, out); });

  auto from_pem = est::csr_der_of_body(pem);
  REQUIRE(from_pem);
  CHECK(*from_pem == der);

  std::string new_armour = pem;
  new_armour.replace(new_armour.find("BEGIN "), 6, "BEGIN NEW ");
  new_armour.replace(new_armour.find("END "), 4, "END NEW ");
  auto from_new = est::csr_der_of_body(new_armour);
  REQUIRE(from_new);
  CHECK(*from_new == der);

  auto bare = est::csr_der_of_body(est::encode_base64_lines(der));
  REQUIRE(bare);
  CHECK(*bare == der);

  CHECK(est::csr_der_of_body("").error().code == Errc::invalid_input);
  CHECK(est::csr_der_of_body("-----BEGIN CERTIFICATE-----\nTWFu\n-----END CERTIFICATE-----\n").error().code ==
        Errc::invalid_input);
  CHECK(est::csr_der_of_body(pem + pem).error().code == Errc::invalid_input);  // one object only
  CHECK(est::csr_der_of_body("not base64 at all").error().code == Errc::invalid_input);
}

TEST_CASE("est codec: certs-only PKCS#7 keeps the order and has no content", "[est][codec]") {
  auto key = generate_key(*KeySpec::parse("p256"));
  REQUIRE(key);
  // Two distinct self-signed certificates made by openssl's API through the CSR builder's key.
  std::vector<X509Ptr> certs;
  for (const char* cn : {"first", "second"}) {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), cn[0]);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key->get());
    REQUIRE(X509_sign(cert.get(), key->get(), EVP_sha256()) > 0);
    certs.push_back(std::move(cert));
  }
  auto der = est::certs_only_pkcs7({certs[0].get(), certs[1].get()});
  REQUIRE(der);
  const unsigned char* p = der->data();
  std::unique_ptr<PKCS7, OsslDeleter<PKCS7_free>> p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der->size())));
  REQUIRE(p7);
  REQUIRE(PKCS7_type_is_signed(p7.get()));
  CHECK(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) == 0);
  CHECK(p7->d.sign->contents->d.data == nullptr);
  STACK_OF(X509)* inside = p7->d.sign->cert;
  REQUIRE(sk_X509_num(inside) == 2);
  CHECK(common_name(X509_get_subject_name(sk_X509_value(inside, 0))) == "first");
  CHECK(common_name(X509_get_subject_name(sk_X509_value(inside, 1))) == "second");
}

TEST_CASE("est codec: multipart/mixed round trip, broken framing refused", "[est][codec]") {
  const auto body = est::multipart_mixed("b0undary", {{"application/pkcs8", "S0VZ\r\n"},
                                                      {"application/pkcs7-mime; smime-type=certs-only", "Q0VSVA==\r\n"}});
  auto parts = est::parse_multipart(body, "b0undary");
  REQUIRE(parts);
  REQUIRE(parts->size() == 2);
  CHECK((*parts)[0].headers[0] == std::pair<std::string, std::string>{"Content-Type", "application/pkcs8"});
  CHECK((*parts)[0].headers[1] == std::pair<std::string, std::string>{"Content-Transfer-Encoding", "base64"});
  CHECK(est::decode_base64((*parts)[0].body) == bytes("KEY"));
  CHECK(est::decode_base64((*parts)[1].body) == bytes("CERT"));
  CHECK_FALSE(est::parse_multipart(body, "other").has_value());
  CHECK_FALSE(est::parse_multipart(body.substr(0, body.size() - 20), "b0undary").has_value());
  CHECK_FALSE(est::parse_multipart("--b\r\nno-colon\r\n\r\nx\r\n--b--\r\n", "b").has_value());
}

TEST_CASE("est codec: the TLS CsrAttrs is one well-formed DER SEQUENCE", "[est][codec]") {
  const auto der = est::tls_csr_attributes();
  REQUIRE(der.size() > 2);
  CHECK(der[0] == 0x30);
  // Short-form length covering exactly the rest (the value is well under 128 bytes).
  REQUIRE(der[1] < 0x80);
  CHECK(static_cast<std::size_t>(der[1]) + 2 == der.size());
  const unsigned char* p = der.data();
  long length = 0;
  int tag = 0, cls = 0;
  CHECK((ASN1_get_object(&p, &length, &tag, &cls, static_cast<long>(der.size())) & 0x80) == 0);
  CHECK(tag == V_ASN1_SEQUENCE);
  CHECK(length == static_cast<long>(der.size()) - 2);
}
