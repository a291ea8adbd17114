// Certificate lifecycle: issue, keygen-issue, revoke, hold, unhold, renew, list, show.
#include <openssl/bio.h>
#include <openssl/x509.h>

#include <fmt/core.h>

#include "command.hpp"
#include "credentials.hpp"
#include "files.hpp"
#include "output.hpp"
#include "fca/core/x509.hpp"
#include "fca/service/json.hpp"

namespace fca::app {
namespace {

struct CertificateOptions {
  std::string serial;
  std::string csr;
  std::string profile;
  std::string ca;
  int days = 0;
  std::string out;
  std::string chain_out;
  bool json = false;
  // keygen-issue
  std::string common_name;
  std::vector<std::string> sans;
  std::string key_type = "p256";
  std::string out_dir;
  std::string p12_passphrase_file;
  // revoke
  std::string reason;
  std::string invalidity_date;
  // list, show
  std::string status;
  int expiring_days = -1;
  std::size_t limit = 0;
  std::string format = "pem";
};

std::optional<std::string> optional_text(const std::string& value) {
  return value.empty() ? std::nullopt : std::optional<std::string>(value);
}
std::optional<std::string_view> optional_view(const std::string& value) {
  return value.empty() ? std::nullopt : std::optional<std::string_view>(value);
}

// The certificate on stdout (or --out), its chain to --chain-out, JSON instead of PEM with --json.
int print_issued(Instance& instance, const service::Issued& issued, const CertificateOptions& options,
                 std::string_view verb, CertificateOutputs& outputs) {
  const auto& certificate = issued.certificate;
  instance.log().info("{} certificate {} for '{}' by CA '{}' (profile {})", verb, certificate.record.serial,
                      certificate.record.common_name, issued.ca, certificate.record.profile);
  if (!options.out.empty()) {
    if (auto w = outputs.certificate.commit(certificate.pem()); !w) return report(w.error());
  }
  if (!options.chain_out.empty()) {
    if (auto w = outputs.chain.commit(certificate.chain_pem()); !w) return report(w.error());
  }
  if (options.json) {
    auto out = service::to_json(service::CertificateInfo{certificate.record, issued.ca});
    out["certificate_pem"] = certificate.pem();
    out["chain_pem"] = certificate.chain_pem();
    fmt::print("{}\n", out.dump(2));
  } else if (options.out.empty()) {
    fmt::print("{}", certificate.pem());
  }
  return exit_ok;
}

int print_status_change(Instance& instance, const service::CertificateInfo& info, bool json, std::string_view what) {
  const auto& record = info.record;
  instance.log().info("certificate {} of CA '{}' {}", record.serial, info.ca, what);
  if (json) {
    fmt::print("{}\n", service::to_json(info).dump(2));
  } else {
    fmt::print("{} {}: {}{}\n", info.ca, record.serial, to_string(record.status),
               record.revocation_reason ? fmt::format(" ({})", to_string(*record.revocation_reason)) : "");
  }
  return exit_ok;
}

int run_issue(Cli& cli, const CertificateOptions& options) {
  auto csr = read_input(options.csr);
  if (!csr) return report(csr.error());
  auto outputs = CertificateOutputs::prepare(options.out, options.chain_out);
  if (!outputs) return report(outputs.error());
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto issued = (*instance)->service().issue((*instance)->operator_principal(), IssueRequest{
      .csr = std::move(*csr),
      .profile = options.profile,
      .requester = {},
      .ca = optional_text(options.ca),
      .validity_days = options.days > 0 ? std::optional<int>(options.days) : std::nullopt,
  });
  if (!issued) return report(issued.error());
  return print_issued(**instance, *issued, options, "issued", *outputs);
}

int run_keygen_issue(Cli& cli, const CertificateOptions& options) {
  std::vector<SubjectAltName> sans;
  for (const auto& text : options.sans) {
    auto san = service::parse_san(text);
    if (!san) return report(exit_usage, san.error().message);
    sans.push_back(std::move(*san));
  }
  std::optional<std::string> passphrase;
  if (!options.p12_passphrase_file.empty()) {
    auto secret = read_secret_file(options.p12_passphrase_file);
    if (!secret) return report(secret.error());
    passphrase = std::move(*secret);
  }
  if (auto made = ensure_private_directory(options.out_dir); !made) return report(made.error());
  const auto files = credential_files(options.out_dir, options.common_name, passphrase.has_value());
  if (auto absent = refuse_existing(files); !absent) return report(absent.error());

  auto instance = cli.open();
  if (!instance) return instance.error();
  auto credentials = (*instance)->service().keygen_issue((*instance)->operator_principal(),
                                                         service::KeygenRequest{
                                                             .common_name = options.common_name,
                                                             .sans = std::move(sans),
                                                             .key = *KeySpec::parse(options.key_type),
                                                             .profile = options.profile,
                                                             .ca = optional_text(options.ca),
                                                             .validity_days = options.days > 0
                                                                                  ? std::optional<int>(options.days)
                                                                                  : std::nullopt,
                                                             .pkcs12_password = passphrase,
                                                         });
  if (!credentials) return report(credentials.error());
  const auto& record = credentials->issued.record;
  (*instance)->log().info("issued certificate {} for '{}' with a server-generated {} key (profile {})", record.serial,
                          record.common_name, record.key_type, record.profile);
  if (auto written = write_credentials(files, *credentials); !written) {
    return report(Error{written.error().code, written.error().message + " (certificate " + record.serial +
                                                  " was issued; revoke it if the key is lost)"});
  }
  fmt::print("certificate {}\n  key    {}{}\n  cert   {}\n  chain  {}\n", record.serial, files.key.string(),
             passphrase ? " (encrypted with the PKCS#12 passphrase)" : " (unencrypted, mode 0600)", files.cert.string(),
             files.chain.string());
  if (files.p12) {
    fmt::print("  p12    {}\n", files.p12->string());
  } else {
    fmt::print("  no .p12 written: give --p12-passphrase-file to get one\n");
  }
  return exit_ok;
}

int run_revoke(Cli& cli, const CertificateOptions& options, RevocationReason reason) {
  std::optional<TimePoint> invalidity_date;
  if (!options.invalidity_date.empty()) invalidity_date = *parse_iso8601(options.invalidity_date);
  auto instance = cli.open();
  if (!instance) return instance.error();
  if (invalidity_date) {
    auto target = (*instance)->service().get_certificate((*instance)->operator_principal(), options.serial,
                                                         optional_view(options.ca));
    if (!target) return report(target.error());
    if (auto ok = check_invalidity_date(*invalidity_date, target->record.not_before, (*instance)->clock().now()); !ok) {
      return report(exit_usage, ok.error().message);
    }
  }
  auto record = (*instance)->service().revoke((*instance)->operator_principal(), RevokeRequest{
                                                                                     .serial = options.serial,
                                                                                     .ca = optional_text(options.ca),
                                                                                     .reason = reason,
                                                                                     .invalidity_date = invalidity_date,
                                                                                     .requester = {},
                                                                                 });
  if (!record) return report(record.error());
  return print_status_change(**instance, *record, options.json,
                             reason == RevocationReason::certificate_hold ? "put on hold" : "revoked");
}

int run_unhold(Cli& cli, const CertificateOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto record =
      (*instance)->service().release_hold((*instance)->operator_principal(), options.serial, optional_view(options.ca));
  if (!record) return report(record.error());
  return print_status_change(**instance, *record, options.json, "released from hold");
}

int run_renew(Cli& cli, const CertificateOptions& options) {
  auto csr = read_input(options.csr);
  if (!csr) return report(csr.error());
  auto outputs = CertificateOutputs::prepare(options.out, options.chain_out);
  if (!outputs) return report(outputs.error());
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto issued =
      (*instance)->service().renew((*instance)->operator_principal(), options.serial, optional_view(options.ca), *csr);
  if (!issued) return report(issued.error());
  return print_issued(**instance, *issued, options, "renewed as", *outputs);
}

int run_list(Cli& cli, const CertificateOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  service::CertificateQuery query;
  query.ca = optional_text(options.ca);
  if (!options.status.empty()) query.status = *parse_certificate_status(options.status);
  query.profile = optional_text(options.profile);
  if (options.expiring_days >= 0) query.expiring_within_days = options.expiring_days;

  // Pages keep each query bounded; --limit 0 means everything.
  auto certificates =
      collect_pages<service::CertificateInfo>(query, options.limit, [&](const service::CertificateQuery& q) {
        return (*instance)->service().list_certificates((*instance)->operator_principal(), q);
      });
  if (!certificates) return report(certificates.error());
  if (options.json) {
    print_json_array(*certificates);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [record, ca] : *certificates) {
    rows.push_back({record.serial, ca, to_string(record.status), record.profile, record.key_type,
                    iso8601(record.not_after), record.common_name});
  }
  fmt::print("{}", format_table({"SERIAL", "CA", "STATUS", "PROFILE", "KEY", "NOT_AFTER", "COMMON_NAME"}, rows));
  return exit_ok;
}

// What `openssl x509 -text -noout` prints.
Result<std::string> certificate_text(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_print_ex(bio.get(), cert, XN_FLAG_ONELINE, 0) != 1) {
    return fail_openssl(Errc::internal, "cannot print the certificate");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

int run_show(Cli& cli, const CertificateOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto info =
      (*instance)->service().get_certificate((*instance)->operator_principal(), options.serial, optional_view(options.ca));
  if (!info) return report(info.error());
  const auto& der = info->record.der;
  auto cert = parse_certificate(std::string_view(reinterpret_cast<const char*>(der.data()), der.size()));
  if (!cert) return report(cert.error());
  if (options.format == "json") {
    auto out = service::to_json(*info);
    out["certificate_pem"] = to_pem(cert->get());
    fmt::print("{}\n", out.dump(2));
  } else if (options.format == "text") {
    auto text = certificate_text(cert->get());
    if (!text) return report(text.error());
    fmt::print("{}", *text);
  } else {
    fmt::print("{}", to_pem(cert->get()));
  }
  return exit_ok;
}

void add_serial(CLI::App* command, CertificateOptions& options) {
  command->add_option("SERIAL", options.serial, "certificate serial (hex, colons allowed)")->required();
  command->add_option("--ca", options.ca, "issuing CA (needed only when two CAs issued the same serial)");
}

void add_output(CLI::App* command, CertificateOptions& options) {
  command->add_option("--out", options.out, "write the certificate PEM here instead of stdout");
  command->add_option("--chain-out", options.chain_out, "write the certificate followed by its CA chain here");
  command->add_flag("--json", options.json, "print the record as JSON (with the PEM) instead of the PEM");
}

}  // namespace

void register_certificate_commands(CLI::App& app, Cli& cli) {
  auto issue = std::make_shared<CertificateOptions>();
  auto* issue_cmd = app.add_subcommand("issue", "issue a certificate for a CSR");
  issue_cmd->add_option("--csr", issue->csr, "PKCS#10 request, PEM or DER; - for stdin")
      ->required()
      ->check(input_file_validator());
  issue_cmd->add_option("--profile", issue->profile, "server, client, nmos-node, ocsp-signer, sub-ca")->required();
  issue_cmd->add_option("--ca", issue->ca, "issuing CA (default: the default CA)");
  issue_cmd->add_option("--days", issue->days, "validity (default: the profile's; at most its maximum)")
      ->check(CLI::Range(1, 36500));
  add_output(issue_cmd, *issue);
  cli.on(issue_cmd, [&cli, issue] { return run_issue(cli, *issue); });

  auto keygen = std::make_shared<CertificateOptions>();
  auto* keygen_cmd = app.add_subcommand(
      "keygen-issue", "generate a key on this host and issue a certificate for it (devices without CSR support)");
  keygen_cmd->add_option("--cn", keygen->common_name, "common name")->required();
  keygen_cmd->add_option("--san", keygen->sans, "DNS:name, IP:address, email:x or URI:x (repeatable)");
  keygen_cmd->add_option("--profile", keygen->profile, "certificate profile")->required();
  keygen_cmd->add_option("--key-type", keygen->key_type, "key type")->capture_default_str()->check(key_type_validator());
  keygen_cmd->add_option("--ca", keygen->ca, "issuing CA (default: the default CA)");
  keygen_cmd->add_option("--days", keygen->days, "validity (default: the profile's)")->check(CLI::Range(1, 36500));
  keygen_cmd->add_option("--out-dir", keygen->out_dir, "where <cn>.key.pem, .crt.pem, .chain.pem, .p12 go")->required();
  keygen_cmd
      ->add_option("--p12-passphrase-file", keygen->p12_passphrase_file,
                   "passphrase for the .p12 and the key PEM; without it no .p12 is written and the key PEM is plaintext")
      ->check(CLI::ExistingFile);
  cli.on(keygen_cmd, [&cli, keygen] { return run_keygen_issue(cli, *keygen); });

  auto revoke = std::make_shared<CertificateOptions>();
  auto* revoke_cmd = app.add_subcommand("revoke", "revoke a certificate");
  add_serial(revoke_cmd, *revoke);
  revoke_cmd
      ->add_option("--reason", revoke->reason,
                   "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, "
                   "certificateHold, privilegeWithdrawn, aACompromise (or the RFC 5280 code)")
      ->required()
      ->check(revocation_reason_validator());
  revoke_cmd->add_option("--invalidity-date", revoke->invalidity_date, "when the key is known or suspected compromised")
      ->check(iso8601_validator());
  revoke_cmd->add_flag("--json", revoke->json, "print the updated record as JSON");
  cli.on(revoke_cmd, [&cli, revoke] { return run_revoke(cli, *revoke, *parse_revocation_reason(revoke->reason)); });

  auto hold = std::make_shared<CertificateOptions>();
  auto* hold_cmd = app.add_subcommand("hold", "suspend a certificate (revoke with reason certificateHold)");
  add_serial(hold_cmd, *hold);
  hold_cmd->add_flag("--json", hold->json, "print the updated record as JSON");
  cli.on(hold_cmd, [&cli, hold] { return run_revoke(cli, *hold, RevocationReason::certificate_hold); });

  auto unhold = std::make_shared<CertificateOptions>();
  auto* unhold_cmd = app.add_subcommand("unhold", "release a certificate from hold");
  add_serial(unhold_cmd, *unhold);
  unhold_cmd->add_flag("--json", unhold->json, "print the updated record as JSON");
  cli.on(unhold_cmd, [&cli, unhold] { return run_unhold(cli, *unhold); });

  auto renew = std::make_shared<CertificateOptions>();
  auto* renew_cmd =
      app.add_subcommand("renew", "issue a new certificate with the same names and profile for a new CSR");
  add_serial(renew_cmd, *renew);
  renew_cmd->add_option("--csr", renew->csr, "PKCS#10 request for the new key; - for stdin")
      ->required()
      ->check(input_file_validator());
  add_output(renew_cmd, *renew);
  cli.on(renew_cmd, [&cli, renew] { return run_renew(cli, *renew); });

  auto list = std::make_shared<CertificateOptions>();
  auto* list_cmd = app.add_subcommand("list", "list certificates");
  list_cmd->add_option("--status", list->status, "valid, revoked or on-hold")->check(status_validator());
  list_cmd->add_option("--expiring-days", list->expiring_days, "only unexpired certificates ending within N days")
      ->check(CLI::Range(0, 36500));
  list_cmd->add_option("--profile", list->profile, "only this profile");
  list_cmd->add_option("--ca", list->ca, "only certificates this CA issued");
  list_cmd->add_option("--limit", list->limit, "at most N rows (0: all)")->capture_default_str();
  list_cmd->add_flag("--json", list->json, "JSON array instead of a table");
  cli.on(list_cmd, [&cli, list] { return run_list(cli, *list); });

  auto show = std::make_shared<CertificateOptions>();
  auto* show_cmd = app.add_subcommand("show", "print one certificate");
  add_serial(show_cmd, *show);
  show_cmd->add_option("--format", show->format, "pem, text (like openssl x509 -text) or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"pem", "text", "json"}));
  cli.on(show_cmd, [&cli, show] { return run_show(cli, *show); });
}

}  // namespace fca::app
