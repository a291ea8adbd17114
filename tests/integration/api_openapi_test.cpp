// The served OpenAPI document checked by a real validator: Debian's python3-jsonschema (JSON Schema
// 2020-12) against the OpenAPI Initiative's schema for 3.1 documents (tests/data/openapi/), and real
// answers of a live `facility-ca serve` against the document's own component schemas.
#include <filesystem>

#include "api_fixture.hpp"

using namespace fca::test;

namespace {

const std::string kPython = "/usr/bin/python3";  // Debian's, with python3-jsonschema (deploy/install-deps.sh)
const std::string kValidator = std::string(FCA_SOURCE_DIR) + "/tests/tools/validate_openapi.py";
const std::string kOasSchema = std::string(FCA_SOURCE_DIR) + "/tests/data/openapi/oas-3.1-schema-2022-02-27.json";

CommandResult validate(const std::filesystem::path& document, const std::vector<std::pair<std::string, std::filesystem::path>>& answers = {}) {
  std::string command = shell_quote(kPython) + " " + shell_quote(kValidator) + " " + shell_quote(kOasSchema) + " " + shell_quote(document.string());
  for (const auto& [schema, file] : answers) command += " " + shell_quote(schema + "=" + file.string());
  return run(command + " 2>&1");
}

}  // namespace

