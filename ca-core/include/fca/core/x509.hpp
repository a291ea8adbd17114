#pragma once
// Parsing, encoding and reading of certificates and CSRs.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"

namespace fca {

struct SubjectAltName {
  enum class Kind { dns, ip, email, uri, other };
  Kind kind = Kind::dns;
  std::string value;  // IPs as text (192.0.2.1, 2001:db8::1)
  bool operator==(const SubjectAltName&) const = default;
};
std::string to_string(const SubjectAltName& san);  // "DNS:x", "IP:1.2.3.4", ...

// PEM (any armour, any line wrapping) or DER.
Result<X509Ptr> parse_certificate(std::string_view pem_or_der);
// Every certificate in a PEM bundle, in order.
Result<std::vector<X509Ptr>> parse_certificates(std::string_view pem);
// A PKCS#10 request as PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER: exactly one
// object (trailing data or a second request is Errc::invalid_input), self-signed with SHA-256 or
// stronger, or Ed25519 (anything weaker is Errc::policy_refused). The signature itself is not verified here.
Result<X509ReqPtr> parse_csr(std::string_view pem_or_der);
// SHA-256, SHA-384, SHA-512, SHA3-*, or NID_undef (Ed25519): fine; anything else is refused.
Result<void> approve_csr_signature_digest(int digest_nid);

// DER of any OpenSSL object through its i2d function (i2d_X509, i2d_OCSP_RESPONSE, ...); empty on failure.
template <class T>
std::vector<std::uint8_t> der_encode(const T* object, int (*encode)(const T*, unsigned char**)) {
  unsigned char* buf = nullptr;
  const int len = encode(object, &buf);
  if (len <= 0) return {};
  std::vector<std::uint8_t> out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

std::string to_pem(const X509* cert);
std::vector<std::uint8_t> to_der(const X509* cert);
std::string to_pem(const X509_REQ* req);
std::string to_pem(const X509_CRL* crl);
std::vector<std::uint8_t> to_der(const X509_CRL* crl);

std::string hex_upper(std::span<const std::uint8_t> bytes);
std::string serial_hex(const X509* cert);  // uppercase hex of the serial's magnitude, no separators
std::string serial_hex(const ASN1_INTEGER* serial);  // the same; "" for a negative serial
std::string name_to_string(const X509_NAME* name);  // RFC 2253
std::string common_name(const X509_NAME* name);     // "" when absent
std::string sha256_fingerprint(const X509* cert);    // uppercase hex
TimePoint not_before(const X509* cert);
TimePoint not_after(const X509* cert);
std::vector<SubjectAltName> subject_alt_names(const X509* cert);
// The SANs the request asks for. An extension that is present but unreadable (or duplicated, or
// empty) yields one Kind::other entry describing it, which policy refuses.
std::vector<SubjectAltName> requested_subject_alt_names(const X509_REQ* req);

bool is_ca_certificate(const X509* cert);  // basicConstraints CA:TRUE
// Verifies cert's signature with issuer's public key.
bool signed_by(const X509* cert, const X509* issuer);

}  // namespace fca
