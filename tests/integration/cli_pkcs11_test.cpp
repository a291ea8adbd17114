// init with the CA keys on a PKCS#11 token (SoftHSMv2), then issue through it from a new process.
#include <cstdlib>

#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

// Points SoftHSM at a token directory of this test's own, and restores the environment after.
class SoftHsm {
 public:
  explicit SoftHsm(const TempDir& tmp) {
    const auto tokens = tmp / "tokens";
    std::filesystem::create_directories(tokens);
    const auto conf = tmp / "softhsm2.conf";
    write_file(conf, "directories.tokendir = " + tokens.string() + "\nobjectstore.backend = file\nlog.level = ERROR\n");
    if (const char* old = std::getenv("SOFTHSM2_CONF")) previous_ = old;
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  }
  ~SoftHsm() {
    if (previous_) {
      ::setenv("SOFTHSM2_CONF", previous_->c_str(), 1);
    } else {
      ::unsetenv("SOFTHSM2_CONF");
    }
  }
  SoftHsm(const SoftHsm&) = delete;
  SoftHsm& operator=(const SoftHsm&) = delete;

 private:
  std::optional<std::string> previous_;
};

}  // namespace

TEST_CASE("init --pkcs11-token keeps the CA keys on the token", "[cli][pkcs11]") {
  if (run("command -v softhsm2-util").exit_code != 0 || !std::filesystem::exists("/usr/lib/softhsm/libsofthsm2.so")) {
    WARN("SoftHSMv2 is not installed; skipping");
    return;
  }
  TempDir tmp;
  SoftHsm softhsm(tmp);
  auto token = run("softhsm2-util --init-token --free --label fca-test --so-pin 87654321 --pin 123456");
  INFO(token.output);
  REQUIRE(token.exit_code == 0);
  const auto pin_file = tmp / "pin";
  write_file(pin_file, "123456\n");

  const auto dir = tmp / "data";
  const auto binary = shell_quote(facility_ca_binary()) + " --dir " + shell_quote(dir.string()) + " ";
  auto init = run(binary + "init --pkcs11-token fca-test --pkcs11-pin-file " + shell_quote(pin_file.string()));
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  CHECK(init.output.find("123456") == std::string::npos);

  auto config = nlohmann::json::parse(read_file(dir / "config.json"));
  CHECK(config["keys"]["backend"] == "pkcs11");
  CHECK(config["keys"]["pkcs11"]["token"] == "fca-test");
  CHECK(config["keys"]["pkcs11"]["pin_file"] == pin_file.string());
  CHECK(std::filesystem::is_empty(dir / "keys"));

  auto cas = nlohmann::json::parse(run(binary + "ca list --json").output);
  REQUIRE(cas.size() == 2);
  for (const auto& ca : cas) {
    CHECK(ca["key_uri"].get<std::string>().starts_with("pkcs11:"));
    CHECK(ca["key_uri"].get<std::string>().find("pin") == std::string::npos);
  }

  write_file(tmp / "root.pem", run(binary + "ca show root 2>/dev/null").output);
  write_file(tmp / "issuing.pem", run(binary + "ca show issuing 2>/dev/null").output);
  make_csr_with_openssl(tmp / "leaf.key", "p256", "/CN=hsm.example.test", "DNS:hsm.example.test");
  auto issued = run(binary + "issue --csr " + shell_quote((tmp / "leaf.key.csr").string()) +
                    " --profile nmos-node --out " + shell_quote((tmp / "leaf.pem").string()));
  INFO(issued.output);
  REQUIRE(issued.exit_code == 0);
  auto verify = run("openssl verify -CAfile " + shell_quote((tmp / "root.pem").string()) + " -untrusted " +
                    shell_quote((tmp / "issuing.pem").string()) + " " + shell_quote((tmp / "leaf.pem").string()));
  INFO(verify.output);
  CHECK(verify.exit_code == 0);

  // A wrong PIN is a key failure (status 1), and the PIN is not echoed.
  write_file(pin_file, "999999\n");
  auto wrong_pin = run(binary + "issue --csr " + shell_quote((tmp / "leaf.key.csr").string()) + " --profile nmos-node");
  CHECK(wrong_pin.exit_code == 1);
  CHECK(wrong_pin.output.find("999999") == std::string::npos);
}