TEST_CASE("api: the OpenAPI document validates as OpenAPI 3.1 and real answers match its schemas", "[api][integration][openapi]") {
  REQUIRE(std::filesystem::exists(kPython));
  {
    auto has_jsonschema = run(shell_quote(kPython) + " -c 'import jsonschema' 2>&1");
    INFO("python3-jsonschema missing: run deploy/install-deps.sh\n" << has_jsonschema.output);
    REQUIRE(has_jsonschema.exit_code == 0);
  }
  ApiFixture api;
  auto& serve = api.serve();
  const auto doc_response = api.call("GET", "/api/v1/openapi.json", "");
  REQUIRE(doc_response.status == 200);
  const auto document = serve.file("openapi.json");
  write_file(document, doc_response.body);

  // Real answers, each saved for the schema it is documented with.
  std::vector<std::pair<std::string, std::filesystem::path>> answers;
  const auto keep = [&](const std::string& schema, const HttpResponse& r, int status) {
    INFO(schema << ": " << r.describe() << "\n" << r.body);
    REQUIRE(r.status == status);
    const auto file = serve.file("answer-" + std::to_string(answers.size()) + "-" + schema + ".json");
    write_file(file, r.body);
    answers.emplace_back(schema, file);
  };
  auto issued = api.call("POST", "/api/v1/certificates", api.admin(),
                         nlohmann::json{{"csr", api.csr_pem("oas")}, {"profile", "nmos-node"}}.dump());
  keep("Issued", issued, 201);
  const std::string serial = api.json_of(issued)["certificate"]["serial"];
  keep("Issued", api.call("POST", "/api/v1/certificates", api.admin(),
                          nlohmann::json{{"common_name", "oas-keygen.example.test"}, {"sans", {"DNS:oas-keygen.example.test"}},
                                         {"profile", "nmos-node"}, {"pkcs12_password", "correct horse"}}.dump()), 201);
  keep("CertificateWithPem", api.call("GET", "/api/v1/certificates/" + serial, api.admin()), 200);
  keep("CertificatePage", api.call("GET", "/api/v1/certificates?limit=1", api.admin()), 200);
  keep("Certificate", api.call("POST", "/api/v1/certificates/" + serial + "/hold", api.admin()), 200);
  keep("Certificate", api.call("POST", "/api/v1/certificates/" + serial + "/release", api.admin()), 200);
  keep("Certificate", api.call("POST", "/api/v1/certificates/" + serial + "/revoke", api.admin(),
                               nlohmann::json{{"reason", "superseded"}}.dump()), 200);
  keep("CaList", api.call("GET", "/api/v1/cas", api.admin()), 200);
  keep("CaWithChain", api.call("GET", "/api/v1/cas/issuing", api.admin()), 200);
  keep("EnrollmentPage", api.call("GET", "/api/v1/enrollments", api.admin()), 200);
  auto made = api.call("POST", "/api/v1/tokens", api.admin(),
                       nlohmann::json{{"name", "oas-auditor"}, {"roles", {"auditor"}}, {"cas", {"issuing"}}}.dump());
  keep("CreatedToken", made, 201);
  keep("TokenList", api.call("GET", "/api/v1/tokens", api.admin()), 200);
  keep("Token", api.call("DELETE", "/api/v1/tokens/" + std::to_string(api.json_of(made)["id"].get<int>()), api.admin()), 200);
  keep("AuditPage", api.call("GET", "/api/v1/audit?limit=5", api.admin()), 200);
  keep("AuditVerification", api.call("GET", "/api/v1/audit/verify", api.admin()), 200);
  keep("Health", api.call("GET", "/healthz", ""), 200);
  keep("Readiness", api.call("GET", "/readyz", ""), 200);
  keep("Error", api.call("GET", "/api/v1/certificates/0BADC0DE", api.admin()), 404);
  keep("Error", api.call("POST", "/api/v1/certificates", api.admin(), R"({"profile":"nmos-node","extra":1})"), 400);
  // The request bodies the server took above match their request schemas too.
  const auto request = [&](const std::string& schema, const nlohmann::json& body) {
    const auto file = serve.file("request-" + std::to_string(answers.size()) + "-" + schema + ".json");
    write_file(file, body.dump());
    answers.emplace_back(schema, file);
  };
  request("IssueRequest", {{"csr", api.csr_pem("oas")}, {"profile", "nmos-node"}});
  request("IssueRequest", {{"common_name", "oas-keygen.example.test"}, {"sans", {"DNS:oas-keygen.example.test"}},
                           {"profile", "nmos-node"}, {"pkcs12_password", "correct horse"}});
  request("RevokeRequest", {{"reason", "superseded"}});
  request("TokenRequest", {{"name", "oas-auditor"}, {"roles", {"auditor"}}, {"cas", {"issuing"}}});

  auto valid = validate(document, answers);
  INFO(valid.output);
  CHECK(valid.exit_code == 0);
  CHECK(contains(valid.output, "valid: OpenAPI 3.1 document"));

  // The same validator refuses broken copies: the check can fail.
  const auto original = nlohmann::json::parse(doc_response.body);
  const auto refused = [&](const std::string& what, const std::function<void(nlohmann::json&)>& breakit, const std::string& expected) {
    auto copy = original;
    breakit(copy);
    const auto file = serve.file("openapi-broken-" + std::to_string(std::hash<std::string>{}(what)) + ".json");
    write_file(file, copy.dump(2));
    auto r = validate(file);
    INFO(what << ":\n" << r.output);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, expected));
  };
  refused("no info", [](nlohmann::json& d) { d.erase("info"); }, "'info' is a required property");
  refused("openapi 3.0", [](nlohmann::json& d) { d["openapi"] = "3.0.3"; }, "OpenAPI 3.1: at /openapi");
  refused("a response without description",
          [](nlohmann::json& d) { d["paths"]["/healthz"]["get"]["responses"]["200"].erase("description"); },
          "'description' is a required property");
  refused("an unknown operation field", [](nlohmann::json& d) { d["paths"]["/healthz"]["get"]["handler"] = "x"; },
          "Unevaluated properties are not allowed");
  refused("a path parameter not required",
          [](nlohmann::json& d) { d["paths"]["/api/v1/cas/{name}"]["get"]["parameters"][0]["required"] = false; }, "OpenAPI 3.1:");
  refused("a schema that is no JSON Schema", [](nlohmann::json& d) { d["components"]["schemas"]["Health"]["type"] = "text"; },
          "components/schemas/Health is not a JSON Schema 2020-12");
  refused("a dangling $ref",
          [](nlohmann::json& d) { d["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] = "#/components/schemas/Nothing"; },
          "does not resolve");

  // And answers that do not match their schema.
  auto bad_answer = api.json_of(issued);
  bad_answer["certificate"]["status"] = "expired";
  bad_answer["surprise"] = true;
  const auto bad_file = serve.file("answer-bad-issued.json");
  write_file(bad_file, bad_answer.dump());
  auto mismatch = validate(document, {{"Issued", bad_file}});
  INFO(mismatch.output);
  CHECK(mismatch.exit_code == 1);
  CHECK(contains(mismatch.output, "'expired' is not one of"));
  CHECK(contains(mismatch.output, "'surprise' was unexpected"));
  // And a request body the server refuses (400 above: an unknown field) fails its schema as well.
  const auto bad_request = serve.file("request-bad-issue.json");
  write_file(bad_request, R"({"profile":"nmos-node","extra":1})");
  auto refused_request = validate(document, {{"IssueRequest", bad_request}});
  INFO(refused_request.output);
  CHECK(refused_request.exit_code == 1);
  CHECK(contains(refused_request.output, "IssueRequest"));
}
