#include "credentials.hpp"

#include <algorithm>
#include <cctype>

#include "files.hpp"

namespace fca::app {

CredentialFiles credential_files(const std::filesystem::path& directory, std::string_view base, bool with_p12) {
  std::string safe(base);
  std::ranges::replace_if(
      safe, [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'); },
      '_');
  if (safe.empty() || safe.front() == '.') safe.insert(safe.begin(), '_');
  CredentialFiles files{
      .key = directory / (safe + ".key.pem"),
      .cert = directory / (safe + ".crt.pem"),
      .chain = directory / (safe + ".chain.pem"),
      .p12 = std::nullopt,
  };
  if (with_p12) files.p12 = directory / (safe + ".p12");
  return files;
}

Result<void> refuse_existing(const CredentialFiles& files) {
  std::vector<std::filesystem::path> all{files.key, files.cert, files.chain};
  if (files.p12) all.push_back(*files.p12);
  for (const auto& file : all) {
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) return fail(Errc::conflict, file.string() + " exists already");
  }
  return {};
}

Result<void> write_credentials(const CredentialFiles& files, const service::GeneratedCredentials& credentials) {
  if (auto w = write_output(files.key, credentials.key_pem, 0600, Overwrite::refuse); !w) return w;
  const auto& issued = credentials.issued;
  if (auto w = write_output(files.cert, issued.pem(), 0644, Overwrite::refuse); !w) return w;
  if (auto w = write_output(files.chain, issued.chain_pem(), 0644, Overwrite::refuse); !w) return w;
  if (files.p12) {
    if (credentials.pkcs12.empty()) return fail(Errc::invalid_input, "a PKCS#12 file needs a passphrase");
    const std::string_view der(reinterpret_cast<const char*>(credentials.pkcs12.data()), credentials.pkcs12.size());
    if (auto w = write_output(*files.p12, der, 0600, Overwrite::refuse); !w) return w;
  }
  return {};
}

}  // namespace fca::app
