// REST API requests: the first line is a request target (path and query), the rest a JSON body. The
// target is matched against every mounted route and its query parsed; the body is read as each
// documented request shape. Invariants: nothing throws or crashes; a refusal names a field; a
// path parameter never holds '/'; a parsed time prints back as the same text.
#include <cstdint>
#include <string>
#include <string_view>

#include "fca/api/api.hpp"
#include "fca/api/request.hpp"
#include "fca/service/json.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void read_shapes(std::string_view body) {
  using fca::api::JsonBody;
  for (int shape = 0; shape < 4; ++shape) {
    auto parsed = JsonBody::parse(body, shape == 3);
    if (!parsed) {
      check(!parsed.error().message.empty());
      continue;
    }
    switch (shape) {
      case 0:  // issue from a CSR, or keygen
        parsed->text("csr", false);
        parsed->text("profile", true, 64);
        parsed->text("ca", false, 64);
        parsed->integer("validity_days", false, 1, 36500);
        parsed->text("common_name", false, 255);
        parsed->text_list("sans", false);
        parsed->text("pkcs12_password", false, 1024);
        break;
      case 1:  // token
        parsed->text("name", true, 64);
        parsed->text_list("roles", true);
        parsed->time("expires_at", false);
        parsed->text_list("cas", false);
        break;
      case 2:  // revoke
        parsed->text("reason", false, 64);
        parsed->time("invalidity_date", false);
        break;
      default:  // an empty request
        break;
    }
    auto finished = parsed->finish();
    if (!finished) check(finished.error().message.find(": ") != std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const auto target = input.substr(0, newline);
  const auto body = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  const auto path = target.substr(0, target.find('?'));
  for (const auto& route : fca::api::routes()) {
    if (auto params = fca::api::match_path(route.pattern, path)) {
      for (const auto& [name, value] : *params) check(!value.empty() && value.find('/') == std::string::npos);
    }
  }
  auto query = fca::api::parse_query(target, {"status", "profile", "ca", "name_contains", "cursor", "limit", "issued_after"});
  if (query) {
    for (const auto& [name, value] : *query) check(!value.empty());
    if (auto t = query->find("issued_after"); t != query->end()) {
      if (auto parsed = fca::api::parse_rfc3339(t->second)) {
        const auto printed = fca::service::iso8601(*parsed);
        check(fca::api::parse_rfc3339(printed) == parsed);
      }
    }
  } else {
    check(!query.error().message.empty());
  }
  read_shapes(body);
  return 0;
}
