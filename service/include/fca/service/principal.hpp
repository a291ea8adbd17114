#pragma once
// Who is calling the service, and what it may do. Every service call takes one; the service checks
// it in one place (Service::authorize) and writes principal.id as the actor of every audit entry.
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace fca::service {

enum class Role {
  admin,     // everything, CA lifecycle and the CA-making profiles included
  operator_, // issue, revoke, hold, renew, decide enrolments, read certificates, within its scope
  auditor,   // read certificates and the audit log, verify the audit chain
  enrollee,  // issue and re-enrol for itself, submit enrolments, within its scope (an EST client)
};
const char* to_string(Role role);  // "admin", "operator", "auditor", "enrollee"

struct Principal {
  std::string id;  // "cli:<login>", "est:<client certificate subject>", "api:<token name>"
  std::set<Role> roles;
  // What a non-administrator may use; std::nullopt: no restriction. Administrators are never restricted.
  std::optional<std::set<std::string>> cas;
  std::optional<std::set<std::string>> profiles;

  bool has(Role role) const { return roles.contains(role); }
  bool is_admin() const { return has(Role::admin); }

  // The local operator of the command line: an administrator.
  static Principal cli(std::string_view login);
  // An EST client authenticated by its TLS certificate, limited to what its label allows.
  static Principal est(std::string_view client_subject, std::set<std::string> cas, std::set<std::string> profiles);
  // A REST API token with its roles and scope.
  static Principal api(std::string_view token_name, std::set<Role> roles, std::optional<std::set<std::string>> cas,
                       std::optional<std::set<std::string>> profiles);
  // The process itself (scheduled work, publication front ends): reads only.
  static Principal system(std::string_view component);
};

}  // namespace fca::service
