// config.json validation, data directory resolution and command line usage errors.
#include <cstdlib>
#include <sstream>

#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("config.json problems are reported with their key path and stop every command", "[cli][config]") {
  Pki pki;
  const auto original = nlohmann::json::parse(read_file(pki.dir() / "config.json"));

  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> change;
    std::string expected;  // the message part naming key and reason
  };
  const std::vector<Case> cases{
      {"wrong type", [](auto& c) { c["policy"]["min_rsa_bits"] = "2048"; },
       "policy.min_rsa_bits: must be an integer >= 2048"},
      {"too small", [](auto& c) { c["policy"]["min_rsa_bits"] = 1024; },
       "policy.min_rsa_bits: must be an integer >= 2048"},
      {"unknown key", [](auto& c) { c["policy"]["allow_wildcard"] = true; }, "policy.allow_wildcard: unknown key"},
      {"unknown section", [](auto& c) { c["server"] = nlohmann::json::object(); }, "server: unknown key"},
      {"bad enum", [](auto& c) { c["keys"]["backend"] = "tpm"; }, "keys.backend: must be \"file\" or \"pkcs11\""},
      {"boolean as string", [](auto& c) { c["policy"]["allow_ip_sans"] = "yes"; },
       "policy.allow_ip_sans: must be true or false"},
      {"bad key type", [](auto& c) { c["ca"]["key_type"] = "dsa1024"; }, "ca.key_type: must be one of"},
      {"unknown profile", [](auto& c) { c["profiles"]["webserver"]["max_validity_days"] = 10; },
       "profiles.webserver: unknown profile"},
      {"default above max", [](auto& c) { c["profiles"]["server"] = {{"default_validity_days", 400}, {"max_validity_days", 100}}; },
       "profiles.server.default_validity_days: must not exceed max_validity_days (100)"},
      {"bad list item", [](auto& c) { c["policy"]["allowed_dns_suffixes"] = {"ok.example", 7}; },
       "policy.allowed_dns_suffixes[1]"},
      {"two passphrase sources", [](auto& c) { c["keys"]["passphrase_env"] = "FCA_PASS"; },
       "keys.passphrase_env: set keys.passphrase_file or keys.passphrase_env, not both"},
      {"url with slash", [](auto& c) { c["urls"]["base"] = "http://ca.example/"; }, "urls.base:"},
      {"log level", [](auto& c) { c["log"]["level"] = "loud"; }, "log.level: must be one of"},
  };
  for (const auto& test : cases) {
    DYNAMIC_SECTION(test.name) {
      auto config = original;
      test.change(config);
      write_file(pki.dir() / "config.json", config.dump(2));
      for (const std::string command : {"list", "ca list", "verify-audit"}) {
        auto result = pki.fca_split(command);
        INFO(command << ": " << result.err);
        CHECK(result.exit_code == 2);
        CHECK(result.err.starts_with("facility-ca: "));
        CHECK(has(result.err, "config.json: " + test.expected));
        CHECK(result.out.empty());
      }
    }
  }

  SECTION("every problem is listed at once") {
    auto config = original;
    config["policy"]["min_rsa_bits"] = "x";
    config["ca"]["colour"] = "blue";
    write_file(pki.dir() / "config.json", config.dump(2));
    auto result = pki.fca_split("list");
    CHECK(result.exit_code == 2);
    CHECK(has(result.err, "policy.min_rsa_bits"));
    CHECK(has(result.err, "ca.colour: unknown key"));
    // One problem per line, each one prefixed.
    std::istringstream lines(result.err);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line); ++count) CHECK(line.starts_with("facility-ca: "));
    CHECK(count == 2);
  }

  SECTION("not JSON") {
    write_file(pki.dir() / "config.json", "{ \"database\": \"ca.db\", }");
    auto result = pki.fca_split("list");
    CHECK(result.exit_code == 2);
    CHECK(has(result.err, "not valid JSON"));
  }

  SECTION("a minimal file takes the defaults") {
    write_file(pki.dir() / "config.json", "{}");
    CHECK(pki.fca("list").exit_code == 0);
  }

  SECTION("the key passphrase can come from an environment variable") {
    const auto passphrase = read_file(pki.dir() / "secrets" / "key-passphrase");
    auto config = original;
    config["keys"].erase("passphrase_file");
    config["keys"]["passphrase_env"] = "FCA_TEST_KEY_PASSPHRASE";
    write_file(pki.dir() / "config.json", config.dump(2));
    const auto csr = pki.csr("env", "p256", "env.example.test", "DNS:env.example.test");
    const std::string issue = "issue --csr " + shell_quote(csr.string()) + " --profile server";
    // Unset: the keys cannot be opened (a key failure, exit 1) and the reason says which variable.
    auto unset = run("env -u FCA_TEST_KEY_PASSPHRASE " + pki.command(issue));
    CHECK(unset.exit_code == 1);
    CHECK(has(unset.output, "FCA_TEST_KEY_PASSPHRASE"));
    std::string trimmed = passphrase.substr(0, passphrase.find('\n'));
    auto set = run("FCA_TEST_KEY_PASSPHRASE=" + shell_quote(trimmed) + " " + pki.command(issue));
    INFO(set.output);
    CHECK(set.exit_code == 0);
    // The secret is never echoed.
    CHECK_FALSE(has(set.output, trimmed));
    CHECK_FALSE(has(unset.output, trimmed));
  }
}

