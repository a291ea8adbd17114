// The API's request readers as pure functions: path patterns, queries, JSON bodies, RFC 3339 times.
#include <catch2/catch.hpp>

#include "fca/api/api.hpp"
#include "fca/api/request.hpp"

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
