// The REST admin API against a real `facility-ca serve` over HTTPS, driven by curl like a script would.
#include <regex>
#include <set>

#include "api_fixture.hpp"
#include "prometheus_text.hpp"
#include "fca/api/api.hpp"
#include "fca/service/json.hpp"

using namespace fca::test;


TEST_CASE("api: a script creates an operator token, issues, finds, downloads, revokes, and reads the audit", "[api][integration]") {
  ApiFixture api;
  auto before = parse_metrics(api.call("GET", "/metrics", api.admin()).body);

  auto [operator_id, operator_token] = api.token({{"name", "flow-operator"}, {"roles", {"operator"}}});
  CHECK(operator_id > 0);

  // Issue from a CSR.
  const auto csr = api.csr_pem("flow");
  auto issued = api.call("POST", "/api/v1/certificates", operator_token,
                         nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}}.dump());
  INFO(issued.describe() << "\n" << issued.body);
  REQUIRE(issued.status == 201);
  const auto issued_json = api.json_of(issued);
  const std::string serial = issued_json["certificate"]["serial"];
  CHECK(std::regex_match(serial, std::regex("[0-9A-F]+")));
  CHECK(issued.header("Location") == "/api/v1/certificates/" + serial);
  CHECK(issued_json["certificate"]["requester"] == "api:flow-operator");
  CHECK(std::regex_match(issued_json["certificate"]["issued_at"].get<std::string>(),
                         std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  // Same shape as the CLI's show --json.
  auto cli_json = api.serve().pki().json("show " + serial + " --format json");
  std::set<std::string> api_keys, cli_keys;
  auto shown = api.call("GET", "/api/v1/certificates/" + serial, operator_token);
  REQUIRE(shown.status == 200);
  const auto shown_json = api.json_of(shown);
  for (auto& [k, v] : shown_json.items()) api_keys.insert(k);
  CHECK(api.json_of(shown)["certificate_pem"] == issued_json["certificate_pem"]);
  for (auto& [k, v] : cli_json.items()) cli_keys.insert(k);
  CHECK(api_keys == cli_keys);

  // Find it by SAN.
  auto found = api.call("GET", "/api/v1/certificates?name_contains=flow.example.test&status=valid", operator_token);
  REQUIRE(found.status == 200);
  auto items = api.json_of(found)["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["serial"] == serial);

  // Download the PEM chain and verify it against the root.
  auto pem = api.call("GET", "/api/v1/certificates/" + serial, operator_token, std::nullopt,
                      "-H 'Accept: application/pem-certificate-chain'");
  REQUIRE(pem.status == 200);
  CHECK(pem.header("Content-Type") == "application/pem-certificate-chain");
  CHECK(occurrences_of(pem.body, "-----BEGIN CERTIFICATE-----") == 3);  // leaf, issuing, root
  const auto leaf = api.serve().file("flow-download.pem");
  write_file(leaf, pem.body.substr(0, pem.body.find("-----END CERTIFICATE-----") + 26));
  auto verified = api.serve().pki().verify(leaf);
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  auto der = api.call("GET", "/api/v1/certificates/" + serial, operator_token, std::nullopt, "-H 'Accept: application/pkix-cert'");
  REQUIRE(der.status == 200);
  CHECK(static_cast<unsigned char>(der.body[0]) == 0x30);

  auto good = api.serve().ocsp_query(leaf);
  CHECK(contains(good.output, ": good"));

  // Revoke it; twice is a conflict.
  // The revocation makes the delta CRL; serve rebuilds the full CRL in the background.
  const int rebuilds = occurrences_of(api.serve().log(), "rebuilt 1 full CRL(s)");
  auto revoked = api.call("POST", "/api/v1/certificates/" + serial + "/revoke", operator_token,
                          nlohmann::json{{"reason", "keyCompromise"}}.dump());
  INFO(revoked.body);
  REQUIRE(revoked.status == 200);
  CHECK(api.json_of(revoked)["status"] == "revoked");
  auto again = api.call("POST", "/api/v1/certificates/" + serial + "/revoke", operator_token, "{}");
  CHECK(again.status == 409);
  CHECK(api.json_of(again)["error"]["code"] == "conflict");

  // Revoked in OCSP and in the CRL (once serve has rebuilt it).
  REQUIRE(api.serve().wait_for_log("rebuilt 1 full CRL(s)", rebuilds + 1));
  auto ocsp = api.serve().ocsp_query(leaf);
  INFO(ocsp.output);
  CHECK(contains(ocsp.output, ": revoked"));
  auto crl = api.call("GET", "/api/v1/cas/issuing/crl", operator_token);
  REQUIRE(crl.status == 200);
  write_file(api.serve().file("flow.crl.pem"), crl.body);
  auto crl_text = run("openssl crl -noout -text -in " + shell_quote(api.serve().file("flow.crl.pem").string()));
  CHECK(contains(crl_text.output, "Serial Number: " + serial));

  // The audit log has all of it, with the token's name as actor and never the token.
  auto audit = api.call("GET", "/api/v1/audit?limit=1000", api.admin());
  REQUIRE(audit.status == 200);
  std::set<std::string> actions;
  INFO(audit.body.substr(0, 3000));
  const auto audit_json = api.json_of(audit);
  for (const auto& entry : audit_json["items"]) {
    if (entry["actor"] == "api:flow-operator") actions.insert(entry["action"].get<std::string>());
    if (entry["actor"] == "api:admin" && entry["action"] == "token.create") actions.insert("admin:token.create");
  }
  CHECK(actions.contains("admin:token.create"));
  CHECK(actions.contains("certificate.issue"));
  CHECK(actions.contains("certificate.revoke"));
  CHECK_FALSE(contains(audit.body, operator_token));
  // Filtered by actor and by an action prefix.
  auto mine = api.call("GET", "/api/v1/audit?actor=api:flow-operator&action=certificate.", api.admin());
  REQUIRE(mine.status == 200);
  const auto mine_json = api.json_of(mine);
  std::vector<std::string> mine_actions;
  for (const auto& entry : mine_json["items"]) {
    CHECK(entry["actor"] == "api:flow-operator");
    mine_actions.push_back(entry["action"]);
  }
  CHECK(mine_actions == std::vector<std::string>{"certificate.issue", "certificate.revoke"});
  auto later = api.call("GET", "/api/v1/audit?since=2200-01-01T00:00:00Z", api.admin());
  REQUIRE(later.status == 200);
  INFO(later.body.substr(0, 400));
  CHECK(api.json_of(later)["items"].empty());
  CHECK_FALSE(contains(api.serve().log(), operator_token));
  CHECK_FALSE(contains(api.serve().access_log(), operator_token));
  CHECK_FALSE(contains(api.serve().log(), api.admin()));

  // The metrics moved with the issuance and the revocation.
  auto after = parse_metrics(api.call("GET", "/metrics", api.admin()).body);
  CHECK(after["fca_certificates{ca=\"issuing\",status=\"revoked\"}"] == before["fca_certificates{ca=\"issuing\",status=\"revoked\"}"] + 1);
  CHECK(after["fca_issuances_total{ca=\"issuing\",frontend=\"api\"}"] == 1);
  CHECK(after["fca_revocations_total{ca=\"issuing\",reason=\"keyCompromise\"}"] == 1);
  CHECK(after["fca_crl_number{ca=\"issuing\"}"] > before["fca_crl_number{ca=\"issuing\"}"]);
  CHECK(after.contains("fca_leaf_soonest_expiry_seconds"));
  CHECK(after.contains("fca_crl_next_update_seconds{ca=\"issuing\"}"));
}

TEST_CASE("api: keygen issuance returns key, chain and PKCS#12; an Idempotency-Key returns the first answer", "[api][integration]") {
  ApiFixture api;
  const auto body = nlohmann::json{{"common_name", "kg.example.test"}, {"sans", {"DNS:kg.example.test"}},
                                   {"profile", "nmos-node"}, {"pkcs12_password", "correct horse"}}.dump();
  const auto before = api.counts();
  auto first = api.call("POST", "/api/v1/certificates", api.admin(), body, "-H 'Idempotency-Key: kg-1'");
  INFO(first.body);
  REQUIRE(first.status == 201);
  auto j = api.json_of(first);
  CHECK(contains(j["key_pem"].get<std::string>(), "ENCRYPTED PRIVATE KEY"));
  const auto p12 = api.serve().file("kg.p12.b64");
  write_file(p12, j["pkcs12_base64"].get<std::string>());
  auto opened = run("base64 -d " + shell_quote(p12.string()) + " | openssl pkcs12 -nokeys -passin pass:'correct horse' | grep -c 'BEGIN CERTIFICATE'");
  CHECK(trim(opened.output) == "3");
  auto retry = api.call("POST", "/api/v1/certificates", api.admin(), body, "-H 'Idempotency-Key: kg-1'");
  REQUIRE(retry.status == 201);
  CHECK(retry.header("Location") == first.header("Location"));
  CHECK(api.json_of(retry)["certificate"]["serial"] == j["certificate"]["serial"]);
  CHECK(api.json_of(retry)["key_pem"].is_null());  // the key is handed over once
  CHECK(api.counts().certificates == before.certificates + 1);
  auto other = api.call("POST", "/api/v1/certificates", api.admin(), R"({"csr":"x","profile":"nmos-node"})", "-H 'Idempotency-Key: kg-1'");
  CHECK(other.status == 422);
}

TEST_CASE("api: the role matrix", "[api][integration]") {
  ApiFixture api;
  auto auditor = api.token({{"name", "auditor"}, {"roles", {"auditor"}}}).second;
  auto op = api.token({{"name", "operator"}, {"roles", {"operator"}}}).second;
  auto scoped = api.token({{"name", "scoped"}, {"roles", {"operator"}}, {"profiles", {"server"}}}).second;
  auto expiring = api.token(nlohmann::json{{"name", "expiring"}, {"roles", {"admin"}},
                             {"expires_at", fca::service::iso8601(fca::from_unix(std::time(nullptr) + 2))}}).second;
  auto [revoked_id, revoked] = api.token({{"name", "revoked"}, {"roles", {"admin"}}});
  REQUIRE(api.call("DELETE", "/api/v1/tokens/" + std::to_string(revoked_id), api.admin()).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));

  const std::vector<std::pair<std::string, std::string>> callers{
      {"none", ""}, {"bad", "fca_notatokenatall000000000000000000000000000"}, {"expired", expiring}, {"revoked", revoked},
      {"auditor", auditor}, {"operator", op}, {"admin", api.admin()}, {"scoped", scoped}};
  const auto csr = api.csr_pem("matrix");
  const auto issue_body = nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}}.dump();
  int fresh = 0;
  const auto cert = [&] { return api.fresh_certificate("m" + std::to_string(++fresh)); };
  const auto held = [&] {
    auto s = cert();
    api.serve().cli("hold " + s);
    return s;
  };
  const auto enrollment = [&] {
    const auto file = api.serve().pki().csr("e" + std::to_string(++fresh), "p256", "e.example.test", "DNS:e.example.test");
    return std::to_string(api.serve().pki().json("enrollment submit --csr " + shell_quote(file.string()) +
                                                  " --profile nmos-node --label x --json")["id"].get<std::int64_t>());
  };
  const auto token_id = [&] { return std::to_string(api.token({{"name", "t" + std::to_string(++fresh)}, {"roles", {"auditor"}}}).first); };
  const auto fixed = [](std::string p) { return [p] { return p; }; };
  const auto one = cert();

  struct Row {
    std::string method;
    std::function<std::string()> path;  // called once per caller: a fresh object when the call changes it
    std::string path_template;
    std::optional<std::string> body;
    // auditor, operator, admin, scoped (the four without a valid token are 401 on every authenticated route)
    std::array<int, 4> expected;
    bool authenticated = true;
  };
  const std::vector<Row> rows{
      {"GET", fixed("/healthz"), "/healthz", {}, {200, 200, 200, 200}, false},
      {"GET", fixed("/readyz"), "/readyz", {}, {200, 200, 200, 200}, false},
      {"GET", fixed("/api/v1/openapi.json"), "/api/v1/openapi.json", {}, {200, 200, 200, 200}, false},
      {"GET", fixed("/metrics"), "/metrics", {}, {200, 200, 200, 200}},
      {"GET", fixed("/api/v1/cas"), "/api/v1/cas", {}, {200, 200, 200, 200}},
      {"GET", fixed("/api/v1/cas/issuing"), "/api/v1/cas/{name}", {}, {200, 200, 200, 200}},
      {"GET", fixed("/api/v1/cas/issuing/crl"), "/api/v1/cas/{name}/crl", {}, {200, 200, 200, 200}},
      {"GET", fixed("/api/v1/certificates"), "/api/v1/certificates", {}, {200, 200, 200, 200}},
      {"POST", fixed("/api/v1/certificates"), "/api/v1/certificates", issue_body, {403, 201, 201, 403}},
      {"GET", [&] { return "/api/v1/certificates/" + one; }, "/api/v1/certificates/{serial}", {}, {200, 200, 200, 200}},
      {"POST", [&] { return "/api/v1/certificates/" + cert() + "/revoke"; }, "/api/v1/certificates/{serial}/revoke", "{}", {403, 200, 200, 403}},
      {"POST", [&] { return "/api/v1/certificates/" + cert() + "/hold"; }, "/api/v1/certificates/{serial}/hold", "{}", {403, 200, 200, 403}},
      {"POST", [&] { return "/api/v1/certificates/" + held() + "/release"; }, "/api/v1/certificates/{serial}/release", "{}", {403, 200, 200, 403}},
      {"POST", [&] { return "/api/v1/certificates/" + cert() + "/renew"; }, "/api/v1/certificates/{serial}/renew",
       nlohmann::json{{"csr", csr}}.dump(), {403, 201, 201, 403}},
      {"GET", fixed("/api/v1/enrollments?state=pending"), "/api/v1/enrollments", {}, {200, 200, 200, 200}},
      {"POST", [&] { return "/api/v1/enrollments/" + enrollment() + "/approve"; }, "/api/v1/enrollments/{id}/approve", "{}", {403, 201, 201, 403}},
      {"POST", [&] { return "/api/v1/enrollments/" + enrollment() + "/reject"; }, "/api/v1/enrollments/{id}/reject",
       R"({"reason":"not ours"})", {403, 200, 200, 403}},
      {"GET", fixed("/api/v1/audit"), "/api/v1/audit", {}, {200, 403, 200, 403}},
      {"GET", fixed("/api/v1/audit/verify"), "/api/v1/audit/verify", {}, {200, 403, 200, 403}},
      {"GET", fixed("/api/v1/tokens"), "/api/v1/tokens", {}, {403, 403, 200, 403}},
      {"POST", [&] { return std::string("/api/v1/tokens"); }, "/api/v1/tokens", {}, {403, 403, 201, 403}},
      {"DELETE", [&] { return "/api/v1/tokens/" + token_id(); }, "/api/v1/tokens/{id}", {}, {403, 403, 200, 403}},
      // Not a lab instance: refused to everyone, administrators included (api_lab_test.cpp has a lab).
      {"POST", fixed("/api/v1/lab/certificates"), "/api/v1/lab/certificates", R"({"kind":"expired"})", {403, 403, 403, 403}},
      {"GET", fixed("/api/v1/lab/faults"), "/api/v1/lab/faults", {}, {403, 403, 403, 403}},
      {"POST", fixed("/api/v1/lab/faults"), "/api/v1/lab/faults", R"({"kind":"ocsp","mode":"tryLater"})", {403, 403, 403, 403}},
      {"DELETE", fixed("/api/v1/lab/faults"), "/api/v1/lab/faults", {}, {403, 403, 403, 403}},
      {"DELETE", fixed("/api/v1/lab/faults/1"), "/api/v1/lab/faults/{id}", {}, {403, 403, 403, 403}},
  };

  // Every documented route is in the table.
  std::set<std::string> covered;
  for (const auto& row : rows) covered.insert(row.method + " " + row.path_template);
  for (const auto& route : fca::api::routes()) CHECK(covered.contains(route.method + " " + route.pattern));

  for (const auto& row : rows) {
    for (std::size_t c = 0; c < callers.size(); ++c) {
      const auto& [who, token] = callers[c];
      const int expected = c < 4 ? (row.authenticated ? 401 : 200) : row.expected[c - 4];
      auto body = row.body;
      if (row.path_template == "/api/v1/tokens" && row.method == "POST") {
        body = nlohmann::json{{"name", "made-by-" + who + std::to_string(++fresh)}, {"roles", {"auditor"}}}.dump();
      }
      // A row that needs a fresh object makes one only for callers that can change it.
      const auto path = expected == 401 && row.path_template.find('{') != std::string::npos && row.method != "GET"
                            ? std::regex_replace(row.path_template, std::regex(R"(\{[a-z]+\})"), row.path_template.find("{id}") != std::string::npos ? "1" : one)
                            : row.path();
      auto r = api.call(row.method, path, token, body);
      INFO(row.method << " " << path << " as " << who << ": " << r.status << " " << r.body);
      CHECK(r.status == expected);
      if (r.status == 401) CHECK(contains(r.header("WWW-Authenticate"), "Bearer"));
      if (r.status >= 400) CHECK(api.json_of(r)["error"]["code"].is_string());
    }
  }
}

