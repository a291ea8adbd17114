#pragma once
// An OpenSSL hash directory (X509_LOOKUP_hash_dir, `openssl verify -CApath`): each CA certificate as
// <subject-hash>.N and its latest CRL as <subject-hash>.rN. Files are replaced atomically (a unique
// temporary file in the same directory, fsync, rename) so a TLS server reading the directory never
// sees half a file. Several publishers (the server and CLI commands, each its own process) may write
// at once: they take turns by flock on the directory, and a CRL file is replaced only by a CRL with a
// higher cRLNumber than the one on disk, so an older CRL can never win.
#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <optional>

#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/repository.hpp"

namespace fca::crl {

class HashDirectory {
 public:
  // With a group, the directory is 0750 and its files 0640, owned by that group (a TLS server that
  // needs the CRLs runs in it); without, 0755 and 0644: CA certificates and CRLs are public.
  explicit HashDirectory(std::filesystem::path directory, std::optional<gid_t> group = std::nullopt)
      : directory_(std::move(directory)), group_(group) {}

  // Writes every active CA's certificate (and chain certificates above external CAs).
  Result<void> write_certificates(const std::vector<CaRecord>& cas);
  // Writes the CA's CRL next to its certificate, unless the file there holds a CRL with the same or a
  // higher number (then it is left as it is and this returns success).
  Result<void> write_crl(const CaRecord& ca, const CrlRecord& crl);

  const std::filesystem::path& directory() const { return directory_; }

 private:
  // <hash>.N for the certificate; N counts up past other subjects with the same hash.
  Result<std::string> slot_for(const X509* cert);
  // Creates the directory with its mode and group; returns it open and flock'ed (closed by the caller).
  Result<int> open_locked();
  Result<void> write_atomically(const std::filesystem::path& file, const std::string& content);

  std::filesystem::path directory_;
  std::optional<gid_t> group_;
  std::mutex mutex_;
};

}  // namespace fca::crl
