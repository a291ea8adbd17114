#pragma once
// One facility-ca data directory, wired: config, database, key stores, signing keys, clock, the
// certificate authority and the service every command calls. The only place that names the concrete
// classes (fca::db among them).
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
#include "fca/service/principal.hpp"
#include "fca/service/service.hpp"
#include "fca/service/lab_faults.hpp"
#include "fca/service/tokens.hpp"

namespace fca::app {

class Instance {
 public:
  // Opens (creating when missing) the database and the key stores the config names. Secrets (key
  // passphrase, PIN) are read here, once, and go nowhere but into the key stores.
  // Time comes from `clock` everywhere (issuing, gates, CRLs, OCSP); the system clock unless a caller
  // (a test) injects another.
  static Result<std::unique_ptr<Instance>> open(std::filesystem::path data_directory, Config config,
                                                std::shared_ptr<spdlog::logger> logger,
                                                std::shared_ptr<const Clock> clock = std::make_shared<SystemClock>());
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::filesystem::path& data_directory() const { return data_directory_; }
  const Config& config() const { return config_; }
  // For `serve`'s wiring (front ends that still take repositories); commands call service().
  db::Database& database() { return *database_; }
  CertificateAuthority& authority() { return *authority_; }
  // The one path the commands take, on behalf of operator_principal().
  service::Service& service() { return *service_; }
  // The REST API's bearer tokens (token commands, init, the API).
  service::TokenService& tokens() { return *tokens_; }
  // Revocation faults to order on a lab instance (lab fault commands).
  service::LabFaultService& lab_faults() { return *lab_faults_; }
  // The local operator of this process: "cli:<login>", an administrator.
  const service::Principal& operator_principal() const { return operator_; }
  // Online backup of the database to a new file.
  Result<void> backup_to(const std::filesystem::path& file) { return database_->backup_to(file); }
  // Revocation side effects are wired at open: a revoke/hold/release in this process regenerates the
  // CA's CRL (stored, and written to the hash directory) and drops its cached OCSP answers.
  CrlService& crls() { return *crls_; }
  OcspService& ocsp() { return *ocsp_; }
  crl::HashDirectory* hash_directory() { return hash_directory_.get(); }
  SigningKeys& signing_keys() { return *signing_keys_; }
  const Clock& clock() const { return *clock_; }
  spdlog::logger& log() { return *logger_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }

 private:
  Instance(std::filesystem::path data_directory, Config config, std::shared_ptr<spdlog::logger> logger,
           std::shared_ptr<const Clock> clock);
  void wire_revocation();

  std::filesystem::path data_directory_;
  Config config_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<const Clock> clock_;
  service::Principal operator_;
  std::unique_ptr<db::Database> database_;
  KeyStoreRouter key_stores_;
  std::unique_ptr<SigningKeys> signing_keys_;
  std::unique_ptr<CertificateAuthority> authority_;
  std::unique_ptr<CrlService> crls_;
  std::unique_ptr<OcspService> ocsp_;
  std::unique_ptr<crl::HashDirectory> hash_directory_;
  std::unique_ptr<service::Service> service_;
  std::unique_ptr<service::TokenService> tokens_;
  std::unique_ptr<service::LabFaultService> lab_faults_;
};

// The login name of this process's user ("uid<N>" when it has none).
std::string login_name();

}  // namespace fca::app
