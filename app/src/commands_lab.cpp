// `lab ...`: the interop lab kit (docs/lab.md), only on a lab instance (`init --lab`); any other
// instance refuses every lab command (exit 3) before it writes anything. The kinds, the minting and
// the checks are fca::lab's; this file wires them to the instance (CRLs, the in-process OCSP
// responder) and prints.
#include <fmt/core.h>

#include "command.hpp"
#include "fca/core/x509.hpp"
#include "fca/lab/lab.hpp"
#include "files.hpp"

namespace fca::app {
namespace {

struct LabOptions {
  std::string kind;
  std::string common_name;
  std::string out_dir;
  bool all = false;
  std::string ocsp_url;
};

std::filesystem::path kit_directory(const Cli& cli, const std::string& given) {
  return given.empty() ? cli.data_directory() / "lab" / "kit" : std::filesystem::path(given);
}

// Every lab command starts here: the instance, and the refusal of a non-lab one before anything else.
std::expected<std::unique_ptr<Instance>, int> open_lab(Cli& cli) {
  auto instance = cli.open();
  if (!instance) return std::unexpected(instance.error());
  if (auto lab = (*instance)->service().require_lab_instance(); !lab) {
    (*instance)->log().warn("lab command refused: {}", lab.error().message);
    return std::unexpected(report(lab.error()));
  }
  return instance;
}

int run_mint(Cli& cli, const LabOptions& options) {
  if (options.all == !options.kind.empty()) return report(exit_usage, "give one KIND or --all");
  if (!options.all && !lab::is_kind(options.kind)) {
    std::string known;
    for (const auto& kind : lab::kind_names()) known += (known.empty() ? "" : ", ") + kind;
    return report(exit_usage, "unknown lab kind '" + options.kind + "' (one of: " + known + ")");
  }
  if (options.all && !options.common_name.empty()) return report(exit_usage, "--cn goes with one KIND, not --all");
  auto instance = open_lab(cli);
  if (!instance) return instance.error();
  const auto directory = kit_directory(cli, options.out_dir);
  if (auto made = ensure_private_directory(directory); !made) return report(made.error());
  auto& service = (*instance)->service();
  const auto& who = (*instance)->operator_principal();
  lab::Minter minter(service, who, lab::crl_bundle_of(service, who, (*instance)->crls()));
  auto entries = options.all ? minter.mint_all(directory)
                             : minter.mint(options.kind,
                                           options.common_name.empty() ? options.kind + ".localhost" : options.common_name,
                                           directory);
  if (!entries) return report(entries.error());
  (*instance)->log().info("lab: minted {} certificate(s) into {}", entries->size(), directory.string());
  fmt::print("lab certificates in {} (keys unencrypted, mode 0600; trust anchor root.pem; CRLs crls.pem; "
             "manifest.json):\n",
             directory.string());
  for (const auto& entry : *entries) {
    fmt::print("  {:<24} {:<40} {}\n", entry["name"].get<std::string>(), entry["serial"].get<std::string>(),
               entry["client_must"].get<std::string>());
  }
  return exit_ok;
}

// The probe of one active fault: its CA (or the default CA), a certificate of that CA it applies to,
// and the files openssl needs, written into `scratch`.
Result<lab::FaultProbe> probe_of(Instance& instance, const service::LabFaultInfo& info, const std::string& ocsp_url,
                                 const std::filesystem::path& scratch) {
  auto& service = instance.service();
  const auto& who = instance.operator_principal();
  std::string ca = info.ca;
  if (ca.empty()) {
    auto cas = service.list_cas(who);
    if (!cas) return std::unexpected(cas.error());
    for (const auto& c : *cas) {
      if (c.record.is_default) ca = c.record.name;
    }
    if (ca.empty()) return fail(Errc::not_found, "no default CA to check fault " + std::to_string(info.fault.id) + " with");
  }
  auto chain = service.ca_chain_pem(who, ca);
  if (!chain) return std::unexpected(chain.error());
  auto certificates = parse_certificates(*chain);
  if (!certificates || certificates->empty()) return fail(Errc::internal, "the chain of CA '" + ca + "' does not parse");

  std::optional<service::CertificateInfo> target;
  if (info.fault.serial) {
    auto found = service.get_certificate(who, *info.fault.serial, ca);
    if (!found) return std::unexpected(found.error());
    target = *found;
  } else {
    service::CertificateQuery query;
    query.ca = ca;
    query.status = CertificateStatus::valid;
    query.limit = 50;
    auto page = service.list_certificates(who, query);
    if (!page) return std::unexpected(page.error());
    for (const auto& c : page->items) {
      if (c.record.not_after > service.clock().now()) target = c;
    }
    if (!target) return fail(Errc::not_found, "CA '" + ca + "' has no valid certificate to check a fault with");
  }
  auto leaf = parse_certificate(std::string_view(reinterpret_cast<const char*>(target->record.der.data()), target->record.der.size()));
  if (!leaf) return std::unexpected(leaf.error());

  lab::FaultProbe probe;
  probe.name = "fault " + std::to_string(info.fault.id);
  probe.kind = to_string(info.fault.kind);
  probe.mode = info.fault.mode;
  probe.delay_ms = info.fault.delay_ms;
  probe.serial = target->record.serial;
  probe.issuer_pem = scratch / (probe.name + "-issuer.pem");
  probe.chain_pem = scratch / (probe.name + "-chain.pem");
  probe.leaf_pem = scratch / (probe.name + "-leaf.pem");
  for (const auto& [file, content] : {std::pair{probe.issuer_pem, to_pem(certificates->front().get())},
                                      std::pair{probe.chain_pem, *chain}, std::pair{probe.leaf_pem, to_pem(leaf->get())}}) {
    if (auto w = write_atomically(file, content, 0644); !w) return std::unexpected(w.error());
  }
  // The CRL is on the listener the responder is on: scheme://host:port of the OCSP URL.
  const auto authority_end = ocsp_url.find('/', ocsp_url.find("://") + 3);
  // The CRL route serves a CA at its publication name (it differs from the name after a rollover).
  auto record = service.get_ca(who, ca);
  if (!record) return std::unexpected(record.error());
  probe.crl_url = ocsp_url.substr(0, authority_end) + "/crl/" + record->record.url_name() + ".crl";
  return probe;
}

int run_check(Cli& cli, const LabOptions& options) {
  auto instance = open_lab(cli);
  if (!instance) return instance.error();
  auto& ocsp = (*instance)->ocsp();
  if (options.ocsp_url.empty()) {
    // The in-process responder needs its signer certificates; a CA that cannot have one (an expired
    // lab intermediate) is named in the error and does not stop the others.
    if (auto signers = ocsp.ensure_signers(); !signers) {
      (*instance)->log().info("lab check: OCSP signers: {}", signers.error().message);
    }
  }
  lab::CheckOptions check{
      .directory = kit_directory(cli, options.out_dir),
      .ocsp_url = options.ocsp_url.empty() ? std::nullopt : std::optional(options.ocsp_url),
      .ocsp_responder = [&ocsp](std::span<const std::uint8_t> request) { return ocsp.respond(request).der; },
      .crls = lab::crl_bundle_of((*instance)->service(), (*instance)->operator_principal(), (*instance)->crls()),
      .openssl = "openssl",
  };
  auto outcomes = lab::run_checks(check);
  if (!outcomes) return report(outcomes.error());

  // Faults are answered by the running serve, not in this process: they are checked against it.
  auto faults = (*instance)->lab_faults().list((*instance)->operator_principal());
  if (!faults) return report(faults.error());
  std::vector<lab::FaultProbe> probes;
  std::size_t active = 0;
  for (const auto& info : *faults) {
    if (!info.active) continue;
    ++active;
    if (options.ocsp_url.empty()) continue;
    auto probe = probe_of(**instance, info, options.ocsp_url, check.directory);
    if (!probe) return report(probe.error());
    probes.push_back(std::move(*probe));
  }
  if (active > 0 && options.ocsp_url.empty()) {
    fmt::print("{} active revocation fault(s) not checked: the running serve answers them (give --ocsp-url)\n", active);
  }
  for (auto& outcome : lab::run_fault_checks(probes, options.ocsp_url, check.directory)) outcomes->push_back(std::move(outcome));
  std::size_t differing = 0;
  for (const auto& o : *outcomes) {
    fmt::print("{:<8} {:<22} {} {}: expected \"{}\", seen \"{}\"\n", o.matches ? "ok" : "DIFFERS", o.entry, o.tool,
               o.what, o.expected, o.seen);
    if (!o.matches) {
      ++differing;
      (*instance)->log().warn("lab check: {} {} ({}): expected '{}', saw '{}'", o.entry, o.tool, o.what, o.expected,
                              o.seen);
      fmt::print("         output: {}\n", o.output.substr(0, 600));
    }
  }
  fmt::print("{} of {} checks as expected\n", outcomes->size() - differing, outcomes->size());
  return differing == 0 ? exit_ok : exit_failure;
}

}  // namespace

CLI::App* register_lab_commands(CLI::App& app, Cli& cli) {
  auto* lab = app.add_subcommand("lab", "the interop lab kit, on a lab instance only (init --lab; docs/lab.md)");
  lab->require_subcommand(1);

  auto mint_options = std::make_shared<LabOptions>();
  auto* mint = lab->add_subcommand("mint", "write key, certificate and chain of a lab KIND (or --all, with manifest.json)");
  mint->add_option("KIND", mint_options->kind, "the kind (docs/lab.md): valid, expired, revoked, wrong-eku, ...");
  mint->add_flag("--all", mint_options->all, "every kind, with manifest.json");
  mint->add_option("--cn", mint_options->common_name, "the name the certificate is for (default KIND.localhost)");
  mint->add_option("--out-dir", mint_options->out_dir, "where the files go (default DIR/lab/kit)");
  cli.on(mint, [&cli, mint_options] { return run_mint(cli, *mint_options); });

  auto check_options = std::make_shared<LabOptions>();
  auto* check = lab->add_subcommand("check", "run openssl verify, ocsp and s_client against every minted kind");
  check->add_option("--kit-dir", check_options->out_dir, "the directory lab mint wrote (default DIR/lab/kit)");
  check->add_option("--ocsp-url", check_options->ocsp_url,
                    "ask this running responder (e.g. http://127.0.0.1:8080/ocsp) instead of the in-process one");
  cli.on(check, [&cli, check_options] { return run_check(cli, *check_options); });
  return lab;
}

}  // namespace fca::app
