#pragma once
// One facility-ca data directory, wired: config, database, key stores, signing keys, clock and the
// certificate authority. The only place that names the concrete classes.
#include <filesystem>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "config.hpp"
#include "fca/core/authority.hpp"
#include "fca/core/crl.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/crl/hash_dir.hpp"
#include "fca/core/clock.hpp"
#include "fca/core/key_store.hpp"
#include "fca/core/signing.hpp"
#include "fca/db/database.hpp"

namespace fca::app {

class Instance {
 public:
  // Opens (creating when missing) the database and the key stores the config names. Secrets (key
  // passphrase, PIN) are read here, once, and go nowhere but into the key stores.
  static Result<std::unique_ptr<Instance>> open(std::filesystem::path data_directory, Config config,
                                                std::shared_ptr<spdlog::logger> logger);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::filesystem::path& data_directory() const { return data_directory_; }
  const Config& config() const { return config_; }
  db::Database& database() { return *database_; }
  CertificateAuthority& authority() { return *authority_; }
  // Revocation side effects are wired at open: a revoke/hold/release in this process regenerates the
  // CA's CRL (stored, and written to the hash directory) and drops its cached OCSP answers.
  CrlService& crls() { return *crls_; }
  OcspService& ocsp() { return *ocsp_; }
  crl::HashDirectory* hash_directory() { return hash_directory_.get(); }
  const Clock& clock() const { return clock_; }
  spdlog::logger& log() { return *logger_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }

 private:
  Instance(std::filesystem::path data_directory, Config config, std::shared_ptr<spdlog::logger> logger);
  void wire_revocation();

  std::filesystem::path data_directory_;
  Config config_;
  std::shared_ptr<spdlog::logger> logger_;
  SystemClock clock_;
  std::unique_ptr<db::Database> database_;
  KeyStoreRouter key_stores_;
  std::unique_ptr<SigningKeys> signing_keys_;
  std::unique_ptr<CertificateAuthority> authority_;
  std::unique_ptr<CrlService> crls_;
  std::unique_ptr<OcspService> ocsp_;
  std::unique_ptr<crl::HashDirectory> hash_directory_;
};

// "cli:<login name>" — who the audit log says made a change from this process.
std::string cli_actor();

}  // namespace fca::app