TEST_CASE("profile validity overrides from config.json apply", "[cli][config]") {
  Pki pki;
  pki.edit_config([](nlohmann::json& config) {
    config["profiles"]["nmos-node"] = {{"default_validity_days", 10}, {"max_validity_days", 20}};
  });
  const auto csr = pki.csr("short", "p256", "short.example.test", "DNS:short.example.test");
  const auto cert = pki.issue(csr);
  auto ends_within = [&](int days) {
    return run("openssl x509 -noout -checkend " + std::to_string(days * 86400) + " -in " + shell_quote(cert.string()))
               .exit_code != 0;
  };
  CHECK_FALSE(ends_within(9));
  CHECK(ends_within(11));
  // --days beyond the configured maximum never yields a longer certificate: refused (or capped).
  auto beyond = pki.fca_split("issue --csr " + shell_quote(csr.string()) + " --profile nmos-node --days 300");
  if (beyond.exit_code == 0) {
    const auto capped = pki.file("capped.pem");
    write_file(capped, beyond.out);
    CHECK(run("openssl x509 -noout -checkend " + std::to_string(21 * 86400) + " -in " + shell_quote(capped.string()))
              .exit_code != 0);
  } else {
    CHECK(beyond.exit_code == 3);
    CHECK(beyond.err.find("20") != std::string::npos);
  }
}

TEST_CASE("data directory: --dir anywhere, FACILITY_CA_DIR, and a missing one", "[cli][dir]") {
  TempDir tmp;
  const auto dir = tmp / "from-env";
  const auto binary = shell_quote(facility_ca_binary());
  auto init = run("FACILITY_CA_DIR=" + shell_quote(dir.string()) + " " + binary + " init --key-type p384");
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  REQUIRE(std::filesystem::exists(dir / "config.json"));
  CHECK(nlohmann::json::parse(read_file(dir / "config.json"))["ca"]["key_type"] == "p384");
  // --dir after the subcommand works as well as before it.
  CHECK(run(binary + " ca list --dir " + shell_quote(dir.string())).exit_code == 0);
  CHECK(run(binary + " --dir " + shell_quote(dir.string()) + " ca list").exit_code == 0);

  auto missing = run(binary + " --dir " + shell_quote((tmp / "nothing-here").string()) + " list");
  CHECK(missing.exit_code == 4);
  CHECK(has(missing.output, "facility-ca init"));
  CHECK_FALSE(std::filesystem::exists(tmp / "nothing-here"));

  // Default: ./facility-ca-data in the working directory.
  auto default_dir = run("cd " + shell_quote(tmp.path().string()) + " && env -u FACILITY_CA_DIR " + binary + " init");
  CHECK(default_dir.exit_code == 0);
  CHECK(std::filesystem::exists(tmp / "facility-ca-data" / "config.json"));
}

