// Revocation states, listing, showing, backup and the audit chain, through the CLI.
#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count_status(const nlohmann::json& list, const std::string& status) {
  std::size_t n = 0;
  for (const auto& record : list) n += record["status"] == status ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("revoke, hold, unhold and revoking twice", "[cli][revoke]") {
  Pki pki;
  const auto a = pki.serial_of(pki.issue(pki.csr("a", "p256", "a.example.test", "DNS:a.example.test")));
  const auto b = pki.serial_of(pki.issue(pki.csr("b", "p256", "b.example.test", "DNS:b.example.test")));

  // The invalidity date must lie within the certificate's life: its notBefore is the earliest allowed.
  const std::string not_before = pki.json("show " + a + " --format json")["not_before"];
  auto revoked = pki.json("revoke " + a + " --reason keyCompromise --invalidity-date " + not_before + " --json");
  CHECK(revoked["status"] == "revoked");
  CHECK(revoked["revocation_reason"] == "keyCompromise");
  CHECK(revoked["invalidity_date"] == not_before);
  CHECK_FALSE(revoked["revoked_at"].is_null());

  auto twice = pki.fca_split("revoke " + a + " --reason superseded");
  CHECK(twice.exit_code == 5);
  CHECK(twice.err.starts_with("facility-ca: "));
  CHECK(pki.json("show " + a + " --format json")["revocation_reason"] == "keyCompromise");
  // A revoked certificate never comes back.
  CHECK(pki.fca("unhold " + a).exit_code == 5);

  auto held = pki.json("hold " + b + " --json");
  CHECK(held["status"] == "on-hold");
  CHECK(held["revocation_reason"] == "certificateHold");
  CHECK(pki.fca("hold " + b).exit_code == 5);
  auto released = pki.json("unhold " + b + " --json");
  CHECK(released["status"] == "valid");
  CHECK(released["revoked_at"].is_null());
  CHECK(pki.fca("unhold " + b).exit_code == 5);

  // Serials are accepted in any case and with colons.
  std::string lower_colons;
  for (std::size_t i = 0; i < b.size(); i += 2) {
    if (i > 0) lower_colons += ':';
    for (char c : b.substr(i, 2)) lower_colons += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  CHECK(pki.json("show " + lower_colons + " --format json")["serial"] == b);

  CHECK(pki.fca("revoke 0BADC0DE --reason keyCompromise").exit_code == 4);
  CHECK(pki.fca("show 0BADC0DE").exit_code == 4);
  // Bad arguments are usage errors, before anything is looked up.
  CHECK(pki.fca("revoke " + b + " --reason becauseISaidSo").exit_code == 2);
  CHECK(pki.fca("revoke " + b + " --reason keyCompromise --invalidity-date yesterday").exit_code == 2);
  CHECK(pki.fca("revoke " + b).exit_code == 2);
  CHECK(pki.json("show " + b + " --format json")["status"] == "valid");
}

TEST_CASE("list filters and show formats", "[cli][list][show]") {
  Pki pki;
  const auto valid = pki.serial_of(pki.issue(pki.csr("v", "p256", "v.example.test", "DNS:v.example.test")));
  const auto revoked = pki.serial_of(pki.issue(pki.csr("r", "p256", "r.example.test", "DNS:r.example.test")));
  const auto held =
      pki.serial_of(pki.issue(pki.csr("h", "rsa2048", "h.example.test", "DNS:h.example.test"), "server"));
  pki.out("revoke " + revoked + " --reason superseded");
  pki.out("hold " + held);

  auto all = pki.json("list --json");
  // init's issuing CA certificate is in the table too (issued by root, profile sub-ca).
  CHECK(all.size() == 4);
  CHECK(count_status(all, "valid") == 2);

  auto revoked_only = pki.json("list --status revoked --json");
  REQUIRE(revoked_only.size() == 1);
  CHECK(revoked_only[0]["serial"] == revoked);
  auto held_only = pki.json("list --status on-hold --json");
  REQUIRE(held_only.size() == 1);
  CHECK(held_only[0]["serial"] == held);
  CHECK(held_only[0]["key_type"] == "rsa2048");

  auto servers = pki.json("list --profile server --json");
  REQUIRE(servers.size() == 1);
  CHECK(servers[0]["serial"] == held);

  auto from_issuing = pki.json("list --ca issuing --json");
  CHECK(from_issuing.size() == 3);
  auto from_root = pki.json("list --ca root --json");
  REQUIRE(from_root.size() == 1);
  CHECK(from_root[0]["profile"] == "sub-ca");
  CHECK(pki.fca("list --ca nope").exit_code == 4);

  // Leaves (nmos-node default 90 days here) end within 400 days; the issuing CA (3650 days) does not.
  CHECK(pki.json("list --expiring-days 400 --json").size() == 3);
  CHECK(pki.json("list --expiring-days 1 --json").empty());
  CHECK(pki.json("list --limit 2 --json").size() == 2);
  CHECK(pki.fca("list --status bogus").exit_code == 2);

  // The table has a header and one line per certificate.
  auto table = pki.out("list --status valid");
  CHECK(table.starts_with("SERIAL"));
  CHECK(has(table, valid));
  CHECK_FALSE(has(table, revoked));
  CHECK(std::count(table.begin(), table.end(), '\n') == 3);

  // show: PEM (default), text like openssl x509 -text, JSON.
  const auto pem = pki.out("show " + valid);
  CHECK(pem.starts_with("-----BEGIN CERTIFICATE-----"));
  const auto pem_file = pki.file("shown.pem");
  write_file(pem_file, pem);
  CHECK(pki.serial_of(pem_file) == valid);
  const auto text = pki.out("show " + valid + " --format text");
  CHECK(has(text, "Certificate:"));
  CHECK(has(text, "TLS Web Server Authentication"));
  CHECK(has(text, "DNS:v.example.test"));
  auto json = pki.json("show " + valid + " --format json");
  CHECK(json["common_name"] == "v.example.test");
  CHECK(json["certificate_pem"] == pem);
  CHECK(pki.fca("show " + valid + " --format yaml").exit_code == 2);
}

TEST_CASE("renew issues a new certificate for the same names and leaves the old one valid", "[cli][renew]") {
  Pki pki;
  const auto old_cert = pki.issue(pki.csr("old", "p256", "renew.example.test", "DNS:renew.example.test"));
  const auto old_serial = pki.serial_of(old_cert);
  const auto new_csr = pki.csr("new", "p384", "renew.example.test", "DNS:renew.example.test");
  auto renewed = pki.json("renew " + old_serial + " --csr " + shell_quote(new_csr.string()) + " --json");
  CHECK(renewed["serial"] != old_serial);
  CHECK(renewed["renewal_of"] == old_serial);
  CHECK(renewed["key_type"] == "p384");
  CHECK(renewed["common_name"] == "renew.example.test");
  CHECK(pki.json("show " + old_serial + " --format json")["status"] == "valid");

  pki.out("revoke " + old_serial + " --reason superseded");
  // A revoked certificate is not renewed.
  CHECK(pki.fca("renew " + old_serial + " --csr " + shell_quote(new_csr.string())).exit_code != 0);
}

TEST_CASE("backup opens as a database of its own; verify-audit finds tampering", "[cli][backup][audit]") {
  Pki pki;
  const auto serial = pki.serial_of(pki.issue(pki.csr("x", "p256", "x.example.test", "DNS:x.example.test")));
  pki.out("revoke " + serial + " --reason keyCompromise");

  const auto backup = pki.file("backup.db");
  pki.out("backup " + shell_quote(backup.string()));
  auto integrity = run("sqlite3 " + shell_quote(backup.string()) + " 'PRAGMA integrity_check'");
  CHECK(integrity.exit_code == 0);
  CHECK(integrity.output == "ok\n");
  auto rows = run("sqlite3 " + shell_quote(backup.string()) + " 'select count(*) from certificates'");
  CHECK(std::stoll(rows.output) == pki.certificate_rows());
  auto status = run("sqlite3 " + shell_quote(backup.string()) + " \"select status from certificates where serial = '" +
                    serial + "'\"");
  CHECK(status.output == "revoked\n");
  // Never over an existing file.
  CHECK(pki.fca("backup " + shell_quote(backup.string())).exit_code == 5);

  auto intact = pki.fca_split("verify-audit");
  CHECK(intact.exit_code == 0);
  CHECK(has(intact.out, "intact"));

  // Tamper with one row behind the application's back (the trigger only stops accidents).
  const auto db = shell_quote((pki.dir() / "ca.db").string());
  auto tamper = run("sqlite3 " + db +
                    " \"DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'cli:mallory' WHERE sequence = 2;\"");
  INFO(tamper.output);
  REQUIRE(tamper.exit_code == 0);
  auto broken = pki.fca_split("verify-audit");
  INFO(broken.err);
  CHECK(broken.exit_code == 1);
  CHECK(broken.err.starts_with("facility-ca: "));
  CHECK(has(broken.err, "entry 2"));

  // The backup taken before the tampering still verifies.
  auto backup_copy = pki.file("backup-dir");
  std::filesystem::create_directories(backup_copy);
  std::filesystem::copy_file(pki.dir() / "config.json", backup_copy / "config.json");
  std::filesystem::copy(pki.dir() / "secrets", backup_copy / "secrets");
  std::filesystem::copy_file(backup, backup_copy / "ca.db");
  CHECK(run(shell_quote(facility_ca_binary()) + " --dir " + shell_quote(backup_copy.string()) + " verify-audit")
            .exit_code == 0);
}