TEST_CASE("api: malformed requests get the documented 4xx and change nothing", "[api][integration]") {
  ApiFixture api;
  const auto serial = api.fresh_certificate("bad");
  const auto csr = api.csr_pem("badin");
  const auto& admin = api.admin();
  struct Bad {
    std::string method, path;
    std::optional<std::string> body;
    std::string extra;
    int status;
    std::string mentions;  // in the error message
  };
  const std::string big(70 * 1024, 'x');
  const std::vector<Bad> table{
      {"POST", "/api/v1/certificates", "{", "", 400, "JSON"},
      {"POST", "/api/v1/certificates", "[]", "", 400, "object"},
      {"POST", "/api/v1/certificates", "\"x\"", "", 400, "object"},
      {"POST", "/api/v1/certificates", "{}", "", 400, "profile"},
      {"POST", "/api/v1/certificates", R"({"csr":"x"})", "", 400, "profile"},
      {"POST", "/api/v1/certificates", R"({"csr":"not a pem","profile":"nmos-node"})", "", 400, "csr"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}, {"profile", "nmos-node"}}.dump(), "", 400, ""},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", 5}}.dump(), "", 400, "profile"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}, {"extra", 1}}.dump(), "", 400, "extra"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}, {"validity_days", "10"}}.dump(), "", 400, "validity_days"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}, {"validity_days", -1}}.dump(), "", 400, "validity_days"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "no-such-profile"}}.dump(), "", 400, ""},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}, {"ca", "Bad_Name"}}.dump(), "", 400, "ca"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}, {"ca", "nope"}}.dump(), "", 404, ""},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}}.dump(), "-H 'Content-Type: text/plain'", 415, "Content-Type"},
      {"POST", "/api/v1/certificates", big, "", 413, ""},
      {"POST", "/api/v1/certificates", R"({"common_name":"k.example.test","profile":"nmos-node"})", "", 400, "pkcs12_password"},
      {"POST", "/api/v1/certificates", R"({"common_name":"k.example.test","profile":"nmos-node","pkcs12_password":"short"})", "", 400, "pkcs12_password"},
      {"POST", "/api/v1/certificates", R"({"common_name":"k.example.test","profile":"nmos-node","pkcs12_password":"longenough","key_type":"dsa"})", "", 400, "key_type"},
      {"POST", "/api/v1/certificates", R"({"common_name":"k.example.test","profile":"nmos-node","pkcs12_password":"longenough","sans":"DNS:x"})", "", 400, "sans"},
      {"POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}}.dump(), "-H 'Idempotency-Key;'", 400, "Idempotency-Key"},
      {"GET", "/api/v1/certificates?status=bogus", {}, "", 400, "status"},
      {"GET", "/api/v1/certificates?limit=0", {}, "", 400, "limit"},
      {"GET", "/api/v1/certificates?limit=abc", {}, "", 400, "limit"},
      {"GET", "/api/v1/certificates?cursor=zzz", {}, "", 400, ""},
      {"GET", "/api/v1/certificates?unknown=1", {}, "", 400, "unknown"},
      {"GET", "/api/v1/certificates?issued_after=yesterday", {}, "", 400, "issued_after"},
      {"GET", "/api/v1/certificates?status=valid&status=revoked", {}, "", 400, "status"},
      {"GET", "/api/v1/certificates?name_contains=%zz", {}, "", 400, "percent"},
      {"GET", "/api/v1/certificates/XYZ", {}, "", 400, "serial"},
      {"GET", "/api/v1/certificates/" + serial, {}, "-H 'Accept: image/png'", 406, "Accept"},
      {"GET", "/api/v1/certificates/0123456789", {}, "", 404, ""},
      {"GET", "/api/v1/cas/NOPE", {}, "", 400, "name"},
      {"GET", "/api/v1/cas/nope", {}, "", 404, ""},
      {"POST", "/api/v1/certificates/" + serial + "/revoke", R"({"reason":"bogus"})", "", 400, "reason"},
      {"POST", "/api/v1/certificates/" + serial + "/revoke", R"({"reason":"certificateHold"})", "", 400, "reason"},
      {"POST", "/api/v1/certificates/" + serial + "/revoke", R"({"invalidity_date":"2026-02-31T00:00:00Z"})", "", 400, "invalidity_date"},
      {"POST", "/api/v1/certificates/" + serial + "/revoke", R"({"reason":1})", "", 400, "reason"},
      {"POST", "/api/v1/certificates/" + serial + "/release", "{}", "", 409, ""},
      {"POST", "/api/v1/certificates/" + serial + "/renew", "{}", "", 400, "csr"},
      {"POST", "/api/v1/enrollments/abc/approve", "{}", "", 400, "id"},
      {"POST", "/api/v1/enrollments/999/approve", "{}", "", 404, ""},
      {"POST", "/api/v1/enrollments/1/reject", "{}", "", 400, "reason"},
      {"GET", "/api/v1/enrollments?state=maybe", {}, "", 400, "state"},
      {"GET", "/api/v1/audit?since=monday", {}, "", 400, "since"},
      {"GET", "/api/v1/audit?limit=1001", {}, "", 400, "limit"},
      {"POST", "/api/v1/tokens", R"({"name":"UPPER","roles":["auditor"]})", "", 400, "name"},
      {"POST", "/api/v1/tokens", R"({"name":"x","roles":["god"]})", "", 400, "roles"},
      {"POST", "/api/v1/tokens", R"({"name":"x","roles":"admin"})", "", 400, "roles"},
      {"POST", "/api/v1/tokens", R"({"name":"x","roles":["auditor"],"expires_at":"2020-01-01T00:00:00Z"})", "", 400, "past"},
      {"POST", "/api/v1/tokens", R"({"name":"admin","roles":["auditor"]})", "", 409, ""},
      {"DELETE", "/api/v1/tokens/99999", {}, "", 404, ""},
      {"PUT", "/api/v1/certificates", "{}", "", 405, ""},
      {"DELETE", "/api/v1/cas", {}, "", 405, ""},
      {"GET", "/api/v1/nothing-here", {}, "", 404, ""},
  };
  REQUIRE(table.size() >= 30);
  const auto before = api.counts();
  for (const auto& bad : table) {
    auto r = api.call(bad.method, bad.path, admin, bad.body, bad.extra);
    INFO(bad.method << " " << bad.path << " " << (bad.body ? bad.body->substr(0, 120) : "") << " -> " << r.status << " " << r.body.substr(0, 300));
    CHECK(r.status == bad.status);
    if (r.status != 413) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      REQUIRE_FALSE(j.is_discarded());
      CHECK(j["error"]["code"].is_string());
      CHECK(contains(j["error"]["message"].get<std::string>(), bad.mentions));
    }
    if (r.status == 405) CHECK_FALSE(r.header("Allow").empty());
  }
  CHECK(api.counts() == before);
}

