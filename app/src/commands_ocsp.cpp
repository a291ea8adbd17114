// `ocsp export`: the published tree for an HTTP cache or CDN in front of the responder.
#include <fmt/core.h>

#include "command.hpp"
#include "published_tree.hpp"

namespace fca::app {
namespace {

int run_export(Cli& cli, const std::string& link) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto written = write_published_tree(**instance, link, (*instance)->config().ocsp.path);
  if (!written) return report(written.error());
  (*instance)->log().info("ocsp export: {} answers, {} CRLs in {}", written->answers, written->crls,
                          written->version.string());
  fmt::print("{} -> {}: {} pre-signed answers, {} CRLs", link, written->version.filename().string(), written->answers,
             written->crls);
  if (written->not_exported > 0) fmt::print(" ({} certificates left to the responder)", written->not_exported);
  fmt::print("\n");
  return exit_ok;
}

}  // namespace

void register_ocsp_commands(CLI::App& app, Cli& cli) {
  auto* ocsp = app.add_subcommand("ocsp", "OCSP answers for HTTP caches");
  ocsp->require_subcommand(1);
  auto link = std::make_shared<std::string>();
  auto* export_cmd = ocsp->add_subcommand(
      "export", "write every unexpired certificate's pre-signed answer, the CRLs and CA certificates as static files at "
                "their URL paths, for nginx or a CDN (docs/scale-out.md)");
  export_cmd->add_option("LINK", *link, "symbolic link to the newest tree (made beside it as LINK.<version>)")->required();
  cli.on(export_cmd, [&cli, link] { return run_export(cli, *link); });
}

}  // namespace fca::app
