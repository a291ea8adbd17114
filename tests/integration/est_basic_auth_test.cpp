// HTTP Basic on EST labels for devices outside NMOS, against a real `facility-ca serve`: credentials
// made by `facility-ca est credential create` (secret shown once, stored as a salted slow hash), the
// 401 + WWW-Authenticate challenge first, one-time and expiring credentials, revocation, the audit
// entries — and the BCP-003-03 default label never asking for HTTP authentication.
#include "est_client.hpp"

using namespace fca::test;

namespace {

std::string read_all_database_files(const ServeFixture& server) {
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(server.pki().dir())) {
    const auto name = entry.path().filename().string();
    if (name.starts_with("ca.db")) bytes += read_file(entry.path());
  }
  return bytes;
}

}  // namespace

TEST_CASE("EST HTTP Basic: per-device credentials, 401 challenge first, one-time and expiring, revocable, audited",
          "[serve][est][basic]") {
  ServeFixture server(
      [](nlohmann::json& config) {
        config["est"]["labels"].push_back({{"label", "cams"}, {"ca", "issuing"}, {"profiles", {"nmos-node"}}, {"http_basic", true}});
        config["est"]["labels"].push_back(
            {{"label", "certs-only"}, {"ca", "issuing"}, {"profiles", {"nmos-node"}}, {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}});
      },
      true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto& pki = server.pki();

  // The CLI's refusals: no such Basic label (the default one never is), bad names.
  CHECK(pki.fca_split("est credential create --label '' --name cam-1").exit_code == 2);
  CHECK(pki.fca_split("est credential create --label certs-only --name cam-1").exit_code == 2);
  CHECK(pki.fca_split("est credential create --label cams --name 'cam 1'").exit_code == 2);
  CHECK(pki.fca_split("est credential create --label cams --name cam-1 --reusable").exit_code == 2);  // must expire

  auto one_time = pki.fca_split("est credential create --label cams --name cam-1");
  INFO(one_time.err);
  REQUIRE(one_time.exit_code == 0);
  const std::string secret = trim(one_time.out);
  REQUIRE(secret.size() == 24);
  CHECK(contains(one_time.err, "shown only now"));
  CHECK(pki.fca_split("est credential create --label cams --name cam-1").exit_code == 5);  // one usable per name
  auto reusable = pki.fca_split("est credential create --label cams --name cam-2 --reusable --expires 2099-01-01T00:00:00Z");
  REQUIRE(reusable.exit_code == 0);
  const std::string reusable_secret = trim(reusable.out);

  const auto rows_before = certificate_rows(server);
  const auto csr = server.pki().csr("cam1", "p256", "cam1.localhost", "DNS:cam1.localhost");
  const auto basic = [](const std::string& user, const std::string& password) {
    return "--anyauth -u " + shell_quote(user + ":" + password) + " ";
  };

  // No credentials: 401 with the challenge, no certificate.
  auto challenged = est.post("", "simpleenroll", csr, "application/pkcs10", "cams");
  INFO(challenged.describe());
  CHECK(challenged.status == 401);
  CHECK(challenged.header("WWW-Authenticate") == "Basic realm=\"facility-ca EST cams\"");

  // Wrong secret: 401 again (curl sent Basic only after the first 401).
  auto wrong = est.post(basic("cam-1", "not-the-secret"), "simpleenroll", csr, "application/pkcs10", "cams");
  CHECK(wrong.status == 401);
  CHECK(certificate_rows(server) == rows_before);

  // The right one: curl asks without, gets the 401 challenge, sends Basic, gets the certificate.
  auto enrolled = est.post(basic("cam-1", secret), "simpleenroll", csr, "application/pkcs10", "cams");
  INFO(enrolled.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(enrolled.status == 200);
  CHECK(contains(enrolled.headers, "401"));
  CHECK(contains(enrolled.headers, "WWW-Authenticate: Basic realm="));
  const auto pem = server.file("cam1.pem");
  REQUIRE(est.certificates(enrolled, pem).exit_code == 0);
  est.check_issued(pem);

  // One-time: spent.
  const auto csr2 = server.pki().csr("cam1b", "p256", "cam1b.localhost", "DNS:cam1b.localhost");
  CHECK(est.post(basic("cam-1", secret), "simpleenroll", csr2, "application/pkcs10", "cams").status == 401);
  CHECK(contains(server.log(), "no usable credential 'cam-1'"));

  // Reusable until it expires, until revoked.
  for (const auto* name : {"cam2a", "cam2b"}) {
    const auto c = server.pki().csr(name, "p256", std::string(name) + ".localhost", "DNS:" + std::string(name) + ".localhost");
    auto answer = est.post(basic("cam-2", reusable_secret), "serverkeygen", c, "application/pkcs10", "cams");
    INFO(answer.describe());
    CHECK(answer.status == 200);
  }
  auto listed = pki.json("est credential list --label cams --json");
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["name"] == "cam-1");
  CHECK_FALSE(listed[0]["spent_at"].is_null());
  CHECK(listed[1]["one_time"] == false);
  CHECK(listed[0].dump().find(secret) == std::string::npos);
  CHECK(listed[0].dump().find("pbkdf2") == std::string::npos);
  const auto reusable_id = std::to_string(listed[1]["id"].get<int>());
  CHECK(pki.fca_split("est credential revoke " + reusable_id).exit_code == 0);
  CHECK(pki.fca_split("est credential revoke " + reusable_id).exit_code == 5);
  CHECK(pki.fca_split("est credential revoke 999").exit_code == 4);
  CHECK(est.post(basic("cam-2", reusable_secret), "simpleenroll", csr2, "application/pkcs10", "cams").status == 401);
  CHECK(certificate_rows(server) == rows_before + 3);

  // The issued certificates name the credential as requester; the audit log has each creation, use
  // and revocation, and no secret anywhere (log, audit log, database files).
  bool by_credential = false;
  for (const auto& row : pki.json("list --limit 1000 --json")) {
    by_credential |= row["requester"] == "est:credential:cams/cam-1";
  }
  CHECK(by_credential);
  std::vector<std::string> actions;
  for (const auto& e : audit_entries(server, "est.credential.")) actions.push_back(e["action"]);
  CHECK(actions == std::vector<std::string>{"est.credential.create", "est.credential.create", "est.credential.spend",
                                            "est.credential.use", "est.credential.use", "est.credential.revoke"});
  const auto decisions = audit_entries(server, "est.simpleenroll");
  bool anchored = false;
  for (const auto& e : decisions) anchored |= e["detail"]["result"] == "issued" && e["detail"]["trust_anchor"] == "est-credential:1";
  CHECK(anchored);
  const std::string everything = pki.out("audit --limit 1000 --json") + server.log() + server.access_log() +
                                 read_all_database_files(server);
  CHECK(everything.find(secret) == std::string::npos);
  CHECK(everything.find(reusable_secret) == std::string::npos);
  CHECK(read_all_database_files(server).find("pbkdf2-sha256$100000$") != std::string::npos);
}

TEST_CASE("EST HTTP Basic: the BCP-003-03 default label never asks for HTTP authentication", "[serve][est][basic]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto csr = server.pki().csr("nocert", "p256", "nocert.localhost", "DNS:nocert.localhost");
  for (const auto* client : {"", "-u device:secret "}) {
    auto answer = est.post(client, "simpleenroll", csr);
    INFO(answer.describe());
    CHECK(answer.status == 403);
    CHECK(answer.header("WWW-Authenticate").empty());
  }
  // init's config does not enable it, and the config refuses it for the default label.
  CHECK_FALSE(contains(read_file(server.pki().dir() / "config.json"), "\"http_basic\": true"));
  server.pki().edit_config([](nlohmann::json& config) { config["est"]["labels"][0]["http_basic"] = true; });
  auto refused = server.pki().fca_split("list");
  CHECK(refused.exit_code == 2);
  CHECK(contains(refused.err, "never asks for HTTP authentication"));
}
