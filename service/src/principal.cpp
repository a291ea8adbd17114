#include "fca/service/principal.hpp"

namespace fca::service {

const char* to_string(Role role) {
  switch (role) {
    case Role::admin: return "admin";
    case Role::operator_: return "operator";
    case Role::auditor: return "auditor";
    case Role::enrollee: return "enrollee";
  }
  return "unknown";
}

Principal Principal::cli(std::string_view login) {
  return Principal{"cli:" + std::string(login), {Role::admin}, std::nullopt, std::nullopt};
}

Principal Principal::est(std::string_view client_subject, std::set<std::string> cas, std::set<std::string> profiles) {
  return Principal{"est:" + std::string(client_subject), {Role::enrollee}, std::move(cas), std::move(profiles)};
}

Principal Principal::api(std::string_view token_name, std::set<Role> roles, std::optional<std::set<std::string>> cas,
                         std::optional<std::set<std::string>> profiles) {
  return Principal{"api:" + std::string(token_name), std::move(roles), std::move(cas), std::move(profiles)};
}

Principal Principal::system(std::string_view component) {
  return Principal{"system:" + std::string(component), {}, std::nullopt, std::nullopt};
}

}  // namespace fca::service