TEST_CASE("usage errors exit 2; --help lists the subcommands", "[cli][usage]") {
  const auto binary = shell_quote(facility_ca_binary());
  auto help = run(binary + " --help");
  CHECK(help.exit_code == 0);
  for (const std::string command : {"init", "ca", "issue", "keygen-issue", "revoke", "hold", "unhold", "renew", "list",
                                    "show", "backup", "verify-audit"}) {
    CHECK(has(help.output, "  " + command + " "));
  }
  auto ca_help = run(binary + " ca --help");
  for (const std::string command : {"list", "show", "create", "csr", "import-signed", "import", "set-default"}) {
    CHECK(has(ca_help.output, "  " + command + " "));
  }
  CHECK(run(binary).exit_code == 2);
  CHECK(run(binary + " frobnicate").exit_code == 2);
  CHECK(run(binary + " ca").exit_code == 2);
  auto missing_option = run(binary + " issue --profile server");
  CHECK(missing_option.exit_code == 2);
  CHECK(has(missing_option.output, "facility-ca: "));
  CHECK(has(missing_option.output, "--csr"));
  CHECK(run(binary + " issue --csr /no/such/file --profile server").exit_code == 2);
  CHECK(run(binary + " init --key-type dsa").exit_code == 2);
  CHECK(run(binary + " ca create x --cn X --days 0").exit_code == 2);
}

TEST_CASE("init --lab issues a valid, a revoked and a wrong-EKU certificate", "[cli][lab]") {
  Pki pki("--lab --organization \"Example Broadcast\" --country GB");
  const auto lab = pki.dir() / "lab";
  auto verify = [&](const std::string& name, const std::string& purpose) {
    return run("openssl verify -purpose " + purpose + " -CAfile " + shell_quote((lab / "root.pem").string()) +
               " -untrusted " + shell_quote((lab / "issuing.pem").string()) + " " +
               shell_quote((lab / (name + ".crt.pem")).string()));
  };
  CHECK(verify("valid", "sslserver").exit_code == 0);
  CHECK(verify("valid-rsa", "sslserver").exit_code == 0);
  CHECK(verify("wrong-eku", "sslserver").exit_code != 0);
  CHECK(verify("wrong-eku", "sslclient").exit_code == 0);
  CHECK(pki.x509_text(lab / "valid.crt.pem").find("DNS:localhost") != std::string::npos);
  CHECK(pki.x509_text(pki.root_pem()).find("O = Example Broadcast") != std::string::npos);
  CHECK(pki.x509_text(pki.root_pem()).find("C = GB") != std::string::npos);

  // The revoked one is revoked in the database (what the CRL and OCSP will say).
  const auto revoked_serial = pki.serial_of(lab / "revoked.crt.pem");
  auto revoked = pki.json("show " + revoked_serial + " --format json");
  CHECK(revoked["status"] == "revoked");
  CHECK(revoked["revocation_reason"] == "keyCompromise");
  CHECK(pki.json("list --status revoked --json").size() == 1);

  // Each key matches its certificate and is private to the owner.
  for (const std::string name : {"valid", "valid-rsa", "revoked", "wrong-eku"}) {
    const auto key = lab / (name + ".key.pem");
    CHECK(std::filesystem::status(key).permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    auto from_key = run("openssl pkey -pubout -in " + shell_quote(key.string()));
    auto from_cert = run("openssl x509 -noout -pubkey -in " + shell_quote((lab / (name + ".crt.pem")).string()));
    CHECK(from_key.exit_code == 0);
    CHECK(from_key.output == from_cert.output);
    CHECK(read_file(lab / (name + ".chain.pem")) ==
          read_file(lab / (name + ".crt.pem")) + read_file(lab / "ca-chain.pem"));
  }
}
