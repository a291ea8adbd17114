// `init`: a new data directory with a root CA and a default issuing CA; `--lab` adds demo certificates.
#include <fmt/core.h>

#include "command.hpp"
#include "credentials.hpp"
#include "files.hpp"
#include "fca/core/x509.hpp"
#include "fca/service/service.hpp"

namespace fca::app {
namespace {

struct InitOptions {
  std::string key_type;
  bool lab = false;
  std::string root_cn = "Facility Root CA";
  std::string issuing_cn = "Facility Issuing CA";
  std::string organization;
  std::string country;
  std::string url_base;
  std::string pkcs11_module;
  std::string pkcs11_token;
  std::string pkcs11_pin_file;
};

// The options become config keys and go through the same validation as the file itself.
std::expected<Config, int> config_from(const InitOptions& options) {
  nlohmann::json document = nlohmann::json::object();
  if (!options.key_type.empty()) document["ca"]["key_type"] = options.key_type;
  if (!options.organization.empty()) document["ca"]["organization"] = options.organization;
  if (!options.country.empty()) document["ca"]["country"] = options.country;
  if (!options.url_base.empty()) document["urls"]["base"] = options.url_base;
  if (!options.pkcs11_token.empty()) {
    document["keys"]["backend"] = "pkcs11";
    auto& pkcs11 = document["keys"]["pkcs11"];
    pkcs11["token"] = options.pkcs11_token;
    if (!options.pkcs11_module.empty()) pkcs11["module"] = options.pkcs11_module;
    // Stored absolute: a relative path in config.json means relative to the data directory.
    if (!options.pkcs11_pin_file.empty()) pkcs11["pin_file"] = std::filesystem::absolute(options.pkcs11_pin_file).string();
  }
  // Plain HTTP for OCSP and CRLs (relying parties fetch them without TLS), HTTPS for EST and the REST
  // API with certificates serve issues itself from the issuing CA.
  document["serve"]["listeners"] = nlohmann::json::array(
      {{{"address", "127.0.0.1"}, {"port", 8080}, {"frontends", {"ocsp", "crl"}}},
       {{"address", "127.0.0.1"}, {"port", 8443}, {"frontends", {"est", "api"}}, {"tls", {{"names", {"localhost"}}, {"ca", "issuing"}}}}});
  if (options.lab) {
    // The default EST label trusts the lab manufacturer that init --lab makes.
    document["est"]["labels"] = nlohmann::json::array(
        {{{"label", ""}, {"ca", "issuing"}, {"profiles", {"nmos-node"}}, {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}}});
  }
  auto config = parse_config(document, "init options");
  if (!config) return std::unexpected(report(exit_usage, config.error().message));
  return std::move(*config);
}

struct LabCertificate {
  std::string file_base;
  std::string common_name;
  std::string profile;
  std::string key_type;
  std::string description;
  bool revoke = false;
};

int make_lab(Instance& instance, const std::filesystem::path& lab_directory) {
  auto& service = instance.service();
  const auto& who = instance.operator_principal();
  if (auto made = ensure_private_directory(lab_directory); !made) return report(made.error());

  auto issuing = service.get_ca(who, "issuing");
  if (!issuing) return report(issuing.error());
  auto root = service.get_ca(who, "root");
  if (!root) return report(root.error());
  auto chain_pem = service.ca_chain_pem(who, "issuing");
  if (!chain_pem) return report(chain_pem.error());
  if (auto w = write_output(lab_directory / "root.pem", root->record.certificate_pem, 0644); !w) return report(w.error());
  if (auto w = write_output(lab_directory / "issuing.pem", issuing->record.certificate_pem, 0644); !w) {
    return report(w.error());
  }
  if (auto w = write_output(lab_directory / "ca-chain.pem", *chain_pem, 0644); !w) return report(w.error());

  // Production issuance only: the deliberately bad kinds (expired, SHA-1, ...) are `lab mint`'s.
  const std::vector<LabCertificate> demos{
      {"valid", "localhost", "nmos-node", "p256", "valid server+client certificate, ECDSA P-256", false},
      {"valid-rsa", "localhost", "nmos-node", "rsa2048", "valid server+client certificate, RSA 2048", false},
      {"revoked", "revoked.localhost", "nmos-node", "p256", "revoked (keyCompromise)", true},
      {"wrong-eku", "wrong-eku.localhost", "client", "p256", "client-only EKU: a TLS client must reject it as a server",
       false},
  };
  std::vector<std::vector<std::string>> rows;
  for (const auto& demo : demos) {
    auto files = credential_files(lab_directory, demo.file_base, false);
    if (auto absent = refuse_existing(files); !absent) return report(absent.error());
    auto credentials = service.keygen_issue(who, service::KeygenRequest{
                                                     .common_name = demo.common_name,
                                                     .sans = {SubjectAltName{SubjectAltName::Kind::dns, demo.common_name}},
                                                     .key = *KeySpec::parse(demo.key_type),
                                                     .profile = demo.profile,
                                                     .ca = "issuing",
                                                     .validity_days = std::nullopt,
                                                     .pkcs12_password = std::nullopt,
                                                 });
    if (!credentials) return report(credentials.error());
    if (demo.revoke) {
      auto revoked = service.revoke(who, RevokeRequest{.serial = credentials->issued.record.serial,
                                                       .ca = "issuing",
                                                       .reason = RevocationReason::key_compromise,
                                                       .invalidity_date = {},
                                                       .requester = {}});
      if (!revoked) return report(revoked.error());
    }
    if (auto w = write_credentials(files, *credentials); !w) return report(w.error());
    rows.push_back({files.cert.filename().string(), credentials->issued.record.serial, demo.description});
  }
  // A device maker of its own (a separate root, trusted by the default EST label) and one device
  // certificate from it: what a newcomer needs to enrol over EST at once.
  auto maker = service.create_ca(who, CreateCaRequest{.name = "lab-manufacturer",
                                                      .common_name = "LAB Manufacturer Root CA",
                                                      .key = *KeySpec::parse("p256"),
                                                      .validity_days = instance.config().ca.root_validity_days,
                                                      .parent = std::nullopt,
                                                      .path_length = 0,
                                                      .make_default = false,
                                                      .requester = {}});
  if (!maker) return report(maker.error());
  if (auto w = write_output(lab_directory / "manufacturer-root.pem", maker->certificate_pem, 0644); !w) return report(w.error());
  const auto device_files = credential_files(lab_directory, "device", false);
  if (auto absent = refuse_existing(device_files); !absent) return report(absent.error());
  auto device = service.keygen_issue(who, service::KeygenRequest{
                                              .common_name = "lab-device.localhost",
                                              .sans = {SubjectAltName{SubjectAltName::Kind::dns, "lab-device.localhost"}},
                                              .key = *KeySpec::parse("p256"),
                                              .profile = "client",
                                              .ca = "lab-manufacturer",
                                              .validity_days = std::nullopt,
                                              .pkcs12_password = std::nullopt,
                                          });
  if (!device) return report(device.error());
  if (auto w = write_credentials(device_files, *device); !w) return report(w.error());
  rows.push_back({device_files.cert.filename().string(), device->issued.record.serial,
                  "lab manufacturer's device certificate: EST client for the first enrolment"});

  fmt::print("lab certificates in {} (keys are unencrypted, mode 0600; CA certificates in root.pem, issuing.pem, "
             "ca-chain.pem):\n",
             lab_directory.string());
  for (const auto& row : rows) fmt::print("  {:<20} {}  {}\n", row[0], row[1], row[2]);
  const auto lab = lab_directory.string();
  fmt::print("\nenrol over EST once `facility-ca serve` runs (docs/est.md):\n"
             "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node1.localhost \\\n"
             "    -addext subjectAltName=DNS:node1.localhost -keyout node1.key -out node1.csr\n"
             "  curl --cacert {0}/ca-chain.pem --cert {1} --key {2} -H 'Content-Type: application/pkcs10' \\\n"
             "    --data-binary @node1.csr https://localhost:8443/.well-known/est/simpleenroll | openssl base64 -d | \\\n"
             "    openssl pkcs7 -inform DER -print_certs -out node1.pem\n",
             lab, device_files.cert.string(), device_files.key.string());
  fmt::print("\nevery kind of bad certificate, with a manifest, and openssl checking each (docs/lab.md):\n"
             "  facility-ca --dir {0} lab mint --all && facility-ca --dir {0} lab check\n",
             lab_directory.parent_path().string());
  return exit_ok;
}

// The REST API's first administrator token: printed once and written 0600 to api.first_token_file,
// so a lab's provisioning script can read it; only its hash is in the database.
int make_first_api_token(Instance& instance, const Config& config) {
  auto made = instance.tokens().create(instance.operator_principal(),
                                       service::TokenSpec{"admin", {service::Role::admin}, std::nullopt, std::nullopt, std::nullopt});
  if (!made) return report(made.error());
  const auto file = resolve_in(instance.data_directory(), config.api.first_token_file);
  if (auto w = write_atomically(file, made->secret + "\n", 0600); !w) return report(w.error());
  fmt::print("  API token   admin    {} (shown once; also in {}, mode 0600)\n", made->secret, file.string());
  return exit_ok;
}

int run_init(Cli& cli, const InitOptions& options) {
  const auto directory = cli.data_directory();
  std::error_code ec;
  if (std::filesystem::exists(cli.config_file(), ec)) {
    return report(exit_conflict, cli.config_file().string() + " exists: the data directory is initialised already");
  }
  auto config = config_from(options);
  if (!config) return config.error();

  if (auto made = ensure_private_directory(directory); !made) return report(made.error());
  const auto mode = std::filesystem::status(directory, ec).permissions();
  if ((mode & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) != std::filesystem::perms::none) {
    cli.logger()->warn("{} is accessible to other users; `chmod 700 {}` is advised", directory.string(),
                       directory.string());
  }
  if (config->keys.passphrase_file) {
    const auto passphrase_file = resolve_in(directory, *config->keys.passphrase_file);
    if (!std::filesystem::exists(passphrase_file, ec)) {
      if (auto made = create_random_secret_file(passphrase_file); !made) return report(made.error());
    }
  }

  auto instance = cli.open(*config);
  if (!instance) return instance.error();
  auto& service = (*instance)->service();
  const auto& who = (*instance)->operator_principal();
  auto existing = service.list_cas(who);
  if (!existing) return report(existing.error());
  if (!existing->empty()) return report(exit_conflict, "the database already holds CAs; not initialising over them");
  // Before any CA: a lab instance's CAs carry "LAB" in their subject from the first one on.
  if (options.lab) {
    if (auto marked = service.mark_lab_instance(who); !marked) return report(marked.error());
  }

  const auto key = *KeySpec::parse(config->ca.key_type);
  auto root = service.create_ca(who, CreateCaRequest{.name = "root",
                                                     .common_name = options.root_cn,
                                                     .key = key,
                                                     .validity_days = config->ca.root_validity_days,
                                                     .parent = std::nullopt,
                                                     .path_length = std::nullopt,
                                                     .make_default = false,
                                                     .requester = {}});
  if (!root) return report(root.error());
  auto issuing = service.create_ca(who, CreateCaRequest{.name = "issuing",
                                                        .common_name = options.issuing_cn,
                                                        .key = key,
                                                        .validity_days = config->ca.issuing_validity_days,
                                                        .parent = "root",
                                                        .path_length = 0,
                                                        .make_default = true,
                                                        .requester = {}});
  if (!issuing) return report(issuing.error());

  // Written last: a data directory only counts as initialised once its CAs exist.
  if (auto w = write_atomically(cli.config_file(), config->to_json().dump(2) + "\n", 0600); !w) return report(w.error());
  (*instance)->log().info("initialised {} with root CA 'root' and default issuing CA 'issuing'", directory.string());
  fmt::print("initialised {}\n  root CA     root     {}\n  issuing CA  issuing  {} (default)\n", directory.string(),
             root->subject, issuing->subject);
  if (auto made = make_first_api_token(**instance, *config); made != exit_ok) return made;
  if (options.lab) return make_lab(**instance, directory / "lab");
  fmt::print("  REST API    https://localhost:8443/api/v1/ once `facility-ca serve` runs (docs/api.md)\n"
             "  EST         https://localhost:8443/.well-known/est/ once `facility-ca serve` runs (cacerts needs no\n"
             "              client certificate; a first enrolment needs est.labels[].trust.roots: docs/est.md)\n");
  return exit_ok;
}

}  // namespace

void register_init_command(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<InitOptions>();
  auto* init = app.add_subcommand("init", "create the data directory, config.json, a root CA and an issuing CA");
  init->add_option("--key-type", options->key_type, "CA key type (default: ca.key_type, p256)")
      ->check(key_type_validator());
  init->add_flag("--lab", options->lab,
                 "make a lab instance (CAs named LAB, `lab` commands allowed: docs/lab.md) with demo certificates in DIR/lab/");
  init->add_option("--root-cn", options->root_cn, "root CA common name")->capture_default_str();
  init->add_option("--issuing-cn", options->issuing_cn, "issuing CA common name")->capture_default_str();
  init->add_option("--organization", options->organization, "O= of the CA subjects (ca.organization)");
  init->add_option("--country", options->country, "C= of the CA subjects (ca.country)");
  init->add_option("--url-base", options->url_base,
                   "base of the CRL/OCSP/caIssuers URLs put in certificates, the issuing CA's included (urls.base; "
                   "default http://127.0.0.1:8080)");
  auto* token = init->add_option("--pkcs11-token", options->pkcs11_token, "keep CA keys in this PKCS#11 token");
  init->add_option("--pkcs11-module", options->pkcs11_module, "PKCS#11 module (default /usr/lib/softhsm/libsofthsm2.so)")
      ->needs(token);
  init->add_option("--pkcs11-pin-file", options->pkcs11_pin_file, "file holding the token's user PIN")
      ->check(CLI::ExistingFile)
      ->needs(token);
  token->needs(init->get_option("--pkcs11-pin-file"));
  cli.on(init, [&cli, options] { return run_init(cli, *options); });
}

}  // namespace fca::app
