// `est credential ...`: per-device enrolment credentials of EST labels that take HTTP Basic — create
// (the secret printed once), list (never a secret), revoke — as the local operator (an administrator).
#include <fmt/core.h>

#include <algorithm>

#include "command.hpp"
#include "fca/est/credentials.hpp"
#include "fca/service/json.hpp"
#include "output.hpp"

namespace fca::app {
namespace {

struct CredentialOptions {
  std::string label;
  std::string name;
  std::string expires;
  bool reusable = false;
  std::int64_t id = 0;
  bool json = false;
};

int run_create(Cli& cli, const CredentialOptions& options) {
  est::CredentialSpec spec{options.label, options.name, std::nullopt, !options.reusable};
  if (!options.expires.empty()) {
    auto at = parse_iso8601(options.expires);
    if (!at) return report(exit_usage, "--expires: " + at.error().message);
    spec.expires_at = *at;
  }
  auto instance = cli.open();
  if (!instance) return instance.error();
  const auto& labels = (*instance)->config().est.labels;
  const auto label = std::ranges::find(labels, options.label, &EstLabelConfig::label);
  if (label == labels.end() || !label->http_basic) {
    return report(exit_usage, "--label: '" + options.label + "' is not an EST label with \"http_basic\": true");
  }
  est::CredentialService credentials((*instance)->database(), (*instance)->clock());
  auto made = credentials.create((*instance)->operator_principal(), spec);
  if (!made && made.error().code == Errc::invalid_input) return report(exit_usage, made.error().message);
  if (!made) return report(made.error());
  (*instance)->log().info("EST credential {} '{}' created for label '{}'", made->record.id, made->record.username,
                          made->record.label);
  if (options.json) {
    auto out = service::to_json(made->record);
    out["secret"] = made->secret;
    fmt::print("{}\n", out.dump(2));
  } else {
    // The secret alone on stdout, so `SECRET=$(facility-ca est credential create ...)` works; it is not shown again.
    fmt::print(stderr, "EST credential {} '{}' for label '{}' ({}); its secret is shown only now:\n", made->record.id,
               made->record.username, made->record.label,
               made->record.one_time ? "one-time" : "reusable until " + service::iso8601(*made->record.expires_at));
    fmt::print("{}\n", made->secret);
  }
  return exit_ok;
}

int run_list(Cli& cli, const CredentialOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  est::CredentialService credentials((*instance)->database(), (*instance)->clock());
  auto listed = credentials.list((*instance)->operator_principal(),
                                 options.label.empty() ? std::nullopt : std::optional<std::string>(options.label));
  if (!listed) return report(listed.error());
  if (options.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& c : *listed) out.push_back(service::to_json(c));
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  const auto time = [](const std::optional<TimePoint>& t) { return t ? service::iso8601(*t) : std::string("-"); };
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : *listed) {
    const std::string state = c.revoked_at ? "revoked" : c.spent_at ? "spent" : "usable";
    rows.push_back({std::to_string(c.id), c.label, c.username, c.one_time ? "one-time" : "reusable", time(c.expires_at),
                    state, time(c.last_used_at)});
  }
  fmt::print("{}", format_table({"ID", "LABEL", "NAME", "USE", "EXPIRES", "STATE", "LAST USE"}, rows));
  return exit_ok;
}

int run_revoke(Cli& cli, const CredentialOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  est::CredentialService credentials((*instance)->database(), (*instance)->clock());
  auto revoked = credentials.revoke((*instance)->operator_principal(), options.id);
  if (!revoked) return report(revoked.error());
  (*instance)->log().info("EST credential {} '{}' revoked", revoked->id, revoked->username);
  fmt::print("EST credential {} '{}' of label '{}' revoked\n", revoked->id, revoked->username, revoked->label);
  return exit_ok;
}

}  // namespace

void register_est_commands(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<CredentialOptions>();
  auto* est = app.add_subcommand("est", "EST administration");
  est->require_subcommand(1);
  auto* credential = est->add_subcommand("credential", "per-device HTTP Basic credentials of EST labels with http_basic");
  credential->require_subcommand(1);

  auto* create = credential->add_subcommand("create", "make a credential and print its secret once");
  create->add_option("--label", options->label, "the EST label (one with \"http_basic\": true)")->required();
  create->add_option("--name", options->name, "the device's name, its Basic user-id ([A-Za-z0-9._-], 1-64)")->required();
  create->add_option("--expires", options->expires, "expiry (ISO 8601, e.g. 2027-01-31T00:00:00Z)");
  create->add_flag("--reusable", options->reusable, "usable until --expires (default: one-time)")->needs("--expires");
  create->add_flag("--json", options->json, "print the secret and its record as JSON");
  cli.on(create, [&cli, options] { return run_create(cli, *options); });

  auto* list = credential->add_subcommand("list", "list credentials (never their secrets)");
  list->add_option("--label", options->label, "only this label's");
  list->add_flag("--json", options->json, "JSON array");
  cli.on(list, [&cli, options] { return run_list(cli, *options); });

  auto* revoke = credential->add_subcommand("revoke", "revoke a credential by its id");
  revoke->add_option("id", options->id, "credential id (est credential list)")->required();
  cli.on(revoke, [&cli, options] { return run_revoke(cli, *options); });
}

}  // namespace fca::app
