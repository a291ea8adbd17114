// config.json problems that used to pass validation: a listener address serve cannot bind, a
// listener serving nothing, and a key given twice. Each stops every command with status 2 before
// anything starts (serve binds nothing).
#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

void expect_invalid(const Pki& pki, const std::string& config_text, const std::string& expected) {
  write_file(pki.dir() / "config.json", config_text);
  for (const std::string command : {"list", "serve"}) {
    // serve must refuse before binding; were it to start, `timeout` ends it with 124.
    auto result = run_split("timeout 20 " + pki.command(command), pki.file("scratch").parent_path());
    INFO(command << ": " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find(expected) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("listener, frontends and duplicate keys are validated before anything starts", "[cli][config]") {
  Pki pki;
  auto config = nlohmann::json::parse(read_file(pki.dir() / "config.json"));
  // Port 0: should a broken check let serve start, it binds an ephemeral loopback port, not a fixed one.
  config["serve"]["listeners"] = nlohmann::json::array({{{"address", "127.0.0.1"}, {"port", 0}, {"frontends", {"ocsp"}}}});

  SECTION("an address serve cannot bind") {
    auto bad = config;
    bad["serve"]["listeners"][0]["address"] = "not an address";
    expect_invalid(pki, bad.dump(2), "serve.listeners[0].address: must be an IPv4 or IPv6 address");
    bad["serve"]["listeners"][0]["address"] = "999.1.1.1";
    expect_invalid(pki, bad.dump(2), "serve.listeners[0].address");
  }
  SECTION("a listener with no frontends") {
    auto bad = config;
    bad["serve"]["listeners"][0]["frontends"] = nlohmann::json::array();
    expect_invalid(pki, bad.dump(2), "serve.listeners[0].frontends: must name at least one");
  }
  SECTION("a key twice in one object") {
    auto text = config.dump(2);
    // Insert a second "policy" object at the top level: JSON parsers keep only the last one.
    text.insert(text.find('{') + 1, "\n  \"policy\": {\"allow_ip_sans\": true},");
    expect_invalid(pki, text, "key \"policy\" appears twice");
  }
  SECTION("the same keys once are fine") {
    write_file(pki.dir() / "config.json", config.dump(2));
    CHECK(pki.fca("list").exit_code == 0);
    auto again = config;
    again["serve"]["listeners"][0]["address"] = "::1";
    write_file(pki.dir() / "config.json", again.dump(2));
    CHECK(pki.fca("list").exit_code == 0);
  }
}
