// `token ...`: bearer tokens of the REST admin API — create (shown once), list, revoke — through the
// token service as the local operator (an administrator).
#include <fmt/core.h>

#include "command.hpp"
#include "output.hpp"

namespace fca::app {
namespace {

struct TokenOptions {
  std::string name;
  std::vector<std::string> roles;
  std::string expires;
  std::vector<std::string> cas;
  std::vector<std::string> profiles;
  std::int64_t id = 0;
  bool json = false;
};

std::string optional_time(const std::optional<TimePoint>& t) { return t ? iso8601(*t) : "-"; }

std::string joined(const std::optional<std::vector<std::string>>& items) {
  if (!items) return "any";
  std::string out;
  for (const auto& item : *items) out += (out.empty() ? "" : ",") + item;
  return out;
}

nlohmann::ordered_json to_json(const ApiTokenRecord& t) {
  const auto time = [](const std::optional<TimePoint>& v) { return v ? nlohmann::ordered_json(iso8601(*v)) : nullptr; };
  nlohmann::ordered_json out;
  out["id"] = t.id;
  out["name"] = t.name;
  out["roles"] = t.roles;
  out["cas"] = t.cas ? nlohmann::ordered_json(*t.cas) : nullptr;
  out["profiles"] = t.profiles ? nlohmann::ordered_json(*t.profiles) : nullptr;
  out["created_by"] = t.created_by;
  out["created_at"] = iso8601(t.created_at);
  out["expires_at"] = time(t.expires_at);
  out["revoked_at"] = time(t.revoked_at);
  out["last_used_at"] = time(t.last_used_at);
  return out;
}

int run_create(Cli& cli, const TokenOptions& options) {
  service::TokenSpec spec{options.name, {}, std::nullopt, std::nullopt, std::nullopt};
  for (const auto& name : options.roles) {
    auto role = service::parse_role(name);
    if (!role) return report(exit_usage, role.error().message);
    spec.roles.insert(*role);
  }
  if (!options.expires.empty()) {
    auto at = parse_iso8601(options.expires);
    if (!at) return report(exit_usage, "--expires: " + at.error().message);
    spec.expires_at = *at;
  }
  if (!options.cas.empty()) spec.cas.emplace(options.cas.begin(), options.cas.end());
  if (!options.profiles.empty()) spec.profiles.emplace(options.profiles.begin(), options.profiles.end());
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto made = (*instance)->tokens().create((*instance)->operator_principal(), spec);
  if (!made) return report(made.error());
  (*instance)->log().info("API token {} '{}' created", made->record.id, made->record.name);
  if (options.json) {
    auto out = to_json(made->record);
    out["token"] = made->secret;
    fmt::print("{}\n", out.dump(2));
  } else {
    // The token alone on stdout, so `TOKEN=$(facility-ca token create ...)` works; it is not shown again.
    fmt::print(stderr, "API token {} '{}' ({}); it is shown only now:\n", made->record.id, made->record.name,
               joined(made->record.roles));
    fmt::print("{}\n", made->secret);
  }
  return exit_ok;
}

int run_list(Cli& cli, const TokenOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto tokens = (*instance)->tokens().list((*instance)->operator_principal());
  if (!tokens) return report(tokens.error());
  if (options.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& t : *tokens) out.push_back(to_json(t));
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : *tokens) {
    rows.push_back({std::to_string(t.id), t.name, joined(t.roles), joined(t.cas), joined(t.profiles),
                    optional_time(t.expires_at), t.revoked_at ? "revoked " + iso8601(*t.revoked_at) : "active",
                    optional_time(t.last_used_at)});
  }
  fmt::print("{}", format_table({"ID", "NAME", "ROLES", "CAS", "PROFILES", "EXPIRES", "STATE", "LAST USE"}, rows));
  return exit_ok;
}

int run_revoke(Cli& cli, const TokenOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto revoked = (*instance)->tokens().revoke((*instance)->operator_principal(), options.id);
  if (!revoked) return report(revoked.error());
  (*instance)->log().info("API token {} '{}' revoked", revoked->id, revoked->name);
  fmt::print("API token {} '{}' revoked\n", revoked->id, revoked->name);
  return exit_ok;
}

}  // namespace

void register_token_commands(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<TokenOptions>();
  auto* token = app.add_subcommand("token", "bearer tokens of the REST admin API");
  token->require_subcommand(1);

  auto* create = token->add_subcommand("create", "make a token and print it once");
  create->add_option("--name", options->name, "token name ([a-z0-9._-], the audit log's actor api:<name>)")->required();
  create->add_option("--role", options->roles, "admin, operator or auditor (repeatable)")->required();
  create->add_option("--expires", options->expires, "expiry (ISO 8601, e.g. 2027-01-31T00:00:00Z)");
  create->add_option("--ca", options->cas, "a CA the token may use (repeatable; default any)");
  create->add_option("--profile", options->profiles, "a profile the token may use (repeatable; default any)");
  create->add_flag("--json", options->json, "print the token and its record as JSON");
  cli.on(create, [&cli, options] { return run_create(cli, *options); });

  auto* list = token->add_subcommand("list", "list tokens (never their secrets)");
  list->add_flag("--json", options->json, "JSON array");
  cli.on(list, [&cli, options] { return run_list(cli, *options); });

  auto* revoke = token->add_subcommand("revoke", "revoke a token by its id");
  revoke->add_option("id", options->id, "token id (token list)")->required();
  cli.on(revoke, [&cli, options] { return run_revoke(cli, *options); });
}

}  // namespace fca::app
