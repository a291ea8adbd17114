// `enrollment ...`: requests that wait for an operator — submit, list, show, approve, reject.
#include <fmt/core.h>

#include "command.hpp"
#include "files.hpp"
#include "output.hpp"
#include "fca/service/json.hpp"

namespace fca::app {
namespace {

struct EnrollmentOptions {
  std::int64_t id = 0;
  std::string csr;
  std::string profile;
  std::string ca;
  std::string label;
  std::string state;
  std::string reason;
  std::string out;
  std::size_t limit = 0;
  bool json = false;
};

void print_enrollment(const service::EnrollmentInfo& info, bool json) {
  if (json) {
    fmt::print("{}\n", service::to_json(info).dump(2));
    return;
  }
  const auto& e = info.record;
  fmt::print("enrolment request {}: {}{}{}\n", e.id, to_string(e.state),
             e.certificate_serial ? " as certificate " + *e.certificate_serial : std::string(),
             e.reason ? " (" + *e.reason + ")" : std::string());
}

int run_submit(Cli& cli, const EnrollmentOptions& options) {
  auto csr = read_input(options.csr);
  if (!csr) return report(csr.error());
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto submitted = (*instance)->service().submit_enrollment(
      (*instance)->operator_principal(),
      service::EnrollmentSubmission{.csr = std::move(*csr),
                                    .profile = options.profile,
                                    .ca = options.ca.empty() ? std::nullopt : std::optional<std::string>(options.ca),
                                    .label = options.label});
  if (!submitted) return report(submitted.error());
  (*instance)->log().info("enrolment request {} for '{}' is pending (CA '{}', profile {})", submitted->record.id,
                          submitted->record.common_name, submitted->ca, submitted->record.profile);
  print_enrollment(*submitted, options.json);
  return exit_ok;
}

int run_list(Cli& cli, const EnrollmentOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  service::EnrollmentQuery query;
  if (!options.state.empty()) query.state = *parse_enrollment_state(options.state);
  auto requests = collect_pages<service::EnrollmentInfo>(query, options.limit, [&](const service::EnrollmentQuery& q) {
    return (*instance)->service().list_enrollments((*instance)->operator_principal(), q);
  });
  if (!requests) return report(requests.error());
  if (options.json) {
    print_json_array(*requests);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [e, ca] : *requests) {
    rows.push_back({std::to_string(e.id), to_string(e.state), ca, e.profile, iso8601(e.created_at), e.requester,
                    e.label.empty() ? "-" : e.label, e.common_name});
  }
  fmt::print("{}", format_table({"ID", "STATE", "CA", "PROFILE", "SUBMITTED", "REQUESTER", "LABEL", "COMMON_NAME"}, rows));
  return exit_ok;
}

int run_show(Cli& cli, const EnrollmentOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto found = (*instance)->service().get_enrollment((*instance)->operator_principal(), options.id);
  if (!found) return report(found.error());
  if (options.json) {
    auto out = service::to_json(*found);
    out["csr_pem"] = found->record.csr_pem;
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("{}", found->record.csr_pem);
  }
  return exit_ok;
}

int run_approve(Cli& cli, const EnrollmentOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto issued = (*instance)->service().approve_enrollment((*instance)->operator_principal(), options.id);
  if (!issued) return report(issued.error());
  const auto& certificate = issued->certificate;
  (*instance)->log().info("enrolment request {} approved: certificate {} for '{}' by CA '{}'", options.id,
                          certificate.record.serial, certificate.record.common_name, issued->ca);
  if (!options.out.empty()) {
    if (auto w = write_output(options.out, certificate.pem(), 0644); !w) return report(w.error());
  }
  if (options.json) {
    auto out = service::to_json(service::CertificateInfo{certificate.record, issued->ca});
    out["certificate_pem"] = certificate.pem();
    out["chain_pem"] = certificate.chain_pem();
    fmt::print("{}\n", out.dump(2));
  } else if (options.out.empty()) {
    fmt::print("{}", certificate.pem());
  }
  return exit_ok;
}

int run_reject(Cli& cli, const EnrollmentOptions& options) {
  auto instance = cli.open();
  if (!instance) return instance.error();
  auto rejected = (*instance)->service().reject_enrollment((*instance)->operator_principal(), options.id, options.reason);
  if (!rejected) return report(rejected.error());
  (*instance)->log().info("enrolment request {} rejected", options.id);
  print_enrollment(*rejected, options.json);
  return exit_ok;
}

CLI::Validator enrollment_state_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto parsed = parse_enrollment_state(value);
        return parsed ? std::string() : parsed.error().message;
      },
      "pending|approved|rejected");
}

}  // namespace

void register_enrollment_commands(CLI::App& app, Cli& cli) {
  auto* enrollment = app.add_subcommand("enrollment", "enrolment requests waiting for an operator's decision");
  enrollment->require_subcommand(1);

  auto submit = std::make_shared<EnrollmentOptions>();
  auto* submit_cmd = enrollment->add_subcommand("submit", "store a CSR as a pending enrolment request");
  submit_cmd->add_option("--csr", submit->csr, "PKCS#10 request, PEM or DER; - for stdin")
      ->required()
      ->check(input_file_validator());
  submit_cmd->add_option("--profile", submit->profile, "certificate profile")->required();
  submit_cmd->add_option("--ca", submit->ca, "issuing CA (default: the default CA)");
  submit_cmd->add_option("--label", submit->label, "what the request is for (a device name, an EST label)");
  submit_cmd->add_flag("--json", submit->json, "print the request as JSON");
  cli.on(submit_cmd, [&cli, submit] { return run_submit(cli, *submit); });

  auto list = std::make_shared<EnrollmentOptions>();
  auto* list_cmd = enrollment->add_subcommand("list", "list enrolment requests, oldest first");
  list_cmd->add_option("--state", list->state, "pending, approved or rejected")->check(enrollment_state_validator());
  list_cmd->add_option("--limit", list->limit, "at most N rows (0: all)")->capture_default_str();
  list_cmd->add_flag("--json", list->json, "JSON array instead of a table");
  cli.on(list_cmd, [&cli, list] { return run_list(cli, *list); });

  auto show = std::make_shared<EnrollmentOptions>();
  auto* show_cmd = enrollment->add_subcommand("show", "print a request's CSR (or the request as JSON)");
  show_cmd->add_option("ID", show->id, "request id")->required();
  show_cmd->add_flag("--json", show->json, "JSON, with the CSR as csr_pem");
  cli.on(show_cmd, [&cli, show] { return run_show(cli, *show); });

  auto approve = std::make_shared<EnrollmentOptions>();
  auto* approve_cmd = enrollment->add_subcommand("approve", "issue the request's certificate (policy decides as for issue)");
  approve_cmd->add_option("ID", approve->id, "request id")->required();
  approve_cmd->add_option("--out", approve->out, "write the certificate PEM here instead of stdout");
  approve_cmd->add_flag("--json", approve->json, "print the certificate record as JSON (with the PEM)");
  cli.on(approve_cmd, [&cli, approve] { return run_approve(cli, *approve); });

  auto reject = std::make_shared<EnrollmentOptions>();
  auto* reject_cmd = enrollment->add_subcommand("reject", "refuse a pending request");
  reject_cmd->add_option("ID", reject->id, "request id")->required();
  reject_cmd->add_option("--reason", reject->reason, "why, for the requester and the audit log")->required();
  reject_cmd->add_flag("--json", reject->json, "print the request as JSON");
  cli.on(reject_cmd, [&cli, reject] { return run_reject(cli, *reject); });
}

}  // namespace fca::app
