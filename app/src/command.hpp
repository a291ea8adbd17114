#pragma once
// Shared plumbing of the subcommands: each command file registers its CLI11 subcommands with a
// handler; handlers open the instance through Cli, call the service as the local operator, print, and
// return an exit code (exit_codes.hpp).
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include "config.hpp"
#include "exit_codes.hpp"
#include "instance.hpp"

namespace fca::app {

class Cli {
 public:
  using Handler = std::function<int()>;

  explicit Cli(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  // Runs `handler` when `command` is the subcommand given on the command line.
  void on(CLI::App* command, Handler handler) { handlers_[command] = std::move(handler); }
  const Handler* handler_for(CLI::App* command) const {
    auto it = handlers_.find(command);
    return it == handlers_.end() ? nullptr : &it->second;
  }

  std::string& data_directory_option() { return data_directory_; }
  std::filesystem::path data_directory() const { return data_directory_; }
  std::filesystem::path config_file() const { return data_directory() / "config.json"; }
  std::shared_ptr<spdlog::logger> logger() const { return logger_; }

  // Loads DIR/config.json and opens the instance; on failure the reason is printed and the
  // exit code returned.
  std::expected<std::unique_ptr<Instance>, int> open();
  // The same for a config that is not on disk yet (init).
  std::expected<std::unique_ptr<Instance>, int> open(Config config);

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::string data_directory_;
  std::map<CLI::App*, Handler> handlers_;
};

// Prints "facility-ca: <reason>" on stderr and returns the exit code for the error.
int report(const Error& error);
int report(int exit_code, const std::string& message);
// A message of several lines (config validation), each printed with the prefix.
int report_lines(int exit_code, const std::string& message);

// CLI11 validators backed by the core's parsers, so bad values are usage errors (exit 2).
CLI::Validator key_type_validator();
CLI::Validator revocation_reason_validator();
CLI::Validator status_validator();
CLI::Validator iso8601_validator();
CLI::Validator input_file_validator();  // an existing file, or "-" for standard input

void register_init_command(CLI::App& app, Cli& cli);
void register_ca_commands(CLI::App& app, Cli& cli);
void register_certificate_commands(CLI::App& app, Cli& cli);
void register_enrollment_commands(CLI::App& app, Cli& cli);
void register_maintenance_commands(CLI::App& app, Cli& cli);
void register_serve_command(CLI::App& app, Cli& cli);
void register_dns_sd_command(CLI::App& app, Cli& cli);
void register_token_commands(CLI::App& app, Cli& cli);
void register_ocsp_commands(CLI::App& app, Cli& cli);
void register_crl_commands(CLI::App& app, Cli& cli);
// The `lab` group (mint, check), returned so that the revocation-fault commands join it.
CLI::App* register_lab_commands(CLI::App& app, Cli& cli);
// Adds `fault ...` to the given `lab` group.
void register_lab_fault_commands(CLI::App& lab, Cli& cli);
void register_est_commands(CLI::App& app, Cli& cli);

// Builds the command line parser and runs the chosen subcommand.
int run_cli(int argc, const char* const* argv);

}  // namespace fca::app
