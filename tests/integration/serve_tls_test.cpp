// An HTTPS listener on the new transport: BCP-003-01 protocol floor, HSTS, and the same routes.
#include "raw_http.hpp"

using namespace fca::test;

TEST_CASE("transport: an HTTPS listener serves the routes over TLS 1.2/1.3 only, with HSTS", "[serve][transport][tls]") {
  auto dir = std::make_shared<std::filesystem::path>();
  ServeFixture server(
      [dir](nlohmann::json& config) {
        config["serve"]["listeners"][0]["tls"] = {{"certificate", (*dir / "tls.pem").string()},
                                                  {"key", (*dir / "tls.key").string()}};
        config["serve"]["hsts_max_age_seconds"] = 600;
      },
      false);
  *dir = server.file("tls.pem").parent_path();
  auto made = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost "
                  "-addext subjectAltName=DNS:localhost -keyout " +
                  shell_quote((*dir / "tls.key").string()) + " -out " + shell_quote((*dir / "tls.pem").string()));
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  server.start();
  const std::string base = "https://localhost:" + std::to_string(server.port());
  const std::string resolve = "--resolve localhost:" + std::to_string(server.port()) + ":127.0.0.1 --cacert " +
                              shell_quote((*dir / "tls.pem").string()) + " ";

  auto pem = server.http(resolve, base + "/ca/issuing.pem");
  INFO(pem.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(pem.status == 200);
  CHECK(pem.body.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(pem.header("Strict-Transport-Security") == "max-age=600");
  CHECK(!pem.header("Date").empty());

  auto refused = server.http(resolve + "-X DELETE", base + "/crl/issuing.crl");
  CHECK(refused.status == 405);
  CHECK(contains(refused.header("Allow"), "GET"));
  CHECK(refused.header("Strict-Transport-Security") == "max-age=600");

  // OCSP over HTTPS with openssl ocsp.
  const auto leaf = server.issue_leaf("over-tls");
  const auto request = server.ocsp_request(leaf, "over-tls.der");
  auto answer = server.http(resolve + "--data-binary @" + shell_quote(request.string()) +
                                " -H 'Content-Type: application/ocsp-request'",
                            base + "/ocsp");
  REQUIRE(answer.status == 200);
  auto checked = server.check_response(answer.body_file, leaf);
  INFO(checked.output);
  CHECK(contains(checked.output, ": good"));

  // TLS 1.1 and 1.0 are refused (the client is allowed them: security level 0); TLS 1.2 with a suite outside the BCP list is refused.
  const std::string connect = "-connect 127.0.0.1:" + std::to_string(server.port());
  for (const auto* old : {"-tls1_1", "-tls1"}) {
    auto handshake = run("timeout 10 openssl s_client " + connect + " " + old + " -cipher DEFAULT@SECLEVEL=0 < /dev/null 2>&1");
    INFO(old << "\n" << handshake.output);
    CHECK(handshake.exit_code != 0);
  }
  auto weak = run("timeout 10 openssl s_client " + connect + " -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA < /dev/null 2>&1");
  INFO(weak.output);
  CHECK(weak.exit_code != 0);
  auto good = run("timeout 10 openssl s_client " + connect + " -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 < /dev/null 2>&1");
  INFO(good.output);
  CHECK(good.exit_code == 0);

  // Plain HTTP on the HTTPS port gets no HTTP answer.
  RawClient plain(server.port());
  REQUIRE(plain.send_all("GET /ca/issuing.pem HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK_FALSE(plain.response(std::chrono::seconds(2)).has_value());
  SERVE_CHECK(server, server.running());
}