TEST_CASE("api: repeated authentication failures from one address are answered 429", "[api][integration]") {
  ApiFixture api;
  api.serve().stop();
  api.serve().pki().edit_config([](nlohmann::json& c) { c["api"]["max_auth_failures_per_minute"] = 3; });
  api.serve().start();
  for (int i = 0; i < 3; ++i) CHECK(api.call("GET", "/api/v1/cas", "fca_wrong" + std::to_string(i)).status == 401);
  auto limited = api.call("GET", "/api/v1/cas", api.admin());
  CHECK(limited.status == 429);
  CHECK(limited.header("Retry-After") == "60");
  // Unauthenticated health checks are not held back.
  CHECK(api.call("GET", "/healthz", "").status == 200);
}

TEST_CASE("api: the OpenAPI document matches the mounted routes", "[api][integration]") {
  ApiFixture api;
  auto doc_response = api.call("GET", "/api/v1/openapi.json", "");
  REQUIRE(doc_response.status == 200);
  auto doc = api.json_of(doc_response);
  CHECK(doc["openapi"] == "3.1.0");
  std::set<std::string> documented;
  for (auto& [path, operations] : doc["paths"].items()) {
    for (auto& [method, op] : operations.items()) documented.insert(lowercase(method) + " " + path);
  }
  std::set<std::string> table;
  for (const auto& route : fca::api::routes()) table.insert(lowercase(route.method) + " " + route.pattern);
  CHECK(documented == table);

  // Walk the live server: every documented method answers (not 404/405); every other method is 405
  // with an Allow that lists exactly the documented ones.
  for (auto& [path, operations] : doc["paths"].items()) {
    std::string concrete = std::regex_replace(path, std::regex(R"(\{name\})"), "issuing");
    concrete = std::regex_replace(concrete, std::regex(R"(\{serial\})"), "0A");
    concrete = std::regex_replace(concrete, std::regex(R"(\{id\})"), "424242");
    std::set<std::string> allowed{"OPTIONS"};
    for (auto& [method, op] : operations.items()) {
      std::string upper = method;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      allowed.insert(upper);
      if (upper == "GET") allowed.insert("HEAD");
    }
    for (const std::string method : {"GET", "POST", "DELETE", "PUT", "PATCH"}) {
      auto r = api.call(method, concrete, api.admin(), method == "POST" || method == "PUT" || method == "PATCH" ? std::optional<std::string>("{}") : std::nullopt);
      INFO(method << " " << concrete << " -> " << r.status << " " << r.body.substr(0, 200));
      if (allowed.contains(method)) {
        CHECK(r.status != 405);
        if (r.status == 404) CHECK(api.json_of(r)["error"]["code"] == "not_found");
        if (r.status == 404) CHECK_FALSE(contains(r.body, "no such resource"));
      } else {
        CHECK(r.status == 405);
        std::set<std::string> allow;
        std::string header = r.header("Allow");
        for (std::size_t at = 0; at < header.size();) {
          auto end = header.find(',', at);
          if (end == std::string::npos) end = header.size();
          allow.insert(trim(header.substr(at, end - at)));
          at = end + 1;
        }
        if (path.starts_with("/api/v1/") && path != "/api/v1/openapi.json") CHECK(allow == allowed);
      }
    }
  }
}

