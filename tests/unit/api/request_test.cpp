// The API's request readers as pure functions: path patterns, queries, JSON bodies, RFC 3339 times.
#include <catch2/catch.hpp>

#include "fca/api/api.hpp"
#include "fca/api/request.hpp"

#include <set>

using namespace fca::api;

TEST_CASE("api paths: a parameter is one non-empty segment", "[api]") {
  auto m = match_path("/api/v1/certificates/{serial}/revoke", "/api/v1/certificates/0A1B/revoke");
  REQUIRE(m);
  CHECK(m->at("serial") == "0A1B");
  CHECK_FALSE(match_path("/api/v1/certificates/{serial}/revoke", "/api/v1/certificates//revoke"));
  CHECK_FALSE(match_path("/api/v1/certificates/{serial}", "/api/v1/certificates/0A/extra"));
  CHECK_FALSE(match_path("/api/v1/cas", "/api/v1/cas/"));
}

TEST_CASE("api queries: unknown, repeated, empty and badly escaped parameters are refused by name", "[api]") {
  auto q = parse_query("/x?status=valid&name_contains=a%20b+c", {"status", "name_contains"});
  REQUIRE(q);
  CHECK(q->at("name_contains") == "a b c");
  CHECK(parse_query("/x?other=1", {"status"}).error().message == "other: unknown query parameter");
  CHECK(parse_query("/x?status=a&status=b", {"status"}).error().message == "status: given twice");
  CHECK(parse_query("/x?status=", {"status"}).error().message.starts_with("status:"));
  CHECK_FALSE(parse_query("/x?status=%4", {"status"}));
}

TEST_CASE("api bodies: fields by name and type, unknown fields refused", "[api]") {
  auto body = JsonBody::parse(R"({"profile":"server","validity_days":30,"sans":["DNS:a"]})", false);
  REQUIRE(body);
  CHECK(body->text("profile", true) == "server");
  CHECK(body->integer("validity_days", false, 1, 100) == 30);
  CHECK(body->text_list("sans", false)->size() == 1);
  CHECK(body->finish());

  auto unknown = JsonBody::parse(R"({"profile":"server","csr_extensions":true})", false);
  unknown->text("profile", true);
  CHECK(unknown->finish().error().message == "csr_extensions: unknown field");
  auto wrong = JsonBody::parse(R"({"profile":7})", false);
  wrong->text("profile", true);
  CHECK(wrong->finish().error().message == "profile: must be a string");
  auto missing = JsonBody::parse("{}", false);
  missing->text("profile", true);
  CHECK(missing->finish().error().message == "profile: is required");
  CHECK_FALSE(JsonBody::parse("", false));
  CHECK(JsonBody::parse("", true));
  CHECK_FALSE(JsonBody::parse("[1]", false));
}

TEST_CASE("api times: RFC 3339 UTC only, real dates only", "[api]") {
  CHECK(parse_rfc3339("2026-01-31T12:00:00Z") == fca::from_unix(1769860800));
  CHECK_FALSE(parse_rfc3339("2026-02-31T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2026-01-31 12:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2026-01-31T12:00:00+01:00"));
  CHECK_FALSE(parse_rfc3339("2026-01-31"));
  CHECK_FALSE(parse_rfc3339("2999-01-01T00:00:00Z"));  // past what a TimePoint holds
  CHECK(parse_rfc3339("2200-12-31T23:59:59Z"));
}

TEST_CASE("api routes: the OpenAPI document lists exactly the route table", "[api]") {
  const auto doc = openapi_document();
  std::size_t operations = 0;
  for (const auto& [path, methods] : doc["paths"].items()) operations += methods.size();
  CHECK(operations == routes().size());
  for (const auto& route : routes()) {
    std::string method = route.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(doc["paths"][route.pattern].contains(method));
  }
}

namespace {

void collect_refs(const nlohmann::ordered_json& node, std::vector<std::string>& refs) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) refs.push_back(value.get<std::string>());
      collect_refs(value, refs);
    }
  } else if (node.is_array()) {
    for (const auto& item : node) collect_refs(item, refs);
  }
}

}  // namespace

// No OpenAPI 3.1 validator ships in Debian bookworm; these are the structural rules such a validator
// would apply first, checked here on every build.
TEST_CASE("api openapi: 3.1 structure: every $ref resolves, every path parameter is declared, every operation answers", "[api]") {
  auto doc = openapi_document();
  CHECK(doc["openapi"].get<std::string>().starts_with("3.1."));
  CHECK(doc["info"]["title"].is_string());
  CHECK(doc["info"]["version"].is_string());
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  REQUIRE_FALSE(refs.empty());
  for (const auto& ref : refs) {
    INFO(ref);
    REQUIRE(ref.starts_with("#/components/schemas/"));
    CHECK(doc["components"]["schemas"].contains(ref.substr(21)));
  }
  std::set<std::string> operation_ids;
  static const std::set<std::string> methods{"get", "put", "post", "delete", "options", "head", "patch", "trace"};
  for (auto& [path, item] : doc["paths"].items()) {
    CHECK(path.starts_with("/"));
    for (auto& [method, op] : item.items()) {
      INFO(method << " " << path);
      CHECK(methods.contains(method));
      CHECK(operation_ids.insert(op["operationId"].get<std::string>()).second);
      REQUIRE(op["responses"].is_object());
      CHECK_FALSE(op["responses"].empty());
      for (const auto& [status, response] : op["responses"].items()) CHECK(response["description"].is_string());
      std::set<std::string> declared;
      if (op.contains("parameters")) {
        for (const auto& p : op["parameters"]) {
          if (p["in"] == "path") {
            CHECK(p["required"] == true);
            declared.insert(p["name"].get<std::string>());
          }
        }
      }
      std::set<std::string> templated;
      for (auto at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1)) {
        templated.insert(path.substr(at + 1, path.find('}', at) - at - 1));
      }
      CHECK(declared == templated);
      if (op["security"].empty()) continue;
      CHECK(doc["components"]["securitySchemes"].contains(op["security"][0].begin().key()));
    }
  }
}
