// Punycode (RFC 3492 samples), A-labels, and the key, SAN and CSR rules of policy.
#include <catch2/catch.hpp>

#include "fca/core/authority.hpp"
#include "fca/core/policy.hpp"
#include "fca/core/punycode.hpp"
#include "fca/core/x509.hpp"

using namespace fca;

namespace {
Profile leaf() { return *ProfileSet{}.find("nmos-node"); }
}  // namespace

TEST_CASE("Punycode decodes and encodes the RFC 3492 samples", "[punycode]") {
  struct Sample {
    std::u32string text;
    std::string encoded;
  };
  const std::vector<Sample> samples{
      // (A) Arabic (Egyptian)
      {U"\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064A\u061F",
       "egbpdaj6bu4bxfgehfvwxn"},
      // (B) Chinese (simplified)
      {U"\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587", "ihqwcrb4cv8a8dqg056pqjye"},
      // (L) 3<nen>B<gumi><kinpachi><sensei>
      {U"3\u5E74B\u7D44\u91D1\u516B\u5148\u751F", "3B-ww4c5e180e575a65lsy2b"},
      {U"b\u00FCcher", "bcher-kva"},
  };
  for (const auto& sample : samples) {
    CHECK(punycode_encode(sample.text) == sample.encoded);
    CHECK(punycode_decode(sample.encoded) == sample.text);
  }
  CHECK_FALSE(punycode_decode("zz"));          // ends inside a number
  CHECK_FALSE(punycode_decode("99999999"));    // overflows
  CHECK_FALSE(punycode_decode("b\u00FC-x"));   // non-basic before the delimiter
  CHECK_FALSE(punycode_decode("abc!"));        // not a digit
  CHECK_FALSE(punycode_encode(std::u32string(1, char32_t{0xD800})));  // a surrogate
}

TEST_CASE("A-labels must decode, be Unicode, and re-encode to themselves", "[punycode][policy]") {
  CHECK(is_valid_a_label("xn--bcher-kva"));
  CHECK(is_valid_a_label("xn--zzzzzzz"));    // three CJK ideographs: valid
  CHECK_FALSE(is_valid_a_label("xn--a"));    // U+0080
  CHECK_FALSE(is_valid_a_label("xn--abc-"));  // decodes to ASCII only
  CHECK_FALSE(is_valid_a_label("xn--"));
  CHECK_FALSE(is_valid_a_label("xn--zz"));
  CHECK(is_valid_a_label("xn--tda"));        // "ü"
  CHECK_FALSE(is_valid_a_label("xn--6a"));   // U+00A0 no-break space
  CHECK_FALSE(is_valid_a_label("xn--zug"));  // U+200B zero-width space
  CHECK(is_valid_dns_name("xn--bcher-kva.example.com", false));
  CHECK_FALSE(is_valid_dns_name("xn--a.example.com", false));
  CHECK_FALSE(is_valid_dns_name("ab--cd.example.com", false));
  CHECK_FALSE(is_valid_dns_name("XN--A.example.com", false));
  CHECK(is_valid_dns_name("a--b.example.com", false));  // hyphens elsewhere are fine
  CHECK(is_valid_dns_name("abc-d.example.com", false));
}

TEST_CASE("key policy bounds RSA, wants e = 65537 and refuses P-521", "[policy]") {
  NamePolicy policy;
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 2048, "", 65537}));
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 8192, "", 65537}));
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 16384, "", 65537}));
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 2048, "", 3}));
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 2048, "", 0}));
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::ec, 521, "P-521"}));
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::ec, 384, "P-384"}));
  policy.max_rsa_bits = 3072;
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 4096, "", 65537}));
}

TEST_CASE("the SAN cap and unreadable SAN extensions refuse the request", "[policy]") {
  NamePolicy policy;
  policy.max_sans = 2;
  const auto dns = [](std::string n) { return SubjectAltName{SubjectAltName::Kind::dns, std::move(n)}; };
  CHECK(approve_names(policy, leaf(), "a.example.com", {dns("a.example.com"), dns("b.example.com")}));
  // The CN joins the SANs and counts.
  auto three = approve_names(policy, leaf(), "c.example.com", {dns("a.example.com"), dns("b.example.com")});
  REQUIRE_FALSE(three);
  CHECK(three.error().code == Errc::policy_refused);
  CHECK(three.error().message.find("max_sans") != std::string::npos);
  CHECK_FALSE(approve_names(policy, leaf(), "", {dns("a.example.com"), dns("b.example.com"), dns("c.example.com")}));
  auto unreadable = approve_names(NamePolicy{}, leaf(), "a.example.com",
                                  {{SubjectAltName::Kind::other, "unreadable subjectAltName extension"}});
  REQUIRE_FALSE(unreadable);
  CHECK(unreadable.error().message.find("unreadable") != std::string::npos);
}

TEST_CASE("CSR signature digests below SHA-256 are refused", "[policy][csr]") {
  CHECK(approve_csr_signature_digest(NID_sha256));
  CHECK(approve_csr_signature_digest(NID_sha512));
  CHECK(approve_csr_signature_digest(NID_undef));  // Ed25519
  CHECK_FALSE(approve_csr_signature_digest(NID_sha1));
  CHECK_FALSE(approve_csr_signature_digest(NID_md5));
  CHECK_FALSE(approve_csr_signature_digest(NID_sha224));
}

TEST_CASE("serial arguments normalise like serial_hex, whatever the leading zeros", "[serial]") {
  // Found by the serial fuzz target: an odd number of leading zeros left a "00" byte in front.
  CHECK(*normalize_serial("0abcdef0123456789") == "ABCDEF0123456789");
  CHECK(*normalize_serial("000abc") == "0ABC");
  CHECK(*normalize_serial(std::string(30, '0') + std::string(40, 'F')) == std::string(40, 'F'));
  CHECK_FALSE(normalize_serial("1" + std::string(40, '0')));  // 41 digits: 21 octets
}
