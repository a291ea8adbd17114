#include "fca/ocsp/published_tree.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "fca/core/ossl.hpp"

namespace fca::ocsp {
namespace {

std::string base64_of(std::span<const std::uint8_t> der) {
  std::string out(4 * ((der.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), der.data(), static_cast<int>(der.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

Result<std::vector<std::uint8_t>> rfc5019_request(const X509* issuer, std::string_view serial_hex) {
  BIGNUM* raw = nullptr;
  const std::string hex(serial_hex);
  if (hex.empty() || BN_hex2bn(&raw, hex.c_str()) != static_cast<int>(hex.size())) {
    BN_free(raw);
    return fail(Errc::invalid_input, "not a hexadecimal serial: " + hex);
  }
  BignumPtr number(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (!serial) return fail(Errc::internal, "cannot encode serial " + hex);
  OCSP_CERTID* id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
                                     X509_get0_pubkey_bitstr(issuer), serial.get());
  if (id == nullptr) return fail(Errc::internal, "cannot make a CertID for serial " + hex);
  OcspRequestPtr request(OCSP_REQUEST_new());
  if (!request || OCSP_request_add0_id(request.get(), id) == nullptr) {
    OCSP_CERTID_free(id);
    return fail(Errc::internal, "cannot make an OCSP request");
  }
  unsigned char* der = nullptr;
  const int length = i2d_OCSP_REQUEST(request.get(), &der);
  if (length <= 0) return fail(Errc::internal, "cannot encode an OCSP request");
  std::vector<std::uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

std::string get_path_segment(std::span<const std::uint8_t> request_der) {
  std::string out;
  for (const char c : base64_of(request_der)) {
    if (c == '+') out += "%2B";
    else if (c == '/') out += "%2F";
    else if (c == '=') out += "%3D";
    else out += c;
  }
  return out;
}

std::filesystem::path file_path_of(std::span<const std::uint8_t> request_der) {
  const auto base64 = base64_of(request_der);
  if (base64.empty() || base64.back() == '/') return {};
  std::filesystem::path path;
  std::size_t start = 0;
  while (start < base64.size()) {
    const auto slash = base64.find('/', start);
    const auto end = slash == std::string::npos ? base64.size() : slash;
    // "a//b" reaches the file system as a/b whether or not the web server merges slashes.
    if (end > start) path /= base64.substr(start, end - start);
    start = end + 1;
  }
  return path;
}

}  // namespace fca::ocsp
