// The est section and HTTPS listener keys: bad values are refused with their key path, and serve
// refuses a setup it cannot honour before it answers anything.
#include "serve_fixture.hpp"

using namespace fca::test;

TEST_CASE("est config: bad labels are usage errors naming the key", "[cli][est][config]") {
  Pki pki;
  pki.edit_config([](nlohmann::json& config) {
    config["est"]["labels"] = nlohmann::json::array({{{"label", "cacerts"}, {"approval", "sometimes"}, {"profiles", nlohmann::json::array()}},
                                                     {{"label", "a/b"}}});
  });
  auto refused = pki.fca_split("dns-sd --domain example.test");
  INFO(refused.err);
  CHECK(refused.exit_code == 2);
  CHECK(contains(refused.err, "est.labels[0].label"));
  CHECK(contains(refused.err, "est.labels[0].approval"));
  CHECK(contains(refused.err, "est.labels[0].profiles"));
  CHECK(contains(refused.err, "est.labels[1].label"));
}

TEST_CASE("est config: serve refuses EST over plain HTTP and a missing manufacturer root", "[serve][est][config]") {
  Pki pki;
  const auto serve = [&] { return run("timeout 30 " + pki.command("serve") + " 2>&1"); };
  pki.edit_config([](nlohmann::json& config) {
    config["serve"]["listeners"] = nlohmann::json::array({{{"address", "127.0.0.1"}, {"port", 0}, {"frontends", {"est"}}}});
  });
  auto plain = serve();
  INFO(plain.output);
  CHECK(plain.exit_code == 1);
  CHECK(contains(plain.output, "EST needs an HTTPS listener"));

  pki.edit_config([](nlohmann::json& config) {
    config["serve"]["listeners"][0]["tls"] = {{"names", {"localhost"}}};
    config["est"]["labels"][0]["trust"]["roots"] = {"no-such-root.pem"};
  });
  auto missing = serve();
  INFO(missing.output);
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.output, "no-such-root.pem"));
}
