// Requests the CA must refuse: exit 3, a reason on stderr, and nothing stored.
#include <fstream>

#include "cli_fixture.hpp"

using namespace fca::test;

namespace {

// Re-encodes `csr_file` with one bit of its signature flipped: still a well-formed CSR, wrongly signed.
std::filesystem::path with_broken_signature(const Pki& pki, const std::filesystem::path& csr_file) {
  const auto der_file = pki.file("broken.der");
  REQUIRE(run("openssl req -in " + shell_quote(csr_file.string()) + " -outform DER -out " +
              shell_quote(der_file.string()))
              .exit_code == 0);
  auto der = read_file(der_file);
  // The signature BIT STRING ends the DER; its last byte is signature, not structure.
  der.back() = static_cast<char>(der.back() ^ 0x01);
  write_file(der_file, der);
  const auto broken = pki.file("broken.csr");
  REQUIRE(run("openssl req -inform DER -in " + shell_quote(der_file.string()) + " -out " + shell_quote(broken.string()))
              .exit_code == 0);
  // Sanity: openssl itself now rejects the signature (OpenSSL 3.0 says so but still exits 0).
  auto check = run("openssl req -noout -verify -in " + shell_quote(broken.string()));
  REQUIRE(check.output.find("verify failure") != std::string::npos);
  return broken;
}

struct Refusal {
  std::string name;
  std::string key_type;
  std::string cn;
  std::string san;
  std::vector<std::string> extra;
  std::string profile;
  std::string reason_part;  // a word the stderr reason must contain
};

}  // namespace

TEST_CASE("refused requests exit 3 with a reason and store nothing", "[cli][refuse]") {
  Pki pki;
  // One accepted certificate first, so "unchanged" is not trivially zero.
  pki.issue(pki.csr("ok", "p256", "ok.example.test", "DNS:ok.example.test"));
  const auto rows_before = pki.certificate_rows();
  const auto listed_before = pki.listed_certificates();
  REQUIRE(rows_before == static_cast<long long>(listed_before));

  const std::vector<Refusal> refusals{
      {"ca-true", "p256", "sneaky.example.test", "DNS:sneaky.example.test", {"basicConstraints=critical,CA:TRUE"},
       "server", "CA:TRUE"},
      {"wildcard", "p256", "wild.example.test", "DNS:*.example.test", {}, "nmos-node", "wildcard"},
      {"ip-san", "p256", "ip.example.test", "DNS:ip.example.test,IP:192.0.2.10", {}, "nmos-node", "192.0.2.10"},
      {"rsa-1024", "rsa1024", "weak.example.test", "DNS:weak.example.test", {}, "nmos-node", "1024"},
  };
  for (const auto& refusal : refusals) {
    DYNAMIC_SECTION(refusal.name) {
      const auto csr = pki.csr(refusal.name, refusal.key_type, refusal.cn, refusal.san, refusal.extra);
      auto result = pki.fca_split("issue --csr " + shell_quote(csr.string()) + " --profile " + refusal.profile);
      INFO(result.err);
      CHECK(result.exit_code == 3);
      CHECK(result.out.empty());
      CHECK(result.err.starts_with("facility-ca: "));
      CHECK(result.err.find(refusal.reason_part) != std::string::npos);
      CHECK(pki.listed_certificates() == listed_before);
      CHECK(pki.certificate_rows() == rows_before);
    }
  }

  SECTION("broken CSR signature") {
    const auto good = pki.csr("to-break", "rsa2048", "broken.example.test", "DNS:broken.example.test");
    const auto broken = with_broken_signature(pki, good);
    auto result = pki.fca_split("issue --csr " + shell_quote(broken.string()) + " --profile nmos-node");
    INFO(result.err);
    CHECK(result.exit_code == 3);
    CHECK(result.err.starts_with("facility-ca: "));
    CHECK(result.err.find("signature") != std::string::npos);
    CHECK(pki.listed_certificates() == listed_before);
    CHECK(pki.certificate_rows() == rows_before);
    // The unbroken request from the same key is fine: the refusal was about the signature.
    CHECK(pki.fca("issue --csr " + shell_quote(good.string()) + " --profile nmos-node").exit_code == 0);
  }

  SECTION("not a CSR at all") {
    const auto junk = pki.file("junk.csr");
    write_file(junk, "-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n");
    auto result = pki.fca_split("issue --csr " + shell_quote(junk.string()) + " --profile nmos-node");
    CHECK(result.exit_code == 3);
    CHECK(result.err.starts_with("facility-ca: "));
    CHECK(pki.certificate_rows() == rows_before);
  }

  SECTION("unknown profile") {
    const auto csr = pki.csr("profile", "p256", "profile.example.test", "DNS:profile.example.test");
    auto result = pki.fca_split("issue --csr " + shell_quote(csr.string()) + " --profile no-such-profile");
    CHECK(result.exit_code == 3);
    CHECK(result.err.find("no-such-profile") != std::string::npos);
    CHECK(pki.certificate_rows() == rows_before);
  }
}

TEST_CASE("policy.allowed_dns_suffixes in config.json limits the names", "[cli][refuse][config]") {
  Pki pki;
  pki.edit_config([](nlohmann::json& config) { config["policy"]["allowed_dns_suffixes"] = {"plant.example"}; });
  const auto rows_before = pki.certificate_rows();

  const auto outside = pki.csr("outside", "p256", "cam1.elsewhere.example", "DNS:cam1.elsewhere.example");
  auto refused = pki.fca_split("issue --csr " + shell_quote(outside.string()) + " --profile nmos-node");
  INFO(refused.err);
  CHECK(refused.exit_code == 3);
  CHECK(refused.err.find("cam1.elsewhere.example") != std::string::npos);
  CHECK(pki.certificate_rows() == rows_before);

  // A second SAN outside the suffix spoils an otherwise good request.
  const auto mixed = pki.csr("mixed", "p256", "cam1.plant.example", "DNS:cam1.plant.example,DNS:evil.example.org");
  CHECK(pki.fca("issue --csr " + shell_quote(mixed.string()) + " --profile nmos-node").exit_code == 3);
  CHECK(pki.certificate_rows() == rows_before);

  const auto inside = pki.csr("inside", "p256", "cam1.plant.example", "DNS:cam1.plant.example");
  CHECK(pki.verify(pki.issue(inside)).exit_code == 0);
  CHECK(pki.certificate_rows() == rows_before + 1);
}

TEST_CASE("policy switches in config.json allow IP SANs", "[cli][config]") {
  Pki pki;
  const auto csr = pki.csr("ip", "p256", "ip.example.test", "DNS:ip.example.test,IP:192.0.2.10");
  CHECK(pki.fca("issue --csr " + shell_quote(csr.string()) + " --profile nmos-node").exit_code == 3);
  pki.edit_config([](nlohmann::json& config) { config["policy"]["allow_ip_sans"] = true; });
  const auto cert = pki.issue(csr);
  CHECK(pki.x509_text(cert).find("IP Address:192.0.2.10") != std::string::npos);
}
