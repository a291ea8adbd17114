// `crl generate`: rebuilds full CRLs (each followed by a fresh delta CRL) now. A revocation makes only
// the delta CRL; `serve` rebuilds full CRLs in the background, and this is the way to do it without one.
#include <fmt/core.h>

#include "command.hpp"

namespace fca::app {
namespace {

int run_generate(Cli& cli, const std::string& ca_name) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto& service = (*instance)->service();
  const auto& who = (*instance)->operator_principal();
  std::vector<CaRecord> cas;
  if (ca_name.empty()) {
    auto all = service.list_cas(who);
    if (!all) return report(all.error());
    for (auto& ca : *all) {
      if (ca.record.state == CaState::active) cas.push_back(std::move(ca.record));
    }
  } else {
    auto found = service.get_ca(who, ca_name);
    if (!found) return report(found.error());
    if (found->record.state != CaState::active) {
      return report(Error{Errc::conflict, "CA '" + ca_name + "' has no certificate yet"});
    }
    cas.push_back(std::move(found->record));
  }
  std::optional<Error> first_error;
  for (const auto& ca : cas) {
    auto made = (*instance)->crls().regenerate(ca, who.id);
    if (!made) {
      (*instance)->log().error("crl generate: CA '{}': {}", ca.name, made.error().message);
      if (!first_error) first_error = made.error();
      continue;
    }
    fmt::print("{}: full CRL {} ({} entries)\n", ca.name, made->number, made->entries);
  }
  if (first_error) return report(*first_error);
  return exit_ok;
}

}  // namespace

void register_crl_commands(CLI::App& app, Cli& cli) {
  auto* crl = app.add_subcommand("crl", "CRLs");
  crl->require_subcommand(1);
  auto ca_name = std::make_shared<std::string>();
  auto* generate = crl->add_subcommand(
      "generate", "rebuild full CRLs now (each followed by a fresh delta CRL); serve does this in the background");
  generate->add_option("--ca", *ca_name, "only this CA (default: every active CA)");
  cli.on(generate, [&cli, ca_name] { return run_generate(cli, *ca_name); });
}

}  // namespace fca::app
