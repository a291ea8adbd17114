// A revoke that committed and died before it made the CRL: the database says revoked, the CRL does
// not. `serve` finds that out from the database alone, at start and at every scheduler pass, and
// repairs the CRL over HTTP and in the hash directory. Also: file modes of a served instance.
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fca/db/database.hpp"
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// What a killed `facility-ca revoke` leaves behind: the status change committed through the
// repository (audit entry and all), and no CRL regeneration.
void commit_revocation_only(const Pki& pki, const std::filesystem::path& leaf) {
  auto key = fca::db::load_or_create_audit_key(pki.dir() / "secrets" / "audit-key");
  REQUIRE(key.has_value());
  auto database = fca::db::Database::open(pki.dir() / "ca.db",
                                          fca::db::AuditSeal{*key, pki.dir() / "secrets" / "audit-head"});
  REQUIRE(database.has_value());
  auto issuing = (*database)->find_ca("issuing");
  REQUIRE(issuing.has_value());
  const auto now = std::chrono::system_clock::now();
  fca::StatusChange change{fca::CertificateStatus::valid, fca::CertificateStatus::revoked, now,
                           fca::RevocationReason::key_compromise, std::nullopt};
  const auto serial = pki.serial_of(leaf);
  auto revoked = (*database)->change_status(
      issuing->id, serial, change, fca::AuditEvent{"cli:test", "certificate.revoke", "certificate:issuing/" + serial, "{}", now});
  INFO((revoked ? std::string() : revoked.error().message));
  REQUIRE(revoked.has_value());
}

std::filesystem::path fetch_crl(ServeFixture& server, const std::string& name) {
  auto response = server.http("", "/crl/issuing.pem");
  INFO(response.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(response.status == 200);
  const auto pem = server.file(name);
  write_file(pem, response.body);
  return pem;
}

CommandResult verify_with_crl(const ServeFixture& server, const std::filesystem::path& crl, const std::filesystem::path& leaf) {
  return run("openssl verify -crl_check -CRLfile " + shell_quote(crl.string()) + " -CAfile " +
             shell_quote(server.chain_pem().string()) + " " + shell_quote(leaf.string()));
}

CommandResult verify_with_hash_dir(const ServeFixture& server, const std::filesystem::path& leaf) {
  return run("openssl verify -no-CAfile -no-CAstore -CApath " + shell_quote((server.pki().dir() / "crl-hash").string()) +
             " -crl_check " + shell_quote(leaf.string()));
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 0777;
}

}  // namespace

TEST_CASE("serve repairs the CRL of a revoke that died after its commit, at start and on its timer",
          "[serve][crl][repair]") {
  ServeFixture server;
  const auto crashed = server.issue_leaf("crashed");
  const auto fresh = fetch_crl(server, "before.pem");
  {
    auto ok = verify_with_crl(server, fresh, crashed);
    INFO(ok.output);
    REQUIRE(ok.exit_code == 0);
  }
  REQUIRE(server.stop() == 0);

  commit_revocation_only(server.pki(), crashed);
  // The CRL in the hash directory is the one from before: the crash is real.
  {
    auto stale = verify_with_hash_dir(server, crashed);
    INFO(stale.output);
    REQUIRE(stale.exit_code == 0);
  }

  server.start();
  {
    // The hash directory first: no HTTP request has asked for the CRL yet.
    auto in_dir = verify_with_hash_dir(server, crashed);
    INFO(in_dir.output << "\nserver stderr:\n" << server.log());
    CHECK(in_dir.exit_code != 0);
    CHECK(contains(in_dir.output, "certificate revoked"));
    auto over_http = verify_with_crl(server, fetch_crl(server, "after-start.pem"), crashed);
    INFO(over_http.output);
    CHECK(over_http.exit_code != 0);
    CHECK(contains(over_http.output, "certificate revoked"));
  }

  // The same while serving (a CLI revoke beside the server, killed before its CRL): the next scheduler
  // pass, woken by SIGHUP here, repairs the hash directory.
  const auto second = server.issue_leaf("crashed-too");
  {
    auto accepted = verify_with_hash_dir(server, second);
    INFO(accepted.output);
    REQUIRE(accepted.exit_code == 0);
  }
  const int passes = occurrences_of(server.log(), "regenerated 1 CRL(s)");
  commit_revocation_only(server.pki(), second);
  server.send_signal(SIGHUP);
  REQUIRE(server.wait_for_log("regenerated 1 CRL(s)", passes + 1));
  auto in_dir = verify_with_hash_dir(server, second);
  INFO(in_dir.output << "\nserver stderr:\n" << server.log());
  CHECK(in_dir.exit_code != 0);
  CHECK(contains(in_dir.output, "certificate revoked"));
  auto over_http = verify_with_crl(server, fetch_crl(server, "after-pass.pem"), second);
  INFO(over_http.output);
  CHECK(contains(over_http.output, "certificate revoked"));
}

TEST_CASE("a served instance keeps its database, WAL and secrets private; the hash directory is public",
          "[serve][permissions]") {
  ServeFixture server;
  const auto dir = server.pki().dir();
  // While serving, the WAL and shared-memory files exist.
  CHECK(mode_of(dir / "ca.db") == 0600);
  CHECK(mode_of(dir / "ca.db-wal") == 0600);
  CHECK(mode_of(dir / "ca.db-shm") == 0600);
  CHECK(mode_of(dir / "secrets" / "audit-key") == 0600);
  CHECK(mode_of(dir / "secrets" / "audit-head") == 0600);
  CHECK(mode_of(dir / "crl-hash") == 0755);
  for (const auto& entry : std::filesystem::directory_iterator(dir / "crl-hash")) {
    INFO(entry.path());
    CHECK(mode_of(entry.path()) == 0644);
  }
}

TEST_CASE("crl.hash_dir_group makes the hash directory readable by that group only", "[serve][permissions]") {
  const struct group* own = ::getgrgid(::getgid());
  REQUIRE(own != nullptr);
  const std::string group_name = own->gr_name;
  ServeFixture server([&](nlohmann::json& config) { config["crl"]["hash_dir_group"] = group_name; });
  const auto hash_dir = server.pki().dir() / "crl-hash";
  CHECK(mode_of(hash_dir) == 0750);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(hash_dir)) {
    INFO(entry.path());
    CHECK(mode_of(entry.path()) == 0640);
    ++files;
  }
  CHECK(files >= 4);  // root and issuing: a certificate and a CRL each
  // A group that does not exist is a config error, exit 2, before anything starts.
  server.pki().edit_config([](nlohmann::json& config) { config["crl"]["hash_dir_group"] = "no-such-group-fca"; });
  auto refused = server.pki().fca_split("list");
  INFO(refused.err);
  CHECK(refused.exit_code == 2);
  CHECK(contains(refused.err, "crl.hash_dir_group"));
}
