// Mutual TLS on the REST API: a client certificate that chains to api.client_certificates' trust
// store calls the API with the mapping's role and scope, as `api:<subject>`; a bearer token still
// works and wins; a certificate from elsewhere, or one revoked here, is 401. curl --cert against a
// real `facility-ca serve`.
#include <set>

#include "api_fixture.hpp"

using namespace fca::test;

namespace {

std::string identity(const std::filesystem::path& cert, const std::filesystem::path& key) {
  return "--cert " + shell_quote(cert.string()) + " --key " + shell_quote(key.string());
}

}  // namespace

TEST_CASE("api: a client certificate from the configured trust store maps to a role and scope; foreign or revoked ones are 401",
          "[api][integration][mtls]") {
  ApiFixture api([](nlohmann::json& config, ServeFixture& serve) {
    config["api"]["client_certificates"] = nlohmann::json::array(
        {{{"trust", {{"roots", {serve.pki().root_pem().string()}}, {"intermediates", {serve.pki().issuing_pem().string()}}}},
          {"roles", {"operator"}},
          {"profiles", {"nmos-node"}}}});
  });
  auto& serve = api.serve();
  // A client certificate of this instance's own CA (nmos-node carries clientAuth).
  const auto ops_cert = serve.issue_leaf("ops");
  const auto ops = identity(ops_cert, serve.file("ops.key"));
  const std::string subject = "CN=ops.example.test";

  auto listed = api.call("GET", "/api/v1/certificates?limit=5", "", std::nullopt, ops);
  INFO(listed.describe() << "\n" << listed.body << "\n" << serve.log());
  REQUIRE(listed.status == 200);

  // Issues as the operator it is mapped to, within the mapping's profiles.
  auto issued = api.call("POST", "/api/v1/certificates", "", nlohmann::json{{"csr", api.csr_pem("by-cert")}, {"profile", "nmos-node"}}.dump(), ops);
  INFO(issued.body);
  REQUIRE(issued.status == 201);
  CHECK(api.json_of(issued)["certificate"]["requester"] == "api:" + subject);
  auto other_profile = api.call("POST", "/api/v1/certificates", "", nlohmann::json{{"csr", api.csr_pem("by-cert-server")}, {"profile", "server"}}.dump(), ops);
  CHECK(other_profile.status == 403);
  // An operator reads no audit log...
  CHECK(api.call("GET", "/api/v1/audit", "", std::nullopt, ops).status == 403);
  CHECK(api.call("GET", "/api/v1/tokens", "", std::nullopt, ops).status == 403);
  // ...but a bearer token sent along wins: the admin's does.
  auto audit = api.call("GET", "/api/v1/audit?actor=" + std::string("api:CN%3Dops.example.test"), api.admin(), std::nullopt, ops);
  INFO(audit.body.substr(0, 2000));
  REQUIRE(audit.status == 200);
  std::set<std::string> actions;
  const auto audit_json = api.json_of(audit);
  for (const auto& entry : audit_json["items"]) {
    CHECK(entry["actor"] == "api:" + subject);
    actions.insert(entry["action"].get<std::string>());
  }
  CHECK(actions == std::set<std::string>{"certificate.issue"});

  // A certificate that chains to nothing configured: 401, as for a bad token.
  const auto foreign_key = serve.file("foreign.key");
  const auto foreign_cert = serve.file("foreign.pem");
  auto made = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ops.example.test -keyout " +
                  shell_quote(foreign_key.string()) + " -out " + shell_quote(foreign_cert.string()) + " 2>&1");
  REQUIRE(made.exit_code == 0);
  auto foreign = api.call("GET", "/api/v1/certificates", "", std::nullopt, identity(foreign_cert, foreign_key));
  INFO(foreign.body);
  CHECK(foreign.status == 401);
  CHECK(contains(foreign.header("WWW-Authenticate"), "Bearer"));
  CHECK(api.json_of(foreign)["error"]["code"] == "unauthorized");
  CHECK(contains(serve.log(), "client certificate: client certificate not trusted"));

  // Revoked here (this instance's own revocation data): refused at once, no CRL involved.
  auto serial = run("openssl x509 -noout -serial -in " + shell_quote(ops_cert.string()));
  const auto ops_serial = trim(serial.output.substr(serial.output.find('=') + 1));
  REQUIRE(api.call("POST", "/api/v1/certificates/" + ops_serial + "/hold", api.admin()).status == 200);
  auto held = api.call("GET", "/api/v1/certificates", "", std::nullopt, ops);
  CHECK(held.status == 401);
  CHECK(contains(serve.log(), "is on-hold"));
  REQUIRE(api.call("POST", "/api/v1/certificates/" + ops_serial + "/release", api.admin()).status == 200);
  CHECK(api.call("GET", "/api/v1/certificates", "", std::nullopt, ops).status == 200);
  REQUIRE(api.call("POST", "/api/v1/certificates/" + ops_serial + "/revoke", api.admin(), R"({"reason":"keyCompromise"})").status == 200);
  auto revoked = api.call("GET", "/api/v1/certificates", "", std::nullopt, ops);
  CHECK(revoked.status == 401);
  CHECK(contains(serve.log(), "is revoked"));

  // No token and no certificate: 401 as before; bearer tokens still work alone.
  CHECK(api.call("GET", "/api/v1/certificates", "").status == 401);
  CHECK(api.call("GET", "/api/v1/certificates", api.admin()).status == 200);
}

