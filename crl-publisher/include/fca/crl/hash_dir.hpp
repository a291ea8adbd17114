#pragma once
// An OpenSSL hash directory (X509_LOOKUP_hash_dir, `openssl verify -CApath`): each CA certificate as
// <subject-hash>.N and its latest CRL as <subject-hash>.rN. Files are replaced atomically (write to a
// temporary name, fsync, rename) so a TLS server reading the directory never sees half a file.
#include <filesystem>
#include <mutex>

#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/repository.hpp"

namespace fca::crl {

class HashDirectory {
 public:
  explicit HashDirectory(std::filesystem::path directory) : directory_(std::move(directory)) {}

  // Writes every active CA's certificate (and chain certificates above external CAs).
  Result<void> write_certificates(const std::vector<CaRecord>& cas);
  // Writes the CA's CRL next to its certificate.
  Result<void> write_crl(const CaRecord& ca, const CrlRecord& crl);

  const std::filesystem::path& directory() const { return directory_; }

 private:
  // <hash>.N for the certificate; N counts up past other subjects with the same hash.
  Result<std::string> slot_for(const X509* cert);
  std::filesystem::path directory_;
  std::mutex mutex_;
};

}  // namespace fca::crl
