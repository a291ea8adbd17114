// `lab fault ocsp|crl|list|clear`: revocation faults to order on a lab instance (docs/lab.md), through
// the lab fault service as the local operator. A running `serve` applies a fault from the next request.
#include <fmt/core.h>

#include "command.hpp"
#include "output.hpp"
#include "fca/service/json.hpp"

namespace fca::app {
namespace {

struct FaultOptions {
  std::string mode;
  std::string ca;
  std::string serial;
  std::string duration;
  std::int64_t delay_ms = 0;
  std::int64_t id = 0;
  bool json = false;
};

std::string applies_to(const service::LabFaultInfo& info) {
  if (info.fault.serial) return "serial " + *info.fault.serial;
  if (!info.ca.empty()) return "CA " + info.ca;
  return "every CA";
}

int run_set(Cli& cli, LabFaultKind kind, const FaultOptions& options) {
  service::LabFaultSpec spec;
  spec.kind = kind;
  spec.mode = options.mode;
  if (!options.ca.empty()) spec.ca = options.ca;
  if (!options.serial.empty()) spec.serial = options.serial;
  if (options.delay_ms != 0) spec.delay_ms = options.delay_ms;
  if (!options.duration.empty()) {
    auto duration = service::parse_lab_duration(options.duration);
    if (!duration) return report(exit_usage, "--for: " + duration.error().message);
    spec.duration = *duration;
  }
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto set = (*instance)->lab_faults().set((*instance)->operator_principal(), spec);
  if (!set) return report(set.error());
  (*instance)->log().info("lab fault {} set: {} {} for {}", set->fault.id, to_string(kind), set->fault.mode, applies_to(*set));
  if (options.json) {
    fmt::print("{}\n", service::to_json(*set).dump(2));
  } else {
    fmt::print("lab fault {}: {} {} for {} until {}\n", set->fault.id, to_string(kind), set->fault.mode, applies_to(*set),
               iso8601(set->fault.expires_at));
  }
  return exit_ok;
}

int run_list(Cli& cli, const FaultOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto faults = (*instance)->lab_faults().list((*instance)->operator_principal());
  if (!faults) return report(faults.error());
  if (options.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& f : *faults) out.push_back(service::to_json(f));
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : *faults) {
    rows.push_back({std::to_string(f.fault.id), to_string(f.fault.kind),
                    f.fault.mode + (f.fault.mode == "delay" ? " " + std::to_string(f.fault.delay_ms) + "ms" : ""),
                    applies_to(f), iso8601(f.fault.expires_at), f.active ? "active" : "expired"});
  }
  fmt::print("{}", format_table({"ID", "KIND", "MODE", "APPLIES TO", "EXPIRES", "STATE"}, rows));
  return exit_ok;
}

int run_clear(Cli& cli, const FaultOptions& options, bool one) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto cleared = (*instance)->lab_faults().clear((*instance)->operator_principal(),
                                                 one ? std::optional<std::int64_t>(options.id) : std::nullopt);
  if (!cleared) return report(cleared.error());
  (*instance)->log().info("{} lab fault(s) cleared", *cleared);
  fmt::print("{} lab fault(s) cleared\n", *cleared);
  return exit_ok;
}

}  // namespace

void register_lab_fault_commands(CLI::App& lab, Cli& cli) {
  auto options = std::make_shared<FaultOptions>();
  auto* fault = lab.add_subcommand("fault", "revocation faults to order: wrong OCSP and CRL answers while active");
  fault->require_subcommand(1);

  auto* ocsp = fault->add_subcommand("ocsp", "make the OCSP responder answer wrongly");
  ocsp->add_option("mode", options->mode,
                   "tryLater, internalError, unauthorized, malformedRequest, stale, wrong-key, no-ocsp-signing, delay, close")
      ->required();
  auto* serial = ocsp->add_option("--serial", options->serial, "only requests for this serial (hex)");
  ocsp->add_option("--ca", options->ca, "only requests for this CA's certificates")->excludes(serial);
  ocsp->add_option("--for", options->duration, "how long (30s, 10m, 1h; default 10m, at most 24h)");
  ocsp->add_option("--ms", options->delay_ms, "delay: milliseconds before the answer (1 to 30000)");
  ocsp->add_flag("--json", options->json, "print the fault as JSON");
  cli.on(ocsp, [&cli, options] { return run_set(cli, LabFaultKind::ocsp, *options); });

  auto* crl = fault->add_subcommand("crl", "make the CRL route serve a wrong CRL, or none");
  crl->add_option("mode", options->mode, "expired, wrong-key, missing")->required();
  crl->add_option("--ca", options->ca, "the CA whose CRL is faulty")->required();
  crl->add_option("--for", options->duration, "how long (30s, 10m, 1h; default 10m, at most 24h)");
  crl->add_flag("--json", options->json, "print the fault as JSON");
  cli.on(crl, [&cli, options] { return run_set(cli, LabFaultKind::crl, *options); });

  auto* list = fault->add_subcommand("list", "list the faults (active and expired)");
  list->add_flag("--json", options->json, "JSON array");
  cli.on(list, [&cli, options] { return run_list(cli, *options); });

  auto* clear = fault->add_subcommand("clear", "delete one fault, or all");
  auto* id = clear->add_option("id", options->id, "fault id (lab fault list); none: all");
  cli.on(clear, [&cli, options, id] { return run_clear(cli, *options, id->count() > 0); });
}

}  // namespace fca::app
