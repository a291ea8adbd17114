// The route table and the OpenAPI 3.1 document made from it: what is mounted and what is documented
// cannot drift apart (tests/integration/api_test.cpp walks the live server against it;
// api_openapi_test.cpp validates the document and real answers against its schemas).
#include <map>
#include <set>

#include "fca/api/api.hpp"
#include "fca/lab/lab.hpp"

namespace fca::api {
namespace {

using json = nlohmann::ordered_json;

json schema_ref(std::string_view name) { return json{{"$ref", "#/components/schemas/" + std::string(name)}}; }

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
  if (properties.is_null()) properties = json::object();  // `{}` makes null, not an empty object
  return json{{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

json integer() { return json{{"type", "integer"}}; }
json boolean() { return json{{"type", "boolean"}}; }
json enumeration(std::vector<std::string> values) { return json{{"type", "string"}, {"enum", std::move(values)}}; }
json list_of(json items) { return json{{"type", "array"}, {"items", std::move(items)}}; }
// Every field of an answer is always present (null when it has no value): all are required.
json answer(json properties) {
  std::vector<std::string> names;
  for (const auto& [name, schema] : properties.items()) names.push_back(name);
  return object(std::move(properties), std::move(names));
}
json page_of(std::string_view item) { return answer({{"items", list_of(schema_ref(item))}, {"next_cursor", nullable(string_schema())}}); }

json certificate_properties() {
  return json{{"serial", string_schema("upper-case hex")},
              {"ca", string_schema()},
              {"subject", string_schema()},
              {"common_name", string_schema()},
              {"sans", string_list()},
              {"profile", string_schema()},
              {"key_type", string_schema()},
              {"not_before", time_schema()},
              {"not_after", time_schema()},
              {"status", enumeration({"valid", "revoked", "on-hold"})},
              {"revoked_at", nullable(time_schema())},
              {"revocation_reason", nullable(string_schema())},
              {"invalidity_date", nullable(time_schema())},
              {"fingerprint_sha256", string_schema()},
              {"requester", string_schema()},
              {"renewal_of", nullable(string_schema())},
              {"issued_at", time_schema()}};
}

json ca_properties() {
  return json{{"name", string_schema()},
              {"state", enumeration({"active", "pending"})},
              {"default", boolean()},
              {"subject", string_schema()},
              {"parent", nullable(string_schema())},
              {"generation", integer()},
              {"publication_name", string_schema("the name in its certificates' CRL and caIssuers URLs; fixed for good")},
              {"predecessor", nullable(string_schema("the generation this one replaced at a rollover"))},
              {"successor", nullable(string_schema("the generation that replaced this one; it issues no more"))},
              {"not_before", nullable(time_schema())},
              {"not_after", nullable(time_schema())},
              {"key_uri", string_schema()},
              {"created_at", time_schema()}};
}

json token_properties() {
  return json{{"id", integer()},
              {"name", string_schema()},
              {"roles", list_of(enumeration({"admin", "operator", "auditor"}))},
              {"cas", nullable(string_list())},
              {"profiles", nullable(string_list())},
              {"created_by", string_schema()},
              {"created_at", time_schema()},
              {"expires_at", nullable(time_schema())},
              {"revoked_at", nullable(time_schema())},
              {"last_used_at", nullable(time_schema())}};
}

// The shapes the handlers write (service/src/json.cpp and api.cpp), exactly: unknown fields are
// refused, every field is listed; tests/integration/api_openapi_test.cpp validates real answers
// against them.
json schemas() {
  json s;
  s["Error"] = answer({{"error", answer({{"code", string_schema()}, {"message", string_schema()}})}});
  s["Certificate"] = answer(certificate_properties());
  auto shown = certificate_properties();
  shown["certificate_pem"] = string_schema();
  s["CertificateWithPem"] = answer(std::move(shown));
  s["Issued"] = object({{"certificate", schema_ref("Certificate")},
                        {"certificate_pem", string_schema()},
                        {"chain_pem", string_schema("issuing CA first, up to the root")},
                        {"key_pem", nullable(string_schema("keygen only: PKCS#8, encrypted under pkcs12_password"))},
                        {"pkcs12_base64", nullable(string_schema("keygen only"))},
                        {"key_withheld", json{{"type", "boolean"}, {"description", "an Idempotency-Key replay of a keygen answer"}}}},
                       {"certificate", "certificate_pem", "chain_pem"});
  s["Ca"] = answer(ca_properties());
  auto with_chain = ca_properties();
  with_chain["chain_pem"] = nullable(string_schema("null while the CA is pending"));
  s["CaWithChain"] = answer(std::move(with_chain));
  s["CaList"] = answer({{"items", list_of(schema_ref("Ca"))}});
  s["Enrollment"] = answer({{"id", integer()},
                            {"label", string_schema("the EST label")},
                            {"requester", string_schema()},
                            {"ca", string_schema()},
                            {"profile", string_schema()},
                            {"common_name", string_schema()},
                            {"state", enumeration({"pending", "approved", "rejected"})},
                            {"created_at", time_schema()},
                            {"decided_by", nullable(string_schema())},
                            {"decided_at", nullable(time_schema())},
                            {"reason", nullable(string_schema())},
                            {"certificate_serial", nullable(string_schema())}});
  s["AuditEntry"] = answer({{"sequence", integer()},
                            {"at", time_schema()},
                            {"actor", string_schema()},
                            {"action", string_schema()},
                            {"object", string_schema()},
                            {"detail", json{{"type", {"object", "string"}}}},
                            {"previous_hash", string_schema()},
                            {"hash", string_schema()}});
  s["AuditVerification"] = answer({{"intact", boolean()},
                                   {"entries", integer()},
                                   {"first_bad_sequence", nullable(integer())},
                                   {"reason", string_schema()},
                                   {"keyed_from", nullable(integer())},
                                   {"head_count", integer()}});
  s["Token"] = answer(token_properties());
  auto made = token_properties();
  made["token"] = string_schema("shown once, in this answer only");
  s["CreatedToken"] = answer(std::move(made));
  s["TokenList"] = answer({{"items", list_of(schema_ref("Token"))}});
  s["LabFault"] = answer({{"id", integer()},
                          {"kind", enumeration({"ocsp", "crl"})},
                          {"mode", string_schema()},
                          {"ca", nullable(string_schema("null: every CA"))},
                          {"serial", nullable(string_schema())},
                          {"delay_ms", nullable(integer())},
                          {"created_by", string_schema()},
                          {"created_at", time_schema()},
                          {"expires_at", time_schema()},
                          {"active", boolean()}});
  s["LabFaultList"] = answer({{"items", list_of(schema_ref("LabFault"))}});
  s["LabMinted"] = answer({{"items", list_of(answer({{"name", string_schema()},
                                                      {"kind", string_schema()},
                                                      {"common_name", string_schema()},
                                                      {"serial", string_schema("upper-case hex")},
                                                      {"issuer_ca", string_schema("\"\" when self-signed")},
                                                      {"client_must", string_schema("what a compliant client does with it")},
                                                      {"key_pem", string_schema("PKCS#8, unencrypted")},
                                                      {"certificate_pem", string_schema()},
                                                      {"chain_pem", string_schema("the certificate and the CAs above it")}}))}});
  s["LabFaultsCleared"] = answer({{"cleared", integer()}});
  s["CertificatePage"] = page_of("Certificate");
  s["EnrollmentPage"] = page_of("Enrollment");
  s["AuditPage"] = page_of("AuditEntry");
  s["Health"] = answer({{"status", enumeration({"ok"})}});
  s["Readiness"] = answer({{"ready", boolean()}, {"problems", string_list()}});
  s["IssueRequest"] = json{
      {"oneOf",
       {object({{"csr", string_schema("PEM PKCS#10")}, {"profile", string_schema()}, {"ca", string_schema()}, {"validity_days", integer()}},
               {"csr", "profile"}),
        object({{"common_name", string_schema()},
                {"sans", list_of(string_schema("DNS:..., IP:..., email:..., URI:..."))},
                {"key_type", enumeration({"p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"})},
                {"pkcs12_password", json{{"type", "string"}, {"minLength", 8}}},
                {"profile", string_schema()},
                {"ca", string_schema()},
                {"validity_days", integer()}},
               {"common_name", "pkcs12_password", "profile"})}}};
  s["RevokeRequest"] = object({{"reason", string_schema("RFC 5280 reason name, e.g. keyCompromise")}, {"invalidity_date", time_schema()}}, {});
  s["EmptyRequest"] = object({}, {});
  s["RenewRequest"] = object({{"csr", string_schema("PEM PKCS#10")}}, {"csr"});
  s["RejectRequest"] = object({{"reason", string_schema()}}, {"reason"});
  s["TokenRequest"] = object({{"name", json{{"type", "string"}, {"pattern", "^[a-z0-9._-]{1,64}$"}}},
                              {"roles", list_of(enumeration({"admin", "operator", "auditor"}))},
                              {"expires_at", time_schema()},
                              {"cas", string_list()},
                              {"profiles", string_list()}},
                             {"name", "roles"});
  s["LabMintRequest"] = object({{"kind", enumeration(lab::kind_names())}, {"common_name", string_schema("default <kind>.localhost")}},
                                {"kind"});
  s["LabFaultRequest"] = object({{"kind", enumeration({"ocsp", "crl"})},
                                 {"mode", string_schema("tryLater, internalError, unauthorized, malformedRequest, stale, "
                                                        "wrong-key, no-ocsp-signing, delay, close; crl: expired, wrong-key, missing")},
                                 {"ca", string_schema("only this CA (required for crl)")},
                                 {"serial", json{{"type", "string"}, {"pattern", "^[0-9A-Fa-f]{1,64}$"}}},
                                 {"for", json{{"type", "string"}, {"pattern", "^[0-9]+[smh]$"}, {"description", "e.g. 30s, 10m (default 10m, at most 24h)"}}},
                                 {"delay_ms", json{{"type", "integer"}, {"minimum", 1}, {"maximum", 30000}}}},
                                {"kind", "mode"});
  return s;
}

// What a successful answer carries, by media type.
json success_content(const RouteInfo& route, int status) {
  const auto& p = route.pattern;
  const auto& m = route.method;
  const auto as_json = [](std::string_view schema) { return json{{"application/json", {{"schema", schema_ref(schema)}}}}; };
  const auto text = [](std::string_view type) { return json{{std::string(type), {{"schema", {{"type", "string"}}}}}}; };
  if (p == "/healthz") return as_json("Health");
  if (p == "/readyz") return as_json("Readiness");
  if (p == "/api/v1/openapi.json") return json{{"application/json", {{"schema", {{"type", "object"}}}}}};
  if (p == "/metrics") return text("text/plain");
  if (m == "POST" && (p == "/api/v1/certificates" || p.ends_with("/renew") || p.ends_with("/approve"))) return as_json("Issued");
  if (p == "/api/v1/tokens") return as_json(m == "GET" ? "TokenList" : "CreatedToken");
  if (p == "/api/v1/tokens/{id}") return as_json("Token");
  if (p == "/api/v1/lab/faults") return as_json(m == "GET" ? "LabFaultList" : m == "POST" ? "LabFault" : "LabFaultsCleared");
  if (p == "/api/v1/lab/faults/{id}") return as_json("LabFaultsCleared");
  if (p == "/api/v1/lab/certificates") return as_json("LabMinted");
  if (p == "/api/v1/certificates") return as_json("CertificatePage");
  if (p == "/api/v1/certificates/{serial}") {
    auto out = as_json("CertificateWithPem");
    out.update(text("application/pem-certificate-chain"));
    out.update(text("application/pkix-cert"));
    return out;
  }
  if (p.starts_with("/api/v1/certificates/")) return as_json("Certificate");
  if (p == "/api/v1/enrollments") return as_json("EnrollmentPage");
  if (p.starts_with("/api/v1/enrollments/")) return as_json("Enrollment");
  if (p == "/api/v1/audit") return as_json("AuditPage");
  if (p == "/api/v1/audit/verify") return as_json("AuditVerification");
  if (p == "/api/v1/cas") return as_json("CaList");
  if (p == "/api/v1/cas/{name}") return as_json("CaWithChain");
  if (p == "/api/v1/cas/{name}/crl") {
    auto out = text("application/x-pem-file");
    out.update(text("application/pkix-crl"));
    return out;
  }
  (void)status;
  return json::object();
}

// The query parameters each listing takes (api.cpp's parse_query lists, with their types).
json query_parameters(const RouteInfo& route) {
  std::vector<std::pair<std::string, json>> q;
  const auto limit = json{{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 100}};
  const auto& p = route.pattern;
  if (route.method == "GET" && p == "/api/v1/certificates") {
    q = {{"status", enumeration({"valid", "revoked", "on-hold"})},
         {"profile", string_schema()},
         {"ca", string_schema()},
         {"common_name", string_schema()},
         {"name_contains", string_schema()},
         {"expiring_before", time_schema()},
         {"expiring_within_days", json{{"type", "integer"}, {"minimum", 0}, {"maximum", 36500}}},
         {"issued_after", time_schema()},
         {"cursor", string_schema()},
         {"limit", limit}};
  } else if (p == "/api/v1/enrollments") {
    q = {{"state", enumeration({"pending", "approved", "rejected"})}, {"cursor", string_schema()}, {"limit", limit}};
  } else if (p == "/api/v1/audit") {
    q = {{"actor", string_schema()}, {"action", string_schema("exact, or a prefix ending in '.'")}, {"since", time_schema()},
         {"until", time_schema()}, {"cursor", string_schema()}, {"limit", limit}};
  } else if (p.starts_with("/api/v1/certificates/{serial}")) {
    q = {{"ca", string_schema("when two CAs issued the same serial")}};
  }
  json out = json::array();
  for (auto& [name, schema] : q) out.push_back(json{{"name", name}, {"in", "query"}, {"required", false}, {"schema", std::move(schema)}});
  return out;
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
      {"POST", "/api/v1/lab/certificates", "Mint a lab kind: key, certificate and chain (administrators, lab instances only)", "LabMintRequest", {201}},
      {"GET", "/api/v1/lab/faults", "Revocation faults to order (administrators, lab instances only)", "", {200}},
      {"POST", "/api/v1/lab/faults", "Set a revocation fault (administrators, lab instances only)", "LabFaultRequest", {201}},
      {"DELETE", "/api/v1/lab/faults", "Clear every revocation fault (administrators, lab instances only)", "", {200}},
      {"DELETE", "/api/v1/lab/faults/{id}", "Clear one revocation fault (administrators, lab instances only)", "", {200, 404}},
  };
  return table;
}

nlohmann::ordered_json openapi_document() {
  const std::map<std::string, json> path_schemas{
      {"name", json{{"type", "string"}, {"pattern", "^[a-z0-9-]{1,64}$"}}},
      {"serial", json{{"type", "string"}, {"pattern", "^[0-9A-Fa-f]{1,64}$"}}},
      {"id", json{{"type", "string"}, {"pattern", "^[0-9]{1,18}$"}}},
  };
  json paths = json::object();
  for (const auto& route : routes()) {
    json operation;
    operation["summary"] = route.summary;
    operation["operationId"] = route.method + route.pattern;
    json parameters = json::array();
    for (std::size_t at = route.pattern.find('{'); at != std::string::npos; at = route.pattern.find('{', at + 1)) {
      const auto name = route.pattern.substr(at + 1, route.pattern.find('}', at) - at - 1);
      parameters.push_back(json{{"name", name}, {"in", "path"}, {"required", true}, {"schema", path_schemas.at(name)}});
    }
    for (auto& q : query_parameters(route)) parameters.push_back(std::move(q));
    if (!parameters.empty()) operation["parameters"] = parameters;
    if (!route.request_schema.empty()) {
      operation["requestBody"] = json{{"required", route.request_schema != "EmptyRequest" && route.request_schema != "RevokeRequest"},
                                      {"content", {{"application/json", {{"schema", schema_ref(route.request_schema)}}}}}};
    }
    json responses = json::object();
    for (int status : route.statuses) {
      json answer{{"description", status < 300 ? "success" : "see docs/api.md"}};
      if (status < 300) {
        if (auto content = success_content(route, status); !content.empty()) answer["content"] = std::move(content);
      } else if (route.pattern == "/readyz") {
        answer["content"] = {{"application/json", {{"schema", schema_ref("Readiness")}}}};
      } else {
        answer["content"] = {{"application/json", {{"schema", schema_ref("Error")}}}};
      }
      responses[std::to_string(status)] = answer;
    }
    if (route.authenticated) {
      for (int status : {400, 401, 403, 429}) {
        responses[std::to_string(status)] = json{{"description", "see docs/api.md"}, {"content", {{"application/json", {{"schema", schema_ref("Error")}}}}}};
      }
      // Either one: a bearer token, or a client certificate from api.client_certificates.
      operation["security"] = json::array({json{{"bearer", json::array()}}, json{{"clientCertificate", json::array()}}});
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
              {"components",
               {{"schemas", schemas()},
                {"securitySchemes",
                 {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
                  {"clientCertificate",
                   {{"type", "mutualTLS"},
                    {"description", "a TLS client certificate that chains to api.client_certificates (docs/api.md)"}}}}}}}};
}

}  // namespace fca::api
