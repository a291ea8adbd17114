// Inputs with limits and output that is safe: every refusal exits with its documented status, says
// why, and leaves no certificate row (and no half-written file) behind.
#include <openssl/x509v3.h>

#include <algorithm>

#include "cli_fixture.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/x509.hpp"

using namespace fca::test;

namespace {

// Runs an openssl command line that must succeed.
void openssl(const std::string& args) {
  auto result = run("openssl " + args);
  INFO("openssl " << args << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
}

// A CSR signed by `key_file` (made by the caller) with extra `openssl req` options.
std::filesystem::path csr_for_key(const Pki& pki, const std::string& name, const std::filesystem::path& key_file,
                                  const std::string& cn, const std::string& req_options) {
  const auto csr = pki.file(name + ".csr");
  openssl("req -new -key " + shell_quote(key_file.string()) + " -subj " + shell_quote("/CN=" + cn) + " " + req_options +
          " -out " + shell_quote(csr.string()));
  return csr;
}

std::filesystem::path key(const Pki& pki, const std::string& name, const std::string& genpkey_options) {
  const auto file = pki.file(name + ".key");
  openssl("genpkey " + genpkey_options + " -out " + shell_quote(file.string()));
  return file;
}

struct Refused {
  int exit_code;
  std::string reason_part;
};

void expect_refused(const Pki& pki, const std::string& args, const Refused& expected, long long rows_before) {
  auto result = pki.fca_split(args);
  INFO("facility-ca " << args << "\nstderr: " << result.err);
  CHECK(result.exit_code == expected.exit_code);
  CHECK(result.err.starts_with("facility-ca: "));
  CHECK(result.err.find(expected.reason_part) != std::string::npos);
  CHECK(pki.certificate_rows() == rows_before);
}

std::string issue_args(const std::filesystem::path& csr) {
  return "issue --csr " + shell_quote(csr.string()) + " --profile nmos-node";
}

}  // namespace

TEST_CASE("CSR input is bounded and must be exactly one request", "[cli][limits]") {
  Pki pki;
  const auto good = pki.csr("good", "p256", "good.example.test", "DNS:good.example.test");
  const auto rows = pki.certificate_rows();

  SECTION("/dev/zero is refused after at most 1 MiB") {
    expect_refused(pki, "issue --csr /dev/zero --profile nmos-node", {3, "larger than"}, rows);
  }
  SECTION("more than 1 MiB on stdin") {
    const auto big = pki.file("big.csr");
    write_file(big, read_file(good) + std::string(2 * 1024 * 1024, 'A'));
    expect_refused(pki, "issue --csr - --profile nmos-node < " + shell_quote(big.string()), {3, "larger than"}, rows);
  }
  SECTION("PEM followed by garbage") {
    const auto trailing = pki.file("trailing.csr");
    write_file(trailing, read_file(good) + std::string(10000, 'x') + "\n");
    expect_refused(pki, issue_args(trailing), {3, "trailing data"}, rows);
  }
  SECTION("two concatenated CSRs") {
    const auto other = pki.csr("other", "p256", "other.example.test", "DNS:other.example.test");
    const auto both = pki.file("both.csr");
    write_file(both, read_file(good) + read_file(other));
    expect_refused(pki, issue_args(both), {3, "more than one"}, rows);
  }
  SECTION("DER followed by trailing bytes") {
    const auto der = pki.file("good.der");
    openssl("req -in " + shell_quote(good.string()) + " -outform DER -out " + shell_quote(der.string()));
    write_file(der, read_file(der) + std::string("\x30\x00", 2));
    expect_refused(pki, issue_args(der), {3, "trailing data"}, rows);
  }
  SECTION("the same request alone is issued") {
    CHECK(pki.fca(issue_args(good)).exit_code == 0);
    CHECK(pki.certificate_rows() == rows + 1);
  }
}

TEST_CASE("key and CSR policy refusals", "[cli][limits][policy]") {
  Pki pki;
  const auto rows = pki.certificate_rows();
  const std::string san = " -addext " + shell_quote("subjectAltName=DNS:node.example.test");

  SECTION("P-521") {
    const auto csr = csr_for_key(pki, "p521", key(pki, "p521", "-algorithm EC -pkeyopt ec_paramgen_curve:P-521"),
                                 "node.example.test", san);
    expect_refused(pki, issue_args(csr), {3, "P-521"}, rows);
  }
  SECTION("RSA with e = 3") {
    const auto csr = csr_for_key(
        pki, "e3", key(pki, "e3", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3"),
        "node.example.test", san);
    expect_refused(pki, issue_args(csr), {3, "exponent 3"}, rows);
  }
  SECTION("RSA larger than policy.max_rsa_bits") {
    pki.edit_config([](nlohmann::json& config) { config["policy"]["max_rsa_bits"] = 2048; });
    const auto csr = pki.csr("rsa3072", "rsa3072", "node.example.test", "DNS:node.example.test");
    expect_refused(pki, issue_args(csr), {3, "at most 2048"}, rows);
  }
  SECTION("SHA-1 signed CSR") {
    const auto csr = csr_for_key(pki, "sha1", key(pki, "sha1", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"),
                                 "node.example.test", "-sha1" + san);
    expect_refused(pki, issue_args(csr), {3, "SHA-256 or stronger"}, rows);
  }
  SECTION("more SANs than policy.max_sans") {
    pki.edit_config([](nlohmann::json& config) { config["policy"]["max_sans"] = 3; });
    const auto csr = pki.csr("many", "p256", "a.example.test",
                             "DNS:a.example.test,DNS:b.example.test,DNS:c.example.test,DNS:d.example.test");
    expect_refused(pki, issue_args(csr), {3, "max_sans"}, rows);
    // Three names are fine.
    const auto three = pki.csr("three", "p256", "a.example.test", "DNS:a.example.test,DNS:b.example.test,DNS:c.example.test");
    CHECK(pki.fca(issue_args(three)).exit_code == 0);
  }
  SECTION("default SAN cap refuses 150 names") {
    std::string names = "DNS:n0.example.test";
    for (int i = 1; i < 150; ++i) names += ",DNS:n" + std::to_string(i) + ".example.test";
    const auto csr = pki.csr("150", "p256", "n0.example.test", names);
    expect_refused(pki, issue_args(csr), {3, "at most 100"}, rows);
  }
  SECTION("an unreadable subjectAltName extension refuses the CSR instead of being dropped") {
    // The extension's value is an OCTET STRING, not GeneralNames: it cannot be decoded.
    const auto csr = csr_for_key(pki, "badsan", key(pki, "badsan", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"),
                                 "node.example.test", "-addext " + shell_quote("subjectAltName=DER:0403010203"));
    expect_refused(pki, issue_args(csr), {3, "subjectAltName"}, rows);
  }
  SECTION("the same keys and digests that policy allows are issued") {
    const auto rsa = pki.csr("rsa", "rsa2048", "rsa.example.test", "DNS:rsa.example.test");
    CHECK(pki.fca(issue_args(rsa)).exit_code == 0);
    const auto ed = pki.csr("ed", "ed25519", "ed.example.test", "DNS:ed.example.test");
    CHECK(pki.fca(issue_args(ed)).exit_code == 0);
    const auto sha384 = csr_for_key(pki, "sha384", key(pki, "sha384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384"),
                                    "node.example.test", "-sha384" + san);
    CHECK(pki.fca(issue_args(sha384)).exit_code == 0);
    CHECK(pki.certificate_rows() == rows + 3);
  }
}

TEST_CASE("invalid A-labels and reserved hyphens are refused", "[cli][limits][idna]") {
  Pki pki;
  const auto rows = pki.certificate_rows();
  // xn--a decodes to U+0080 (a C1 control); xn--zz and xn--99999999 are incomplete Punycode.
  // (xn--zzzzzzz is valid Punycode of three CJK ideographs, and is accepted.)
  for (const std::string name : {"xn--a.example.test", "xn--zz.example.test", "xn--99999999.example.test",
                                 "ab--cd.example.test"}) {
    DYNAMIC_SECTION(name) {
      const auto csr = pki.csr("idna", "p256", name, "DNS:" + name);
      expect_refused(pki, issue_args(csr), {3, name}, rows);
    }
  }
  SECTION("a real A-label is issued") {
    // "bücher" in Punycode.
    const auto csr = pki.csr("idna-ok", "p256", "xn--bcher-kva.example.test", "DNS:xn--bcher-kva.example.test");
    CHECK(pki.fca(issue_args(csr)).exit_code == 0);
    CHECK(pki.certificate_rows() == rows + 1);
  }
}

TEST_CASE("revoke --invalidity-date stays within the certificate's life", "[cli][limits][revoke]") {
  Pki pki;
  const auto cert = pki.issue(pki.csr("r", "p256", "r.example.test", "DNS:r.example.test"));
  const auto serial = pki.serial_of(cert);
  for (const std::string date : {"0000-01-01", "1753-01-01", "9999-12-31T23:59:59Z", "2000-01-01"}) {
    DYNAMIC_SECTION(date) {
      auto result = pki.fca_split("revoke " + serial + " --reason keyCompromise --invalidity-date " + date);
      INFO(result.err);
      CHECK(result.exit_code == 2);
      CHECK(pki.json("show " + serial + " --format json")["status"] == "valid");
    }
  }
  SECTION("in the future") {
    auto result = pki.fca_split("revoke " + serial + " --reason keyCompromise --invalidity-date 2199-01-01");
    INFO(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("future") != std::string::npos);
    CHECK(pki.json("show " + serial + " --format json")["status"] == "valid");
  }
}

TEST_CASE("--out never replaces a file and is checked before anything is committed", "[cli][output]") {
  Pki pki;
  const auto csr = pki.csr("out", "p256", "out.example.test", "DNS:out.example.test");
  const auto rows = pki.certificate_rows();
  const auto existing = pki.file("existing.pem");
  write_file(existing, "keep me\n");

  SECTION("issue --out onto an existing file") {
    expect_refused(pki, issue_args(csr) + " --out " + shell_quote(existing.string()), {5, "exists"}, rows);
    CHECK(read_file(existing) == "keep me\n");
  }
  SECTION("issue --out onto the instance's own config.json") {
    const auto config = read_file(pki.dir() / "config.json");
    expect_refused(pki, issue_args(csr) + " --out " + shell_quote((pki.dir() / "config.json").string()), {5, "exists"},
                   rows);
    CHECK(read_file(pki.dir() / "config.json") == config);
  }
  SECTION("issue --chain-out onto an existing file") {
    expect_refused(pki,
                   issue_args(csr) + " --out " + shell_quote(pki.file("new.pem").string()) + " --chain-out " +
                       shell_quote(existing.string()),
                   {5, "exists"}, rows);
    CHECK_FALSE(std::filesystem::exists(pki.file("new.pem")));
  }
  SECTION("issue --out into a directory that does not exist") {
    expect_refused(pki, issue_args(csr) + " --out /nonexistent/x.pem", {1, "/nonexistent/x.pem"}, rows);
  }
  SECTION("renew --out onto an existing file") {
    const auto cert = pki.issue(csr);
    const auto serial = pki.serial_of(cert);
    const auto renewal = pki.csr("renewal", "p256", "out.example.test", "DNS:out.example.test");
    expect_refused(pki, "renew " + serial + " --csr " + shell_quote(renewal.string()) + " --out " +
                            shell_quote(existing.string()),
                   {5, "exists"}, rows + 1);
  }
  SECTION("ca csr --out onto an existing file creates no CA") {
    auto result = pki.fca_split("ca csr sub2 --cn 'Sub Two' --out " + shell_quote(existing.string()));
    INFO(result.err);
    CHECK(result.exit_code == 5);
    CHECK(read_file(existing) == "keep me\n");
    CHECK(pki.fca("ca show sub2").exit_code == 4);
  }
  SECTION("a fresh --out is written whole, with no temporary left beside it") {
    const auto out = pki.file("fresh.pem");
    const auto chain = pki.file("fresh-chain.pem");
    CHECK(pki.fca(issue_args(csr) + " --out " + shell_quote(out.string()) + " --chain-out " + shell_quote(chain.string()))
              .exit_code == 0);
    CHECK(pki.verify(out).exit_code == 0);
    CHECK(read_file(chain).starts_with(read_file(out)));
    CHECK((std::filesystem::status(out).permissions() & std::filesystem::perms::all) == std::filesystem::perms(0644));
    for (const auto& entry : std::filesystem::directory_iterator(out.parent_path())) {
      CHECK(entry.path().filename().string().find("fresh.pem.") == std::string::npos);
    }
  }
}

namespace {

// A CSR (P-256, SHA-256) whose CN and DNS SAN are `name`, bytes as given: openssl's command line
// cannot carry NUL, so the request is built with the library.
std::string csr_named(const std::string& name) {
  fca::PKeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  fca::X509ReqPtr req(X509_REQ_new());
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(subject, "CN", V_ASN1_UTF8STRING, reinterpret_cast<const unsigned char*>(name.data()),
                             static_cast<int>(name.size()), -1, 0);
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* dns = GENERAL_NAME_new();
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  ASN1_STRING_set(text, name.data(), static_cast<int>(name.size()));
  GENERAL_NAME_set0_value(dns, GEN_DNS, text);
  sk_GENERAL_NAME_push(names, dns);
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(extensions, X509V3_EXT_i2d(NID_subject_alt_name, 0, names));
  X509_REQ_add_extensions(req.get(), extensions);
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  GENERAL_NAMES_free(names);
  X509_REQ_set_pubkey(req.get(), key.get());
  REQUIRE(X509_REQ_sign(req.get(), key.get(), EVP_sha256()) > 0);
  return fca::to_pem(req.get());
}

bool has_raw_control(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n') || c == 0x7F) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("names with control characters are refused, and the refusal carries none of them raw",
          "[cli][limits][escape]") {
  Pki pki;
  const auto rows = pki.certificate_rows();
  const std::string evil("evil\x1b[2J\0.example.test\nFAKE-LOG-LINE", 36);
  const auto csr = pki.file("evil.csr");
  write_file(csr, csr_named(evil));
  auto result = pki.fca_split(issue_args(csr));
  INFO(result.err);
  CHECK(result.exit_code == 3);
  CHECK_FALSE(has_raw_control(result.err));
  CHECK_FALSE(has_raw_control(result.out));
  // One line: the newline in the name did not start a second one.
  CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  CHECK(result.err.find("\\x1B[2J\\x00.example.test\\x0AFAKE-LOG-LINE") != std::string::npos);
  CHECK(pki.certificate_rows() == rows);

  // A path with a newline and ESC, in the usage error about it.
  auto missing = pki.fca_split("issue --profile nmos-node --csr " + shell_quote(std::string("no\nsuch\x1b" "file")));
  INFO(missing.err);
  CHECK(missing.exit_code == 2);
  CHECK_FALSE(has_raw_control(missing.err));
  CHECK(missing.err.find("no\\x0Asuch\\x1Bfile") != std::string::npos);
}
