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

// RFC 7030 §4.4.1.1 and §4.4.1.2: how a serverkeygen CSR asks for the generated key to be encrypted
// beyond TLS: DecryptKeyIdentifier (id-aa-decryptKeyID, a pre-shared symmetric key) or
// AsymmetricDecryptKeyIdentifier (id-aa-asymmDecryptKeyID, a public key of the client's), each one
// OCTET STRING naming the key.
struct KeyEncryptionRequest {
  enum class Kind { none, symmetric, asymmetric };
  Kind kind = Kind::none;
  std::vector<std::uint8_t> key_identifier;
};
// Errc::invalid_input when an attribute is there but is not one non-empty OCTET STRING, or both are.
Result<KeyEncryptionRequest> key_encryption_request(const X509_REQ* csr);

// Whether `identifier` names the key of `certificate`: its subjectKeyIdentifier extension, or, for a
// certificate without one, the SHA-1 of its subjectPublicKey (RFC 5280 §4.2.1.2 method 1).
bool identifies_key_of(std::span<const std::uint8_t> identifier, const X509* certificate);

// RFC 7030 §4.4.2 with RFC 5958, for an asymmetric key-encryption key: the CMS SignedData (DER of the
// SignedData itself, as nested CMS content is) whose eContentType is id-ct-KP-aKeyPackage and whose
// eContent is the AsymmetricKeyPackage holding the one PKCS#8 key `pkcs8`, signed by `signer` with
// `signer_key` (the party that generated the key), `chain` (the certificates above the signer) included.
Result<std::vector<std::uint8_t>> signed_key_package(std::span<const std::uint8_t> pkcs8, const X509* signer,
                                                     EVP_PKEY* signer_key, const std::vector<const X509*>& chain);
// That SignedData enveloped to `recipient`'s public key, as the ContentInfo DER an
// "application/pkcs7-mime; smime-type=server-generated-key" part carries: EnvelopedData whose
// encrypted content type is id-signedData, AES-256-CBC, the content key transported by RSAES-OAEP
// (SHA-256) to an RSA key or agreed by ECDH to an EC key; the recipient is named by
// `recipient_key_identifier` when the certificate's SKI is that, otherwise by issuer and serial.
Result<std::vector<std::uint8_t>> enveloped_key_package(std::span<const std::uint8_t> signed_data, const X509* recipient,
                                                        std::span<const std::uint8_t> recipient_key_identifier);
// Whether enveloped_key_package can encrypt to this key (RSA or EC; not Ed25519 or others).
bool can_envelope_to(const EVP_PKEY* key);

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
