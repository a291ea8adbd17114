// CORS on an HTTPS listener of a real `facility-ca serve`, with curl as the browser: off unless the
// listener names origins; a named origin gets Access-Control-Allow-Origin (and its preflight OPTIONS
// the methods), any other origin gets no CORS header at all.
#include "est_client.hpp"

using namespace fca::test;

TEST_CASE("CORS: only a configured origin gets Access-Control-Allow-Origin; preflight answered", "[serve][est][cors]") {
  const std::string allowed = "https://ui.example:8443";
  ServeFixture server([&](nlohmann::json& config) { config["serve"]["listeners"][1]["cors_origins"] = {allowed}; }, true,
                      "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto origin = [](const std::string& o) { return "-H " + shell_quote("Origin: " + o) + " "; };

  auto simple = server.http(est.trust() + origin(allowed), est.base() + "cacerts");
  INFO(simple.describe());
  CHECK(simple.status == 200);
  CHECK(simple.header("Access-Control-Allow-Origin") == allowed);
  CHECK(simple.header("Vary") == "Origin");

  for (const auto* other : {"https://evil.example", "https://ui.example", "null"}) {
    auto refused = server.http(est.trust() + origin(other), est.base() + "cacerts");
    INFO(other << ": " << refused.describe());
    CHECK(refused.status == 200);
    CHECK_FALSE(contains(lowercase(refused.headers), "access-control-"));
  }
  auto without = server.http(est.trust(), est.base() + "cacerts");
  CHECK_FALSE(contains(lowercase(without.headers), "access-control-"));

  const std::string preflight_headers = "-X OPTIONS -H 'Access-Control-Request-Method: POST' "
                                        "-H 'Access-Control-Request-Headers: content-type' ";
  auto preflight = server.http(est.trust() + preflight_headers + origin(allowed), est.base() + "simpleenroll");
  INFO(preflight.describe());
  CHECK(preflight.status == 204);
  CHECK(preflight.header("Access-Control-Allow-Origin") == allowed);
  CHECK(contains(preflight.header("Access-Control-Allow-Methods"), "POST"));
  CHECK(contains(lowercase(preflight.header("Access-Control-Allow-Headers")), "content-type"));
  auto foreign = server.http(est.trust() + preflight_headers + origin("https://evil.example"), est.base() + "simpleenroll");
  CHECK(foreign.status == 204);
  CHECK_FALSE(contains(lowercase(foreign.headers), "access-control-"));

  // The plain-HTTP listener names no origin: CORS is off there.
  auto off = server.http(origin(allowed), "/ca/issuing.pem");
  CHECK(off.status == 200);
  CHECK_FALSE(contains(lowercase(off.headers), "access-control-"));
}

TEST_CASE("CORS: an origin that is not one (a path, a wildcard) is a config error", "[cli][config][cors]") {
  Pki pki;
  for (const auto* bad : {"*", "https://ui.example/", "ui.example", "ftp://ui.example"}) {
    pki.edit_config([&](nlohmann::json& config) { config["serve"]["listeners"][0]["cors_origins"] = {bad}; });
    auto refused = pki.fca_split("list");
    INFO(bad << ": " << refused.err);
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.err, "cors_origins"));
  }
}
