#pragma once
// A CA instance on a temporary directory: real SQLite database, file key store, a movable clock,
// a root CA "root" and the default issuing CA "issuing" below it.
#include <memory>

#include "fca/core/authority.hpp"
#include "fca/db/database.hpp"
#include "test_support.hpp"

namespace fca::test {

struct AuthorityFixture {
  TempDir dir;
  std::unique_ptr<db::Database> database;
  KeyStoreRouter key_store;
  std::unique_ptr<SigningKeys> keys;
  ManualClock clock{std::chrono::system_clock::now()};
  std::unique_ptr<CertificateAuthority> authority;

  explicit AuthorityFixture(CaSettings settings = default_settings(), const std::string& ca_key = "p256") {
    database = std::move(*db::Database::open(dir / "ca.db"));
    key_store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{dir / "keys", "test passphrase", false}), true);
    keys = std::make_unique<SigningKeys>(key_store);
    authority = std::make_unique<CertificateAuthority>(*database, *database, *keys, clock, std::move(settings));
    auto root = authority->create_ca({"root", "Test Root CA", *KeySpec::parse(ca_key), 7300, std::nullopt, std::nullopt, false, "test"});
    if (!root) throw std::runtime_error(root.error().message);
    auto issuing =
        authority->create_ca({"issuing", "Test Issuing CA", *KeySpec::parse(ca_key), 3650, "root", 0, true, "test"});
    if (!issuing) throw std::runtime_error(issuing.error().message);
    write_file(dir / "root.pem", root->certificate_pem);
    write_file(dir / "issuing.pem", issuing->certificate_pem);
  }

  static CaSettings default_settings() {
    CaSettings settings;
    settings.urls.base = "http://127.0.0.1:8080";
    settings.subject.organization = "Facility Test";
    return settings;
  }

  // Verifies a PEM certificate against root + issuing with the openssl command; returns its output.
  CommandResult openssl_verify(const std::string& pem) {
    write_file(dir / "leaf.pem", pem);
    return run("openssl verify -CAfile " + shell_quote((dir / "root.pem").string()) + " -untrusted " +
               shell_quote((dir / "issuing.pem").string()) + " " + shell_quote((dir / "leaf.pem").string()));
  }

  // Issues a certificate for a fresh P-256 key with CN (and DNS SAN) `cn`; fails the test on refusal.
  IssuedCertificate issue(const std::string& cn, const std::string& profile = "nmos-node") {
    IssueRequest r;
    r.csr = csr("p256", "/CN=" + cn);
    r.profile = profile;
    r.requester = "test";
    auto issued = authority->issue(r);
    if (!issued) throw std::runtime_error("issue " + cn + ": " + issued.error().message);
    return std::move(*issued);
  }

  std::int64_t certificate_rows() { return *database->count_certificates(); }

  std::string csr(const std::string& key_type, const std::string& subject, const std::string& san = "",
                  const std::vector<std::string>& extra = {}) {
    static int counter = 0;
    return make_csr_with_openssl(dir / ("req" + std::to_string(++counter) + ".key"), key_type, subject, san, extra);
  }
};

}  // namespace fca::test
