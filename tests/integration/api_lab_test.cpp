// The lab's revocation faults over the REST API, on a lab instance: administrators set, list and
// clear them; the running responder answers accordingly; nobody else may.
#include <catch2/catch.hpp>

#include "api_fixture.hpp"

using namespace fca::test;

TEST_CASE("api: lab faults are set, seen by the responder, listed and cleared by an administrator", "[api][lab]") {
  ApiFixture api({}, "--lab");
  auto op = api.token({{"name", "operator"}, {"roles", {"operator"}}}).second;
  const auto leaf = api.serve().issue_leaf("api-faulted");
  const auto serial = api.serve().pki().serial_of(leaf);

  // An operator may not; nothing is stored.
  auto refused = api.call("POST", "/api/v1/lab/faults", op, nlohmann::json{{"kind", "ocsp"}, {"mode", "tryLater"}}.dump());
  CHECK(refused.status == 403);
  CHECK(api.json_of(api.call("GET", "/api/v1/lab/faults", api.admin()))["items"].empty());

  // Bad input: a 400 naming the field, nothing stored.
  for (const auto& bad : {nlohmann::json{{"kind", "ocsp"}, {"mode", "nonsense"}}, nlohmann::json{{"kind", "dns"}, {"mode", "tryLater"}},
                          nlohmann::json{{"kind", "ocsp"}, {"mode", "tryLater"}, {"for", "forever"}},
                          nlohmann::json{{"kind", "ocsp"}, {"mode", "tryLater"}, {"colour", "red"}}}) {
    auto r = api.call("POST", "/api/v1/lab/faults", api.admin(), bad.dump());
    INFO(bad.dump() << " -> " << r.status << " " << r.body);
    CHECK(r.status == 400);
  }
  CHECK(api.json_of(api.call("GET", "/api/v1/lab/faults", api.admin()))["items"].empty());

  auto set = api.call("POST", "/api/v1/lab/faults", api.admin(),
                      nlohmann::json{{"kind", "ocsp"}, {"mode", "tryLater"}, {"serial", serial}, {"for", "5m"}}.dump());
  INFO(set.body);
  REQUIRE(set.status == 201);
  const auto fault = api.json_of(set);
  CHECK(fault["mode"] == "tryLater");
  CHECK(fault["serial"] == serial);
  CHECK(fault["active"] == true);
  CHECK(set.header("Location") == "/api/v1/lab/faults/" + std::to_string(fault["id"].get<int>()));

  // The running responder follows it at once; the CLI lists the same fault.
  CHECK(contains(api.serve().ocsp_query(leaf, "-no_nonce").output, "trylater"));
  CHECK(contains(api.serve().pki().out("lab fault list"), "tryLater"));
  auto listed = api.json_of(api.call("GET", "/api/v1/lab/faults", api.admin()));
  REQUIRE(listed["items"].size() == 1);
  CHECK(listed["items"][0]["id"] == fault["id"]);

  // Clearing it: one, then none left to clear; the true answer is back.
  auto cleared = api.call("DELETE", "/api/v1/lab/faults/" + std::to_string(fault["id"].get<int>()), api.admin());
  REQUIRE(cleared.status == 200);
  CHECK(api.json_of(cleared)["cleared"] == 1);
  CHECK(api.call("DELETE", "/api/v1/lab/faults/" + std::to_string(fault["id"].get<int>()), api.admin()).status == 404);
  CHECK(api.json_of(api.call("DELETE", "/api/v1/lab/faults", api.admin()))["cleared"] == 0);
  auto good = api.serve().ocsp_query(leaf, "-no_nonce");
  INFO(good.output);
  CHECK(contains(good.output, ": good"));

  // Every change is in the audit log, with the token's name as the actor.
  const auto audit = api.serve().pki().out("audit --json");
  CHECK(contains(audit, "lab.fault-set"));
  CHECK(contains(audit, "lab.fault-clear"));
  CHECK(contains(audit, "api:admin"));
}

TEST_CASE("api: an administrator mints lab kinds on a lab instance; each is what its kind says", "[api][lab]") {
  ApiFixture api({}, "--lab");
  auto op = api.token({{"name", "operator"}, {"roles", {"operator"}}}).second;
  CHECK(api.call("POST", "/api/v1/lab/certificates", op, R"({"kind":"expired"})").status == 403);
  CHECK(api.call("POST", "/api/v1/lab/certificates", api.admin(), R"({"kind":"nonsense"})").status == 400);
  CHECK(api.call("POST", "/api/v1/lab/certificates", api.admin(), R"({"kind":"expired","colour":"red"})").status == 400);

  auto minted = api.call("POST", "/api/v1/lab/certificates", api.admin(), R"({"kind":"expired","common_name":"old.example.test"})");
  INFO(minted.body);
  REQUIRE(minted.status == 201);
  CHECK(minted.header("Cache-Control") == "no-store");
  const auto items = api.json_of(minted)["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["kind"] == "expired");
  CHECK(contains(items[0]["key_pem"].get<std::string>(), "PRIVATE KEY"));
  const auto cert = api.serve().file("api-expired.pem");
  const auto chain = api.serve().file("api-expired-chain.pem");
  write_file(cert, items[0]["certificate_pem"].get<std::string>());
  write_file(chain, items[0]["chain_pem"].get<std::string>());
  auto verified = run("openssl verify -CAfile " + shell_quote(api.serve().pki().root_pem().string()) + " -untrusted " +
                      shell_quote(chain.string()) + " " + shell_quote(cert.string()));
  INFO(verified.output);
  CHECK(contains(verified.output, "certificate has expired"));
  CHECK(contains(run("openssl x509 -noout -subject -in " + shell_quote(cert.string())).output, "old.example.test"));
  // Lab-made in its row, like the CLI's.
  bool audited_as_lab = false;
  for (const auto& entry : api.serve().pki().json("audit --json")) {
    const auto& detail = entry["detail"];
    if (detail.is_object() && detail.value("lab", false) && detail.value("kind", "") == "expired") audited_as_lab = true;
  }
  CHECK(audited_as_lab);

  // A kind with two certificates.
  auto valid = api.call("POST", "/api/v1/lab/certificates", api.admin(), R"({"kind":"valid"})");
  REQUIRE(valid.status == 201);
  CHECK(api.json_of(valid)["items"].size() == 2);
}
