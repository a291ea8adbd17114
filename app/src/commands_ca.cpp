// `ca ...`: CA lifecycle — list, show, create, external-root CSR and import, import, default.
#include <fmt/core.h>

#include "command.hpp"
#include "files.hpp"
#include "output.hpp"
#include "fca/service/json.hpp"

namespace fca::app {
namespace {

struct CaOptions {
  std::string name;
  std::string common_name;
  std::string parent;
  std::string key_type;
  int days = 0;
  std::optional<int> path_length;
  bool make_default = false;
  bool json = false;
  bool chain = false;
  std::string out;
  std::string cert;
  std::string key;
  std::string key_passphrase_file;
};

KeySpec key_spec_or_default(const std::string& option, const Config& config) {
  return *KeySpec::parse(option.empty() ? config.ca.key_type : option);
}

// "2, after root-gen1" / "1, replaced by root": where a CA stands among the generations of its name.
std::string generation_text(const service::CaInfo& info) {
  std::string out = std::to_string(info.record.generation);
  if (!info.predecessor.empty()) out += ", after " + info.predecessor;
  if (!info.successor.empty()) out += ", replaced by " + info.successor;
  return out;
}

void print_ca_summary(const std::string& verb, const CaRecord& ca) {
  fmt::print("{} CA '{}' ({}){}\n", verb, ca.name, ca.subject.empty() ? "pending" : ca.subject,
             ca.is_default ? ", default" : "");
}

int run_list(Cli& cli, const CaOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto cas = (*instance)->service().list_cas((*instance)->operator_principal());
  if (!cas) return report(cas.error());
  if (options.json) {
    print_json_array(*cas);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& info : *cas) {
    const auto& ca = info.record;
    const auto& parent = info.parent;
    const bool active = ca.state == CaState::active;
    rows.push_back({ca.name, active ? "active" : "pending", ca.is_default ? "yes" : "", parent.empty() ? "-" : parent,
                    active ? iso8601(ca.not_after) : "-", ca.subject.empty() ? "-" : ca.subject, generation_text(info)});
  }
  fmt::print("{}", format_table({"NAME", "STATE", "DEFAULT", "PARENT", "NOT_AFTER", "SUBJECT", "GENERATION"}, rows));
  return exit_ok;
}

int run_show(Cli& cli, const CaOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto& service = (*instance)->service();
  const auto& who = (*instance)->operator_principal();
  auto info = service.get_ca(who, options.name);  // a pending CA too: its CSR is worth showing
  if (!info) return report(info.error());
  const CaRecord& ca = info->record;
  const bool pending = ca.state == CaState::pending;

  std::string pem;
  if (pending) {
    pem = ca.csr_pem;
  } else if (options.chain) {
    auto chain = service.ca_chain_pem(who, ca.name);
    if (!chain) return report(chain.error());
    pem = std::move(*chain);
  } else {
    pem = ca.certificate_pem;
  }
  if (options.json) {
    auto out = service::to_json(*info);
    out[pending ? "csr_pem" : (options.chain ? "chain_pem" : "certificate_pem")] = pem;
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  if (pending) {
    fmt::print(stderr, "facility-ca: CA '{}' is pending its certificate; this is its CSR\n", ca.name);
  }
  // stdout stays the PEM alone (scripts redirect it); the generations are a note on stderr.
  if (!info->predecessor.empty() || !info->successor.empty()) {
    fmt::print(stderr, "facility-ca: CA '{}' is generation {}\n", ca.name, generation_text(*info));
  }
  fmt::print("{}", pem);
  return exit_ok;
}

int run_create(Cli& cli, const CaOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  const auto& config = (*instance)->config();
  const bool is_root = options.parent.empty();
  CreateCaRequest request{
      .name = options.name,
      .common_name = options.common_name,
      .key = key_spec_or_default(options.key_type, config),
      .validity_days = options.days > 0 ? options.days
                                        : (is_root ? config.ca.root_validity_days : config.ca.issuing_validity_days),
      .parent = is_root ? std::nullopt : std::optional<std::string>(options.parent),
      .path_length = options.path_length,
      .make_default = options.make_default,
      .requester = {},
  };
  auto ca = (*instance)->service().create_ca((*instance)->operator_principal(), request);
  if (!ca) return report(ca.error());
  (*instance)->log().info("created CA '{}' ({})", ca->name, ca->subject);
  print_ca_summary("created", *ca);
  return exit_ok;
}

int run_csr(Cli& cli, const CaOptions& options) {
  auto out = PendingOutput::prepare(options.out, 0644);
  if (!out) return report(out.error());
  auto instance = cli.open();
  if (!instance) return instance.error();
  ExternalCaCsrRequest request{
      .name = options.name,
      .common_name = options.common_name,
      .key = key_spec_or_default(options.key_type, (*instance)->config()),
      .requester = {},
  };
  auto ca = (*instance)->service().create_external_ca_csr((*instance)->operator_principal(), request);
  if (!ca) return report(ca.error());
  (*instance)->log().info("CA '{}' is pending: have its CSR signed, then run `ca import-signed {}`", ca->name, ca->name);
  if (options.out.empty()) {
    fmt::print("{}", ca->csr_pem);
  } else if (auto w = out->commit(ca->csr_pem); !w) {
    return report(w.error());
  }
  return exit_ok;
}

int run_import_signed(Cli& cli, const CaOptions& options) {
  auto certificate = read_input(options.cert);
  if (!certificate) return report(certificate.error());
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto ca = (*instance)->service().import_signed_ca((*instance)->operator_principal(), options.name, *certificate);
  if (!ca) return report(ca.error());
  (*instance)->log().info("CA '{}' is active ({})", ca->name, ca->subject);
  print_ca_summary("activated", *ca);
  return exit_ok;
}

int run_import(Cli& cli, const CaOptions& options) {
  auto certificate = read_input(options.cert);
  if (!certificate) return report(certificate.error());
  auto key = read_input(options.key);
  if (!key) return report(key.error());
  std::string passphrase;
  if (!options.key_passphrase_file.empty()) {
    auto secret = read_secret_file(options.key_passphrase_file);
    if (!secret) return report(secret.error());
    passphrase = std::move(*secret);
  }
  auto instance = cli.open();
  if (!instance) return instance.error();
  ImportCaRequest request{
      .name = options.name,
      .certificate_pem = std::move(*certificate),
      .private_key_pem = std::move(*key),
      .passphrase = std::move(passphrase),
      .make_default = options.make_default,
      .requester = {},
  };
  auto ca = (*instance)->service().import_ca((*instance)->operator_principal(), std::move(request));
  OPENSSL_cleanse(request.private_key_pem.data(), request.private_key_pem.size());
  OPENSSL_cleanse(request.passphrase.data(), request.passphrase.size());
  if (!ca) return report(ca.error());
  (*instance)->log().info("imported CA '{}' ({})", ca->name, ca->subject);
  print_ca_summary("imported", *ca);
  return exit_ok;
}

int run_rollover(Cli& cli, const CaOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  std::optional<KeySpec> key;
  if (!options.key_type.empty()) key = *KeySpec::parse(options.key_type);  // key_type_validator checked it
  RolloverCaRequest request{
      .name = options.name,
      .key = key,
      .validity_days = options.days > 0 ? std::optional<int>(options.days) : std::nullopt,
      .requester = {},
  };
  auto done = (*instance)->service().rollover_ca((*instance)->operator_principal(), request);
  if (!done) return report(done.error());
  (*instance)->log().info("CA '{}' rolled over: generation {} is '{}', the previous one is now '{}'", done->current.name,
                          done->current.generation, done->current.name, done->previous.name);
  fmt::print("rolled over CA '{}' ({}): generation {} issues now; generation {} is '{}' and only answers OCSP and "
             "publishes its CRL until its certificates expire\n",
             done->current.name, done->current.subject, done->current.generation, done->previous.generation,
             done->previous.name);
  return exit_ok;
}

int run_set_default(Cli& cli, const CaOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  if (auto done = (*instance)->service().set_default_ca((*instance)->operator_principal(), options.name); !done) {
    return report(done.error());
  }
  (*instance)->log().info("CA '{}' is now the default issuing CA", options.name);
  fmt::print("default CA is now '{}'\n", options.name);
  return exit_ok;
}

}  // namespace

void register_ca_commands(CLI::App& app, Cli& cli) {
  auto* ca = app.add_subcommand("ca", "manage certificate authorities");
  ca->require_subcommand(1);

  auto list = std::make_shared<CaOptions>();
  auto* list_cmd = ca->add_subcommand("list", "list the CAs");
  list_cmd->add_flag("--json", list->json, "JSON output");
  cli.on(list_cmd, [&cli, list] { return run_list(cli, *list); });

  auto show = std::make_shared<CaOptions>();
  auto* show_cmd = ca->add_subcommand("show", "print a CA certificate as PEM (a pending CA: its CSR)");
  show_cmd->add_option("NAME", show->name, "CA name")->required();
  show_cmd->add_flag("--chain", show->chain, "print the chain: this CA first, then every CA above it");
  show_cmd->add_flag("--json", show->json, "JSON output (includes the PEM)");
  cli.on(show_cmd, [&cli, show] { return run_show(cli, *show); });

  auto create = std::make_shared<CaOptions>();
  auto* create_cmd = ca->add_subcommand("create", "create a CA: a self-signed root, or signed by --parent");
  create_cmd->add_option("NAME", create->name, "CA name ([a-z0-9-], used in URLs)")->required();
  create_cmd->add_option("--cn", create->common_name, "common name")->required();
  create_cmd->add_option("--parent", create->parent, "CA in this instance that signs the new one");
  create_cmd->add_option("--key-type", create->key_type, "key type (default: ca.key_type)")->check(key_type_validator());
  create_cmd->add_option("--days", create->days,
                         "validity (default: ca.root_validity_days, or ca.issuing_validity_days with --parent)")
      ->check(CLI::Range(1, 36500));
  create_cmd->add_option("--path-length", create->path_length, "basicConstraints pathLenConstraint")
      ->check(CLI::Range(0, 16));
  create_cmd->add_flag("--default", create->make_default, "make it the default issuing CA");
  cli.on(create_cmd, [&cli, create] { return run_create(cli, *create); });

  auto csr = std::make_shared<CaOptions>();
  auto* csr_cmd = ca->add_subcommand("csr", "make a key and a CSR for a CA to be signed by an external root");
  csr_cmd->add_option("NAME", csr->name, "CA name")->required();
  csr_cmd->add_option("--cn", csr->common_name, "common name")->required();
  csr_cmd->add_option("--key-type", csr->key_type, "key type (default: ca.key_type)")->check(key_type_validator());
  csr_cmd->add_option("--out", csr->out, "write the CSR here instead of stdout");
  cli.on(csr_cmd, [&cli, csr] { return run_csr(cli, *csr); });

  auto import_signed = std::make_shared<CaOptions>();
  auto* import_signed_cmd =
      ca->add_subcommand("import-signed", "complete a pending CA with its certificate signed by the external root");
  import_signed_cmd->add_option("NAME", import_signed->name, "CA name")->required();
  import_signed_cmd->add_option("--cert", import_signed->cert, "the CA certificate PEM, followed by its chain")
      ->required()
      ->check(input_file_validator());
  cli.on(import_signed_cmd, [&cli, import_signed] { return run_import_signed(cli, *import_signed); });

  auto import = std::make_shared<CaOptions>();
  auto* import_cmd = ca->add_subcommand("import", "bring in an existing CA certificate and its private key");
  import_cmd->add_option("NAME", import->name, "CA name")->required();
  import_cmd->add_option("--cert", import->cert, "the CA certificate PEM, optionally followed by its chain")
      ->required()
      ->check(input_file_validator());
  import_cmd->add_option("--key", import->key, "the CA private key PEM")->required()->check(CLI::ExistingFile);
  import_cmd->add_option("--key-passphrase-file", import->key_passphrase_file, "passphrase of an encrypted key PEM")
      ->check(CLI::ExistingFile);
  import_cmd->add_flag("--default", import->make_default, "make it the default issuing CA");
  cli.on(import_cmd, [&cli, import] { return run_import(cli, *import); });

  auto rollover = std::make_shared<CaOptions>();
  auto* rollover_cmd = ca->add_subcommand(
      "rollover", "re-key a CA under its name: a new key and certificate (a root: with RFC 4210 link certificates)");
  rollover_cmd->add_option("NAME", rollover->name, "CA name")->required();
  rollover_cmd->add_option("--key-type", rollover->key_type, "key type (default: the current key's)")
      ->check(key_type_validator());
  rollover_cmd->add_option("--days", rollover->days, "validity (default: the current certificate's lifetime)")
      ->check(CLI::Range(1, 36500));
  cli.on(rollover_cmd, [&cli, rollover] { return run_rollover(cli, *rollover); });

  auto set_default = std::make_shared<CaOptions>();
  auto* set_default_cmd = ca->add_subcommand("set-default", "make a CA the default issuing CA");
  set_default_cmd->add_option("NAME", set_default->name, "CA name")->required();
  cli.on(set_default_cmd, [&cli, set_default] { return run_set_default(cli, *set_default); });
}

}  // namespace fca::app
