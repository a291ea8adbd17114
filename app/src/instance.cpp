#include "instance.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "files.hpp"
#include "fca/db/ocsp_lookup.hpp"

namespace fca::app {
namespace {

Result<std::optional<std::string>> key_passphrase(const std::filesystem::path& data_directory, const KeysConfig& keys) {
  if (keys.passphrase_file) {
    auto secret = read_secret_file(resolve_in(data_directory, *keys.passphrase_file));
    if (!secret) return fail(secret.error().code, "key passphrase (keys.passphrase_file): " + secret.error().message);
    return std::optional<std::string>(std::move(*secret));
  }
  if (keys.passphrase_env) {
    auto secret = read_secret_env(*keys.passphrase_env);
    if (!secret) return fail(secret.error().code, "key passphrase (keys.passphrase_env): " + secret.error().message);
    return std::optional<std::string>(std::move(*secret));
  }
  return std::optional<std::string>();  // keys.allow_unencrypted
}

Result<std::string> pkcs11_pin(const std::filesystem::path& data_directory, const Pkcs11Config& pkcs11) {
  auto pin = pkcs11.pin_file ? read_secret_file(resolve_in(data_directory, *pkcs11.pin_file))
                             : read_secret_env(*pkcs11.pin_env);
  if (!pin) return fail(pin.error().code, "PKCS#11 PIN: " + pin.error().message);
  return pin;
}

}  // namespace

Instance::Instance(std::filesystem::path data_directory, Config config, std::shared_ptr<spdlog::logger> logger,
                   std::shared_ptr<const Clock> clock)
    : data_directory_(std::move(data_directory)),
      config_(std::move(config)),
      logger_(std::move(logger)),
      clock_(std::move(clock)),
      operator_(service::Principal::cli(login_name())) {}

Instance::~Instance() = default;

Result<std::unique_ptr<Instance>> Instance::open(std::filesystem::path data_directory, Config config,
                                                 std::shared_ptr<spdlog::logger> logger,
                                                 std::shared_ptr<const Clock> clock) {
  if (!clock) return fail(Errc::internal, "Instance::open needs a clock");
  std::unique_ptr<Instance> instance(
      new Instance(std::move(data_directory), std::move(config), std::move(logger), std::move(clock)));
  const auto& dir = instance->data_directory_;
  const auto& cfg = instance->config_;

  // The audit key and head live beside the key passphrase, never in the database (docs/operations.md).
  const auto secrets = dir / "secrets";
  if (auto made = ensure_private_directory(secrets); !made) return std::unexpected(made.error());
  auto audit_key = db::load_or_create_audit_key(secrets / "audit-key");
  if (!audit_key) return std::unexpected(audit_key.error());
  auto database = db::Database::open(resolve_in(dir, cfg.database),
                                     db::AuditSeal{std::move(*audit_key), secrets / "audit-head"});
  if (!database) return std::unexpected(database.error());
  instance->database_ = std::move(*database);

  auto passphrase = key_passphrase(dir, cfg.keys);
  if (!passphrase) return std::unexpected(passphrase.error());
  const auto key_directory = resolve_in(dir, cfg.keys.directory);
  if (auto made = ensure_private_directory(key_directory); !made) return std::unexpected(made.error());
  instance->key_stores_.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{
                                .directory = key_directory,
                                .passphrase = std::move(*passphrase),
                                .allow_unencrypted = cfg.keys.allow_unencrypted,
                            }),
                            cfg.keys.backend == "file");
  if (cfg.keys.pkcs11) {
    auto pin = pkcs11_pin(dir, *cfg.keys.pkcs11);
    if (!pin) return std::unexpected(pin.error());
    instance->key_stores_.add(std::make_unique<Pkcs11KeyStore>(Pkcs11KeyStoreOptions{
                                  .module_path = cfg.keys.pkcs11->module,
                                  .token_label = cfg.keys.pkcs11->token,
                                  .pin = std::move(*pin),
                              }),
                              cfg.keys.backend == "pkcs11");
  }

  instance->signing_keys_ = std::make_unique<SigningKeys>(instance->key_stores_);
  instance->authority_ = std::make_unique<CertificateAuthority>(*instance->database_, *instance->database_,
                                                                *instance->signing_keys_, *instance->clock_,
                                                                cfg.ca_settings());
  instance->wire_revocation();
  // OCSP answers read statuses on read-only connections of their own, never under the database's mutex.
  auto ocsp_lookup = db::SqliteOcspStatusSource::open(resolve_in(dir, cfg.database));
  if (!ocsp_lookup) return std::unexpected(ocsp_lookup.error());
  instance->ocsp_->use_status_source(std::move(*ocsp_lookup));
  db::Database& store = *instance->database_;
  instance->service_ = std::make_unique<service::Service>(service::ServiceContext{
      .cas = store,
      .certificates = store,
      .audit = store,
      .enrollments = store,
      .marks = store,
      .authority = *instance->authority_,
      .clock = *instance->clock_,
      .verify_audit = [&store]() -> Result<service::AuditCheck> {
        auto checked = store.verify_audit();
        if (!checked) return std::unexpected(checked.error());
        return service::AuditCheck{checked->intact, checked->entries, checked->first_bad_sequence, checked->reason,
                                   checked->keyed_from, checked->head_count};
      },
  });
  instance->tokens_ = std::make_unique<service::TokenService>(store, *instance->clock_);
  instance->lab_faults_ = std::make_unique<service::LabFaultService>(*instance->service_, store, store, *instance->clock_);
  return instance;
}

void Instance::wire_revocation() {
  crls_ = std::make_unique<CrlService>(*database_, *database_, *signing_keys_, *clock_, config_.crl_settings(),
                                       config_.ca_settings().urls);
  ocsp_ = std::make_unique<OcspService>(*database_, *database_, *database_, *authority_, *signing_keys_, *clock_,
                                        config_.ocsp_settings());
  if (!config_.crl.hash_dir.empty()) {
    std::optional<gid_t> hash_group;  // the name was checked to exist when the config was read
    if (!config_.crl.hash_dir_group.empty()) {
      if (const struct group* entry = ::getgrnam(config_.crl.hash_dir_group.c_str())) hash_group = entry->gr_gid;
    }
    hash_directory_ = std::make_unique<crl::HashDirectory>(resolve_in(data_directory_, config_.crl.hash_dir), hash_group);
    crls_->on_published([this](const CaRecord& ca, const CrlRecord& crl) {
      if (auto written = hash_directory_->write_crl(ca, crl); !written) {
        logger_->error("hash directory: CRL of CA '{}' not written: {}", ca.name, written.error().message);
      }
    });
  }
  authority_->on_status_changed([this](const CaRecord& ca, const CertificateRecord& certificate) {
    ocsp_->status_changed(certificate);
    // The delta CRL only (the changes since the full CRL: milliseconds at any size), so the revoking
    // call returns at once; the full CRL is now behind its issuer's revision, and `serve` (or `crl
    // generate`) rebuilds it. The change is committed already; a delta that fails here is made by the
    // next CRL request or refresh.
    if (auto crl = crls_->regenerate_delta(ca, "system"); !crl) {
      logger_->error("delta CRL of CA '{}' not made after {} of {}: {}", ca.name, to_string(certificate.status),
                     certificate.serial, crl.error().message);
    }
  });
}

std::string login_name() {
  const passwd* entry = ::getpwuid(::geteuid());
  if (entry != nullptr && entry->pw_name != nullptr && *entry->pw_name != '\0') return entry->pw_name;
  return "uid" + std::to_string(::geteuid());
}

}  // namespace fca::app
