// The route table and the OpenAPI 3.1 document made from it: what is mounted and what is documented
// cannot drift apart (tests/integration/api_openapi_test.cpp walks the live server against it).
#include <set>

#include "fca/api/api.hpp"

namespace fca::api {
namespace {

using json = nlohmann::ordered_json;

json ref(std::string_view name) { return json{{"$ref", "#/components/schemas/" + std::string(name)}}; }

json string_schema(std::string_view description = {}) {
  json s{{"type", "string"}};
  if (!description.empty()) s["description"] = description;
  return s;
}
json nullable(json schema) {
  schema["type"] = json::array({schema["type"], "null"});
  return schema;
}
json time_schema() { return json{{"type", "string"}, {"format", "date-time"}}; }
json string_list() { return json{{"type", "array"}, {"items", {{"type", "string"}}}}; }

json object(json properties, std::vector<std::string> required) {
  return json{{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

json schemas() {
  json s;
  s["Error"] = object({{"error", object({{"code", string_schema()}, {"message", string_schema()}}, {"code", "message"})}}, {"error"});
  s["Certificate"] = json{{"type", "object"},
                          {"properties",
                           {{"serial", string_schema("upper-case hex")},
                            {"ca", string_schema()},
                            {"subject", string_schema()},
                            {"common_name", string_schema()},
                            {"sans", string_list()},
                            {"profile", string_schema()},
                            {"key_type", string_schema()},
                            {"not_before", time_schema()},
                            {"not_after", time_schema()},
                            {"status", json{{"type", "string"}, {"enum", {"valid", "revoked", "on-hold"}}}},
                            {"revoked_at", nullable(time_schema())},
                            {"revocation_reason", nullable(string_schema())},
                            {"invalidity_date", nullable(time_schema())},
                            {"fingerprint_sha256", string_schema()},
                            {"requester", string_schema()},
                            {"renewal_of", nullable(string_schema())},
                            {"issued_at", time_schema()}}},
                          {"required", {"serial", "ca", "status", "not_before", "not_after"}}};
  s["Issued"] = json{{"type", "object"},
                     {"properties",
                      {{"certificate", ref("Certificate")},
                       {"certificate_pem", string_schema()},
                       {"chain_pem", string_schema()},
                       {"key_pem", nullable(string_schema("keygen only: PKCS#8, encrypted under pkcs12_password"))},
                       {"pkcs12_base64", nullable(string_schema("keygen only"))},
                       {"key_withheld", json{{"type", "boolean"}}}}},
                     {"required", {"certificate", "certificate_pem", "chain_pem"}}};
  s["Ca"] = json{{"type", "object"},
                 {"properties",
                  {{"name", string_schema()},
                   {"state", json{{"type", "string"}, {"enum", {"active", "pending"}}}},
                   {"default", json{{"type", "boolean"}}},
                   {"subject", string_schema()},
                   {"parent", nullable(string_schema())},
                   {"not_before", nullable(time_schema())},
                   {"not_after", nullable(time_schema())},
                   {"key_uri", string_schema()},
                   {"created_at", time_schema()},
                   {"chain_pem", nullable(string_schema())}}},
                 {"required", {"name", "state"}}};
  s["Enrollment"] = json{{"type", "object"}, {"properties", {{"id", {{"type", "integer"}}}, {"state", string_schema()}, {"ca", string_schema()}}}};
  s["AuditEntry"] = json{{"type", "object"}, {"properties", {{"sequence", {{"type", "integer"}}}, {"at", time_schema()}, {"actor", string_schema()}, {"action", string_schema()}, {"object", string_schema()}}}};
  s["Token"] = json{{"type", "object"},
                    {"properties",
                     {{"id", {{"type", "integer"}}},
                      {"name", string_schema()},
                      {"roles", string_list()},
                      {"cas", nullable(json{{"type", "array"}, {"items", {{"type", "string"}}}})},
                      {"profiles", nullable(json{{"type", "array"}, {"items", {{"type", "string"}}}})},
                      {"created_by", string_schema()},
                      {"created_at", time_schema()},
                      {"expires_at", nullable(time_schema())},
                      {"revoked_at", nullable(time_schema())},
                      {"last_used_at", nullable(time_schema())},
                      {"token", string_schema("only in the answer to POST: shown once")}}},
                    {"required", {"id", "name", "roles"}}};
  s["Page"] = json{{"type", "object"}, {"properties", {{"items", {{"type", "array"}}}, {"next_cursor", nullable(string_schema())}}}, {"required", {"items", "next_cursor"}}};
  s["IssueRequest"] = json{
      {"oneOf",
       {object({{"csr", string_schema("PEM PKCS#10")}, {"profile", string_schema()}, {"ca", string_schema()}, {"validity_days", {{"type", "integer"}}}},
               {"csr", "profile"}),
        object({{"common_name", string_schema()},
                {"sans", string_list()},
                {"key_type", string_schema("p256 (default), p384, rsa2048, rsa3072, rsa4096, ed25519")},
                {"pkcs12_password", string_schema("at least 8 characters")},
                {"profile", string_schema()},
                {"ca", string_schema()},
                {"validity_days", {{"type", "integer"}}}},
               {"common_name", "pkcs12_password", "profile"})}}};
  s["RevokeRequest"] = object({{"reason", string_schema("RFC 5280 reason name, e.g. keyCompromise")}, {"invalidity_date", time_schema()}}, {});
  s["EmptyRequest"] = object({}, {});
  s["RenewRequest"] = object({{"csr", string_schema("PEM PKCS#10")}}, {"csr"});
  s["RejectRequest"] = object({{"reason", string_schema()}}, {"reason"});
  s["TokenRequest"] = object({{"name", string_schema("[a-z0-9._-]{1,64}")},
                              {"roles", json{{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"admin", "operator", "auditor"}}}}}},
                              {"expires_at", time_schema()},
                              {"cas", string_list()},
                              {"profiles", string_list()}},
                             {"name", "roles"});
  return s;
}

std::string response_schema(const RouteInfo& route) {
  const auto& p = route.pattern;
  if (route.method == "POST" && (p == "/api/v1/certificates" || p.ends_with("/renew") || p.ends_with("/approve"))) return "Issued";
  if (p.find("/tokens") != std::string::npos) return p == "/api/v1/tokens" && route.method == "GET" ? "Page" : "Token";
  if (p == "/api/v1/certificates" || p == "/api/v1/enrollments" || p == "/api/v1/audit" || p == "/api/v1/cas") return "Page";
  if (p.starts_with("/api/v1/certificates/")) return "Certificate";
  if (p.starts_with("/api/v1/enrollments/")) return "Enrollment";
  if (p == "/api/v1/cas/{name}") return "Ca";
  return "";
}

}  // namespace

const std::vector<RouteInfo>& routes() {
  static const std::vector<RouteInfo> table{
      {"GET", "/healthz", "The process is up", "", {200}, false},
      {"GET", "/readyz", "Database writable, CRLs fresh, responders valid (503 with the reasons when not)", "", {200, 503}, false},
      {"GET", "/api/v1/openapi.json", "This document", "", {200}, false},
      {"GET", "/metrics", "Prometheus text exposition", "", {200}},
      {"GET", "/api/v1/cas", "List CAs", "", {200}},
      {"GET", "/api/v1/cas/{name}", "A CA with its PEM chain", "", {200, 404}},
      {"GET", "/api/v1/cas/{name}/crl", "The CA's current CRL (PEM; DER with Accept: application/pkix-crl)", "", {200, 404}},
      {"GET", "/api/v1/certificates", "List certificates (filters, cursor pages)", "", {200}},
      {"POST", "/api/v1/certificates", "Issue from a CSR, or with a generated key (Idempotency-Key honoured)", "IssueRequest", {201, 409, 422}},
      {"GET", "/api/v1/certificates/{serial}", "A certificate as JSON, PEM chain or DER (by Accept)", "", {200, 404, 406}},
      {"POST", "/api/v1/certificates/{serial}/revoke", "Revoke", "RevokeRequest", {200, 404, 409}},
      {"POST", "/api/v1/certificates/{serial}/hold", "Put on hold", "EmptyRequest", {200, 404, 409}},
      {"POST", "/api/v1/certificates/{serial}/release", "Release from hold", "EmptyRequest", {200, 404, 409}},
      {"POST", "/api/v1/certificates/{serial}/renew", "Renew with a new CSR", "RenewRequest", {201, 404}},
      {"GET", "/api/v1/enrollments", "List enrolment requests", "", {200}},
      {"POST", "/api/v1/enrollments/{id}/approve", "Approve: issues the stored CSR", "EmptyRequest", {201, 404, 409}},
      {"POST", "/api/v1/enrollments/{id}/reject", "Reject", "RejectRequest", {200, 404, 409}},
      {"GET", "/api/v1/audit", "Audit entries, oldest first, in pages", "", {200}},
      {"GET", "/api/v1/audit/verify", "Verify the audit chain", "", {200}},
      {"GET", "/api/v1/tokens", "List API tokens (administrators)", "", {200}},
      {"POST", "/api/v1/tokens", "Create an API token, shown once (administrators)", "TokenRequest", {201, 409}},
      {"DELETE", "/api/v1/tokens/{id}", "Revoke an API token (administrators)", "", {200, 404, 409}},
  };
  return table;
}

nlohmann::ordered_json openapi_document() {
  json paths = json::object();
  for (const auto& route : routes()) {
    json operation;
    operation["summary"] = route.summary;
    operation["operationId"] = route.method + route.pattern;
    json parameters = json::array();
    for (std::size_t at = route.pattern.find('{'); at != std::string::npos; at = route.pattern.find('{', at + 1)) {
      const auto name = route.pattern.substr(at + 1, route.pattern.find('}', at) - at - 1);
      parameters.push_back(json{{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    if (!parameters.empty()) operation["parameters"] = parameters;
    if (!route.request_schema.empty()) {
      operation["requestBody"] = json{{"required", route.request_schema != "EmptyRequest" && route.request_schema != "RevokeRequest"},
                                      {"content", {{"application/json", {{"schema", ref(route.request_schema)}}}}}};
    }
    json responses = json::object();
    const auto schema = response_schema(route);
    for (int status : route.statuses) {
      json answer{{"description", status < 300 ? "success" : "see docs/api.md"}};
      if (status < 300 && !schema.empty()) answer["content"] = {{"application/json", {{"schema", ref(schema)}}}};
      if (status >= 400) answer["content"] = {{"application/json", {{"schema", ref("Error")}}}};
      responses[std::to_string(status)] = answer;
    }
    if (route.authenticated) {
      for (int status : {400, 401, 403, 429}) {
        responses[std::to_string(status)] = json{{"description", "see docs/api.md"}, {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
      }
      operation["security"] = json::array({json{{"bearer", json::array()}}});
    } else {
      operation["security"] = json::array();
    }
    operation["responses"] = std::move(responses);
    std::string method = route.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths[route.pattern][method] = operation;
  }
  return json{{"openapi", "3.1.0"},
              {"info", {{"title", "facility-ca REST admin API"}, {"version", "1"}}},
              {"paths", paths},
              {"components", {{"schemas", schemas()}, {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

}  // namespace fca::api
