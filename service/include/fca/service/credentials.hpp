#pragma once
// Server-side key generation for devices that cannot make a CSR (keygen-issue, the lab PKI, EST
// /serverkeygen): the key is made here, a CSR is built and signed with it, and the request goes the
// same way as any other — policy, gates and lint apply unchanged.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/authority.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"

namespace fca::service {

// "DNS:name", "IP:192.0.2.1", "email:a@b", "URI:https://x" (prefix case-insensitive).
Result<SubjectAltName> parse_san(std::string_view text);

// A PKCS#10 request for `common_name` asking for `sans`, signed by `key`.
Result<X509ReqPtr> build_csr(EVP_PKEY* key, std::string_view common_name, const std::vector<SubjectAltName>& sans);

// A new key and its certificate, encoded for hand-over. The key PEM is wiped when this is destroyed.
struct GeneratedCredentials {
  IssuedCertificate issued;
  std::string key_pem;               // PKCS#8; encrypted (AES-256) under the password when one was given
  std::vector<std::uint8_t> pkcs12;  // key, certificate and chain (AES-256-CBC, PBKDF2, SHA-256 MAC); only with a password

  GeneratedCredentials(IssuedCertificate issued, std::string key_pem, std::vector<std::uint8_t> pkcs12);
  ~GeneratedCredentials();
  GeneratedCredentials(GeneratedCredentials&&) noexcept = default;
  GeneratedCredentials& operator=(GeneratedCredentials&&) noexcept = default;
};

// Encodes `key` with `issued` as key PEM and, with a password, PKCS#12.
Result<GeneratedCredentials> package_credentials(const EVP_PKEY* key, IssuedCertificate issued,
                                                 const std::optional<std::string>& password);

}  // namespace fca::service
