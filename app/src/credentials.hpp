#pragma once
// Where server-generated credentials (keygen-issue, the lab PKI) go on disk. Making them is the
// service's job (Service::keygen_issue); this only names and writes the files.
#include <filesystem>
#include <optional>
#include <string_view>

#include "fca/service/credentials.hpp"

namespace fca::app {

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

// Writes the files; never overwrites one. The key PEM is as the service encoded it (encrypted when a
// PKCS#12 password was given); the .p12 is written when the files name one.
Result<void> write_credentials(const CredentialFiles& files, const service::GeneratedCredentials& credentials);

}  // namespace fca::app
