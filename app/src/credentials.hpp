#pragma once
// Server-side key generation for devices that cannot make a CSR (keygen-issue, the lab PKI): the key
// is made here, a CSR is built and signed with it, and the request goes through the same
// CertificateAuthority::issue path as any other — policy and lint apply unchanged.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fca/core/authority.hpp"
#include "fca/core/x509.hpp"

namespace fca::app {

// "DNS:name", "IP:192.0.2.1", "email:a@b", "URI:https://x" (prefix case-insensitive).
Result<SubjectAltName> parse_san(std::string_view text);

// A PKCS#10 request for `common_name` asking for `sans`, signed by `key`.
Result<X509ReqPtr> build_csr(EVP_PKEY* key, std::string_view common_name, const std::vector<SubjectAltName>& sans);

struct GeneratedCredentials {
  PKeyPtr key;
  IssuedCertificate issued;
};

// Generates a key of `key_spec`, requests a certificate for it and issues it.
Result<GeneratedCredentials> generate_and_issue(CertificateAuthority& authority, const KeySpec& key_spec,
                                                std::string_view common_name, const std::vector<SubjectAltName>& sans,
                                                IssueRequest request);

struct CredentialFiles {
  std::filesystem::path key;    // <base>.key.pem, 0600
  std::filesystem::path cert;   // <base>.crt.pem
  std::filesystem::path chain;  // <base>.chain.pem: the certificate, then the issuing CA up to the root
  std::optional<std::filesystem::path> p12;  // <base>.p12, 0600, only with a passphrase
};

// File names for `base` in `directory`; characters that are awkward in a file name become '_'.
CredentialFiles credential_files(const std::filesystem::path& directory, std::string_view base, bool with_p12);

// Fails with Errc::conflict naming the first file that exists, before anything is issued.
Result<void> refuse_existing(const CredentialFiles& files);

// Writes the files. With a passphrase the key PEM is encrypted (PKCS#8, AES-256) and a PKCS#12
// (AES-256-CBC, PBKDF2, SHA-256 MAC — OpenSSL 3 defaults) is written too; without one the key is a
// plaintext PEM readable only by its owner.
Result<void> write_credentials(const CredentialFiles& files, const GeneratedCredentials& credentials,
                               const std::optional<std::string>& passphrase);

}  // namespace fca::app