TEST_CASE("api: token commands on the CLI", "[api][integration]") {
  Pki pki;
  auto made = pki.fca_split("token create --name ci --role operator --ca issuing");
  REQUIRE(made.exit_code == 0);
  const auto secret = trim(made.out);
  CHECK(secret.starts_with("fca_"));
  CHECK(secret.size() >= 4 + 43);
  auto listed = pki.out("token list --json");
  CHECK(contains(listed, "\"ci\""));
  CHECK_FALSE(contains(listed, secret));
  auto tokens = nlohmann::json::parse(listed);
  std::int64_t id = 0;
  for (const auto& t : tokens) if (t["name"] == "ci") id = t["id"];
  REQUIRE(id > 0);
  CHECK(pki.fca("token create --name ci --role operator").exit_code == 5);
  CHECK(pki.fca("token create --name x --role root").exit_code == 2);
  CHECK(pki.fca("token revoke " + std::to_string(id)).exit_code == 0);
  CHECK(pki.fca("token revoke " + std::to_string(id)).exit_code == 5);
  CHECK(pki.fca("token revoke 9999").exit_code == 4);
  // The secrets file holds the first admin token, 0600, and the database only its hash.
  const auto file = pki.dir() / "secrets" / "api-admin-token";
  const auto mode = std::filesystem::status(file).permissions() & std::filesystem::perms::all;
  CHECK(mode == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  auto grep = run("cat " + shell_quote((pki.dir() / "ca.db").string()) + "* | grep -c " + shell_quote(trim(read_file(file))));
  CHECK(trim(grep.output) == "0");
}
