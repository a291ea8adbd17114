// Operations on the store itself: online backup, the audit log and its chain check (MACs and the head file).
#include <fmt/core.h>

#include "command.hpp"
#include "output.hpp"
#include "fca/service/json.hpp"

namespace fca::app {
namespace {

int run_backup(Cli& cli, const std::string& file) {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return report(exit_conflict, file + " exists already; not overwriting it");
  auto instance = cli.open();
  if (!instance) return instance.error();
  if (auto done = (*instance)->backup_to(file); !done) return report(done.error());
  (*instance)->log().info("database backed up to {}", file);
  fmt::print("backup written to {}\n", file);
  return exit_ok;
}

int run_verify_audit(Cli& cli) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto verification = (*instance)->service().verify_audit((*instance)->operator_principal());
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

struct AuditOptions {
  std::int64_t after = 0;
  std::size_t limit = 100;
  bool json = false;
};

int run_audit(Cli& cli, const AuditOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto page = (*instance)->service().audit_entries((*instance)->operator_principal(),
                                                   service::make_cursor(options.after), options.limit);
  if (!page) return report(page.error());
  if (options.json) {
    print_json_array(page->items);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : page->items) {
    rows.push_back({std::to_string(entry.sequence), iso8601(entry.event.at), entry.event.actor, entry.event.action,
                    entry.event.object});
  }
  fmt::print("{}", format_table({"SEQ", "AT", "ACTOR", "ACTION", "OBJECT"}, rows));
  if (page->next_cursor) fmt::print(stderr, "facility-ca: more entries follow: --after {}\n", page->items.back().sequence);
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

  auto audit = std::make_shared<AuditOptions>();
  auto* audit_cmd = app.add_subcommand("audit", "print audit log entries, oldest first");
  audit_cmd->add_option("--after", audit->after, "only entries after sequence number N")->check(CLI::NonNegativeNumber);
  audit_cmd->add_option("--limit", audit->limit, "at most N entries (1-1000)")->capture_default_str()->check(CLI::Range(1, 1000));
  audit_cmd->add_flag("--json", audit->json, "JSON array (with hashes and the detail object) instead of a table");
  cli.on(audit_cmd, [&cli, audit] { return run_audit(cli, *audit); });
}

}  // namespace fca::app
