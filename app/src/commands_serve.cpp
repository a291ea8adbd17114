#include "command.hpp"
#include "serve.hpp"

namespace fca::app {

void register_serve_command(CLI::App& app, Cli& cli) {
  auto* command = app.add_subcommand(
      "serve", "run the OCSP responder and CRL publisher on the listeners config.json names, until SIGTERM");
  cli.on(command, [&cli] {
    auto instance = cli.open();
    if (!instance) return instance.error();
    return serve(**instance, cli.config_file());
  });
}

}  // namespace fca::app
