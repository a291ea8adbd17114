// Operations on the store itself: online backup and the audit chain check (MACs and the head file).
#include <fmt/core.h>

#include "command.hpp"

namespace fca::app {
namespace {

int run_backup(Cli& cli, const std::string& file) {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return report(exit_conflict, file + " exists already; not overwriting it");
  auto instance = cli.open();
  if (!instance) return instance.error();
  if (auto done = (*instance)->database().backup_to(file); !done) return report(done.error());
  (*instance)->log().info("database backed up to {}", file);
  fmt::print("backup written to {}\n", file);
  return exit_ok;
}

int run_verify_audit(Cli& cli) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto verification = (*instance)->database().verify_audit();
  if (!verification) return report(verification.error());
  if (!verification->intact) {
    const std::string where = verification->first_bad_sequence
                                  ? fmt::format("entry {}", *verification->first_bad_sequence)
                                  : std::string("an unknown entry");
    return report(exit_failure, fmt::format("audit log broken at {}: {}", where, verification->reason));
  }
  if (verification->keyed_from) {
    fmt::print("audit log intact: {} entries, keyed (HMAC) from entry {}, head at entry {}\n", verification->entries,
               *verification->keyed_from, verification->head_count);
  } else {
    fmt::print("audit log intact: {} entries\n", verification->entries);
  }
  return exit_ok;
}

}  // namespace

void register_maintenance_commands(CLI::App& app, Cli& cli) {
  auto backup_file = std::make_shared<std::string>();
  auto* backup = app.add_subcommand("backup", "write a consistent copy of the database while it is in use");
  backup->add_option("FILE", *backup_file, "new database file to create")->required();
  cli.on(backup, [&cli, backup_file] { return run_backup(cli, *backup_file); });

  auto* verify = app.add_subcommand("verify-audit", "recompute the audit log's MAC chain and check it against the head file; non-zero exit when broken");
  cli.on(verify, [&cli] { return run_verify_audit(cli); });
}

}  // namespace fca::app
