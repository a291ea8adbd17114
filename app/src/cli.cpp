#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "fca/core/escape.hpp"
#include "log_format.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/repository.hpp"
#include "output.hpp"

namespace fca::app {
namespace {

constexpr const char* kDefaultDataDirectory = "./facility-ca-data";

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = std::make_shared<spdlog::logger>("facility-ca", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::make_unique<EscapingFormatter>(
      std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%SZ [%l] %v", spdlog::pattern_time_type::utc)));
  logger->set_level(spdlog::level::info);
  return logger;
}

template <class Parse>
CLI::Validator validator_from(Parse parse, const std::string& description) {
  return CLI::Validator(
      [parse](std::string& value) -> std::string {
        auto parsed = parse(value);
        return parsed ? std::string() : parsed.error().message;
      },
      description);
}

}  // namespace

int report(const Error& error) { return report(exit_code_for(error.code), error.message); }

int report(int exit_code, const std::string& message) {
  // One message, one line: a newline inside (a CSR name, a path) is escaped, never a new line.
  fmt::print(stderr, "facility-ca: {}\n", escape_control(message));
  return exit_code;
}

int report_lines(int exit_code, const std::string& message) {
  // One prefix per line: config validation reports every problem on a line of its own (each line's
  // outside text was escaped where the problem was recorded; escaping again only catches the rest).
  std::string_view rest = message;
  do {
    const auto end = rest.find('\n');
    fmt::print(stderr, "facility-ca: {}\n", escape_control(rest.substr(0, end)));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  } while (!rest.empty());
  return exit_code;
}

CLI::Validator key_type_validator() {
  return validator_from([](const std::string& v) { return KeySpec::parse(v); }, "rsa2048|rsa3072|rsa4096|p256|p384|ed25519");
}
CLI::Validator revocation_reason_validator() {
  return validator_from([](const std::string& v) { return parse_revocation_reason(v); }, "REASON");
}
CLI::Validator status_validator() {
  return validator_from([](const std::string& v) { return parse_certificate_status(v); }, "valid|revoked|on-hold");
}
CLI::Validator iso8601_validator() {
  return validator_from([](const std::string& v) { return parse_iso8601(v); }, "ISO8601");
}
CLI::Validator input_file_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value == "-") return {};
        return CLI::ExistingFile(value);
      },
      "FILE");
}

std::expected<std::unique_ptr<Instance>, int> Cli::open() {
  auto config = load_config(config_file());
  if (!config) {
    if (config.error().kind == ConfigError::Kind::missing) {
      return std::unexpected(report(exit_not_found, config.error().message + " (create a data directory with `facility-ca init --dir " +
                                                        data_directory().string() + "`)"));
    }
    return std::unexpected(report_lines(exit_usage, config.error().message));
  }
  return open(std::move(*config));
}

std::expected<std::unique_ptr<Instance>, int> Cli::open(Config config) {
  logger_->set_level(spdlog::level::from_str(config.log_level));
  auto instance = Instance::open(data_directory(), std::move(config), logger_);
  if (!instance) return std::unexpected(report(instance.error()));
  return std::move(*instance);
}

int run_cli(int argc, const char* const* argv) {
  Cli cli(make_logger());
  CLI::App app{"facility-ca: a private certificate authority for broadcast facilities and interop labs", "facility-ca"};
  app.require_subcommand(1);
  // Options like --dir may follow the subcommand: unknown options fall through to the parent.
  app.fallthrough();
  app.set_version_flag("--version", "facility-ca 0.1.0");
  const char* env_directory = std::getenv("FACILITY_CA_DIR");
  cli.data_directory_option() = (env_directory != nullptr && *env_directory != '\0') ? env_directory : kDefaultDataDirectory;
  app.add_option("--dir", cli.data_directory_option(),
                 "data directory (config.json, ca.db, keys/); default: $FACILITY_CA_DIR, else ./facility-ca-data")
      ->type_name("DIR");

  register_init_command(app, cli);
  register_ca_commands(app, cli);
  register_certificate_commands(app, cli);
  register_enrollment_commands(app, cli);
  register_maintenance_commands(app, cli);
  register_serve_command(app, cli);
  register_dns_sd_command(app, cli);
  register_token_commands(app, cli);
  register_ocsp_commands(app, cli);
  register_crl_commands(app, cli);
  register_lab_fault_commands(*register_lab_commands(app, cli), cli);
  register_est_commands(app, cli);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    fmt::print(stderr, "facility-ca: {}\nRun with --help for more information.\n", escape_control(e.what()));
    return exit_usage;
  }

  CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  const Cli::Handler* handler = cli.handler_for(command);
  if (handler == nullptr) return report(exit_usage, "no command given; run with --help");
  try {
    return (*handler)();
  } catch (const std::exception& e) {
    // Only programming errors and environment surprises get here: commands report domain errors.
    return report(exit_failure, std::string("internal error: ") + e.what());
  }
}

}  // namespace fca::app
