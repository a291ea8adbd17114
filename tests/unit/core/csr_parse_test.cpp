// parse_csr reads EC and RSA keys with the key type's own decoder (OpenSSL 3.0's decoder context is a
// sixth of an issuance's CPU), but only where that gives back the very bytes received; anything else is
// read by OpenSSL's decoders as before, so a signature is always checked over what the client signed.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "fca/core/x509.hpp"
#include "test_support.hpp"

namespace {

using Bytes = std::vector<unsigned char>;

fca::PKeyPtr read_private_key(const std::filesystem::path& file) {
  std::FILE* in = std::fopen(file.c_str(), "r");
  REQUIRE(in);
  fca::PKeyPtr key(PEM_read_PrivateKey(in, nullptr, nullptr, nullptr));
  std::fclose(in);
  REQUIRE(key);
  return key;
}

// The whole request (i2d_X509_REQ) or its CertificationRequestInfo (i2d_re_X509_REQ_tbs) in DER.
template <class Encode>
Bytes der_of(const X509_REQ* req, Encode encode) {
  unsigned char* out = nullptr;
  const int length = encode(const_cast<X509_REQ*>(req), &out);
  REQUIRE(length > 2);
  Bytes der(out, out + length);
  OPENSSL_free(out);
  return der;
}

Bytes der_of(const X509_REQ* req) { return der_of(req, i2d_X509_REQ); }
Bytes request_info(const X509_REQ* req) { return der_of(req, i2d_re_X509_REQ_tbs); }

Bytes der_header(unsigned char tag, std::size_t length) {
  Bytes header{tag};
  if (length < 0x80) {
    header.push_back(static_cast<unsigned char>(length));
  } else {
    Bytes digits;
    for (auto rest = length; rest > 0; rest >>= 8) digits.insert(digits.begin(), static_cast<unsigned char>(rest & 0xff));
    header.push_back(static_cast<unsigned char>(0x80 | digits.size()));
    header.insert(header.end(), digits.begin(), digits.end());
  }
  return header;
}

// The same CertificationRequestInfo with its outer length in one octet more than DER allows (BER does).
Bytes with_padded_length(const Bytes& info) {
  REQUIRE(info[1] > 0x80);  // a request info of 128 bytes or more: long-form length
  const std::size_t octets = info[1] & 0x7f;
  Bytes padded{info[0], static_cast<unsigned char>(0x80 | (octets + 1)), 0x00};
  padded.insert(padded.end(), info.begin() + 2, info.end());
  return padded;
}

Bytes ecdsa_sha256(EVP_PKEY* key, const Bytes& data) {
  fca::MdCtxPtr ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
  std::size_t length = 0;
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, data.data(), data.size()) == 1);
  Bytes signature(length);
  REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &length, data.data(), data.size()) == 1);
  signature.resize(length);
  return signature;
}

// CertificationRequest: the info as given, ecdsa-with-SHA256, the signature.
Bytes request_of(const Bytes& info, const Bytes& signature) {
  const Bytes algorithm{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
  Bytes body = info;
  body.insert(body.end(), algorithm.begin(), algorithm.end());
  auto bit_string = der_header(0x03, signature.size() + 1);
  bit_string.push_back(0x00);
  body.insert(body.end(), bit_string.begin(), bit_string.end());
  body.insert(body.end(), signature.begin(), signature.end());
  auto request = der_header(0x30, body.size());
  request.insert(request.end(), body.begin(), body.end());
  return request;
}

std::string_view text_of(const Bytes& der) { return {reinterpret_cast<const char*>(der.data()), der.size()}; }

}  // namespace

TEST_CASE("an EC or RSA CSR's key is read by its own decoder and the request stays the bytes received", "[csr]") {
  fca::test::TempDir dir;
  for (const std::string key_type : {"p256", "p384", "rsa2048"}) {
    DYNAMIC_SECTION(key_type) {
      const auto key_file = dir / (key_type + ".key");
      const auto pem = fca::test::make_csr_with_openssl(key_file, key_type, "/CN=node.example.com", "DNS:node.example.com");
      auto parsed = fca::parse_csr(pem);
      REQUIRE(parsed);
      EVP_PKEY* key = X509_REQ_get0_pubkey(parsed->get());
      REQUIRE(key);
      CHECK(EVP_PKEY_get0_provider(key) == nullptr);  // a provider's decoder would have made a provider key
      CHECK(EVP_PKEY_eq(key, read_private_key(key_file).get()) == 1);
      CHECK(X509_REQ_verify(parsed->get(), key) == 1);
      const auto der = der_of(parsed->get());
      auto again = fca::parse_csr(text_of(der));  // the DER form takes the same path
      REQUIRE(again);
      CHECK(der_of(again->get()) == der);
      CHECK(EVP_PKEY_get0_provider(X509_REQ_get0_pubkey(again->get())) == nullptr);
    }
  }
}

TEST_CASE("a CSR the legacy decoder cannot give back byte for byte is read by OpenSSL's decoders", "[csr]") {
  fca::test::TempDir dir;
  SECTION("Ed25519: no legacy decoder") {
    const auto pem = fca::test::make_csr_with_openssl(dir / "ed.key", "ed25519", "/CN=node.example.com");
    auto parsed = fca::parse_csr(pem);
    REQUIRE(parsed);
    EVP_PKEY* key = X509_REQ_get0_pubkey(parsed->get());
    REQUIRE(key);
    CHECK(EVP_PKEY_get0_provider(key) != nullptr);
    CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519);
    CHECK(X509_REQ_verify(parsed->get(), key) == 1);
  }
  SECTION("a non-minimal length, signed as sent: the signature is checked over those bytes") {
    const auto pem = fca::test::make_csr_with_openssl(dir / "p256.key", "p256", "/CN=node.example.com",
                                                      "DNS:node.example.com,DNS:node-1.example.com");
    auto minimal = fca::parse_csr(pem);
    REQUIRE(minimal);
    auto signing_key = read_private_key(dir / "p256.key");
    const auto padded = with_padded_length(request_info(minimal->get()));
    const auto signature = ecdsa_sha256(signing_key.get(), padded);
    auto parsed = fca::parse_csr(text_of(request_of(padded, signature)));
    REQUIRE(parsed);
    EVP_PKEY* key = X509_REQ_get0_pubkey(parsed->get());
    REQUIRE(key);
    CHECK(EVP_PKEY_get0_provider(key) != nullptr);
    CHECK(EVP_PKEY_eq(key, signing_key.get()) == 1);
    CHECK(X509_REQ_verify(parsed->get(), key) == 1);
    // Control: that signature over the DER form of the same info does not verify, so a check over a
    // re-encoding of what was sent would have refused this request.
    auto reencoded = fca::parse_csr(text_of(request_of(request_info(minimal->get()), signature)));
    REQUIRE(reencoded);
    CHECK(X509_REQ_verify(reencoded->get(), X509_REQ_get0_pubkey(reencoded->get())) != 1);
  }
}