TEST_CASE("api: without api.client_certificates a client certificate authenticates nothing", "[api][integration][mtls]") {
  ApiFixture api;
  const auto cert = api.serve().issue_leaf("nobody");
  auto r = api.call("GET", "/api/v1/certificates", "", std::nullopt, identity(cert, api.serve().file("nobody.key")));
  CHECK(r.status == 401);
}

TEST_CASE("api.client_certificates is validated before anything starts", "[api][cli][config][mtls]") {
  Pki pki;
  auto config = nlohmann::json::parse(read_file(pki.dir() / "config.json"));
  config["serve"]["listeners"] = nlohmann::json::array({{{"address", "127.0.0.1"}, {"port", 0}, {"frontends", {"ocsp"}}}});
  const nlohmann::json good{{"trust", {{"roots", {pki.root_pem().string()}}}}, {"roles", {"auditor"}}};
  const auto expect = [&](const nlohmann::json& client, int exit_code, const std::string& command, const std::string& expected) {
    auto changed = config;
    changed["api"]["client_certificates"] = nlohmann::json::array({client});
    write_file(pki.dir() / "config.json", changed.dump(2));
    auto result = run_split("timeout 20 " + pki.command(command), pki.file("scratch").parent_path());
    INFO(client.dump() << "\n" << result.err);
    CHECK(result.exit_code == exit_code);
    CHECK(contains(result.err, expected));
  };
  auto expired = good;
  expired["trust"]["accept_expired"] = true;
  expect(expired, 2, "list", "api.client_certificates[0].trust.accept_expired: unknown key");
  auto bad_role = good;
  bad_role["roles"] = {"root"};
  expect(bad_role, 2, "list", "api.client_certificates[0].roles[0]: must be \"admin\", \"operator\" or \"auditor\"");
  auto no_role = good;
  no_role["roles"] = nlohmann::json::array();
  expect(no_role, 2, "list", "api.client_certificates[0].roles: must name at least one role");
  auto no_root = good;
  no_root.erase("trust");
  expect(no_root, 2, "list", "api.client_certificates[0].trust.roots: must name at least one root");
  auto missing = good;
  missing["trust"]["roots"] = {"no-such-root.pem"};
  expect(missing, 1, "serve", "api.client_certificates[0]: cannot read");
  expect(good, 0, "list", "");
}
