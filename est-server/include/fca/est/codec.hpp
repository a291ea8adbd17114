#pragma once
// The EST wire encodings (RFC 7030 §4, RFC 8951), apart from any HTTP or service: what a client
// sends (a PKCS#10 as base64 DER with any wrapping, or PEM-armoured) and what the server sends back
// (base64 certs-only PKCS#7 wrapped at 64 columns, multipart/mixed for serverkeygen). Pure functions
// of bytes, so a fuzz target can drive them.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"

namespace fca::est {

// Base64 with any whitespace (CR, LF, spaces, tabs) anywhere; padding optional. std::nullopt when
// anything else is in it.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);
// Base64 in lines of 64 characters, each ended by CRLF.
std::string encode_base64_lines(std::span<const std::uint8_t> bytes);

// The DER of the PKCS#10 request in an EST body: PEM-armoured ("CERTIFICATE REQUEST" or "NEW
// CERTIFICATE REQUEST") or bare base64 of the DER. Content-Transfer-Encoding is not consulted
// (RFC 8951: the body is base64 whatever it says). Errc::invalid_input when it is neither.
Result<std::vector<std::uint8_t>> csr_der_of_body(std::string_view body);

// A degenerate certs-only SignedData (no signers) holding `certificates` in their order.
Result<std::vector<std::uint8_t>> certs_only_pkcs7(const std::vector<const X509*>& certificates);

// The CsrAttrs (RFC 7030 §4.5.2) of a label whose profile issues TLS certificates: P-256 or RSA keys
// (ecPublicKey with its curve, rsaEncryption), signed with SHA-256, and the extensions the profile
// sets itself (extensionRequest naming extKeyUsage and subjectAltName). Advice only: the profile
// and policy decide whatever the CSR says.
// With `challenge_password`, also the challengePassword OID: the label wants the TLS channel binding
// there (RFC 7030 §3.5).
std::vector<std::uint8_t> tls_csr_attributes(bool challenge_password = false);

// The challengePassword attribute of a CSR (one DirectoryString value); std::nullopt when absent or
// malformed.
std::optional<std::string> challenge_password(const X509_REQ* csr);

struct MultipartPart {
  std::string content_type;
  std::string body;  // sent with Content-Transfer-Encoding: base64 (already encoded)
};
// A multipart/mixed body with `boundary`; the boundary must not occur in any part.
std::string multipart_mixed(std::string_view boundary, const std::vector<MultipartPart>& parts);

struct ParsedPart {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
// The parts of a multipart/mixed body (what an EST client does with a serverkeygen answer; the tests
// and the fuzz target use it). std::nullopt when the framing is broken.
std::optional<std::vector<ParsedPart>> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace fca::est
