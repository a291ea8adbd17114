#include <catch2/catch.hpp>

#include "fca/core/policy.hpp"

using namespace fca;

namespace {
Profile leaf_profile() { return *ProfileSet().find("nmos-node"); }
SubjectAltName dns(std::string v) { return {SubjectAltName::Kind::dns, std::move(v)}; }
SubjectAltName ip(std::string v) { return {SubjectAltName::Kind::ip, std::move(v)}; }
}  // namespace

TEST_CASE("the CN joins the SANs when missing and names are lower-cased", "[policy]") {
  auto names = approve_names(NamePolicy{}, leaf_profile(), "Node1.Example.com", {dns("alt.example.com")});
  REQUIRE(names);
  CHECK(names->common_name == "node1.example.com");
  REQUIRE(names->sans.size() == 2);
  CHECK(names->sans[0] == dns("node1.example.com"));
  CHECK(names->sans[1] == dns("alt.example.com"));
}

TEST_CASE("a request without CN takes its first DNS SAN as CN", "[policy]") {
  auto names = approve_names(NamePolicy{}, leaf_profile(), "", {dns("a.example.com"), dns("b.example.com")});
  REQUIRE(names);
  CHECK(names->common_name == "a.example.com");
  CHECK(names->sans.size() == 2);
}

TEST_CASE("policy refusals name the offending value", "[policy]") {
  NamePolicy policy;
  auto wildcard = approve_names(policy, leaf_profile(), "*.example.com", {});
  REQUIRE_FALSE(wildcard);
  CHECK(wildcard.error().code == Errc::policy_refused);
  CHECK_THAT(wildcard.error().message, Catch::Contains("wildcard"));

  auto ip_san = approve_names(policy, leaf_profile(), "node.example.com", {ip("192.0.2.7")});
  REQUIRE_FALSE(ip_san);
  CHECK_THAT(ip_san.error().message, Catch::Contains("192.0.2.7"));

  auto ip_cn = approve_names(policy, leaf_profile(), "192.0.2.7", {});
  REQUIRE_FALSE(ip_cn);

  policy.allowed_dns_suffixes = {"studio.example"};
  auto outside = approve_names(policy, leaf_profile(), "node.example.com", {});
  REQUIRE_FALSE(outside);
  CHECK_THAT(outside.error().message, Catch::Contains("outside the allowed DNS suffixes"));
  // A suffix matches whole labels only.
  CHECK_FALSE(approve_names(policy, leaf_profile(), "evilstudio.example", {}));
  CHECK(approve_names(policy, leaf_profile(), "cam1.studio.example", {}));
  CHECK(approve_names(policy, leaf_profile(), "studio.example", {}));

  auto nothing = approve_names(NamePolicy{}, leaf_profile(), "", {});
  REQUIRE_FALSE(nothing);

  auto email = approve_names(NamePolicy{}, leaf_profile(), "a.example.com", {{SubjectAltName::Kind::email, "x@example.com"}});
  REQUIRE_FALSE(email);
}

TEST_CASE("configuration can allow IP SANs and wildcards", "[policy]") {
  NamePolicy policy;
  policy.allow_ip_sans = true;
  policy.allow_wildcards = true;
  auto names = approve_names(policy, leaf_profile(), "*.example.com", {ip("2001:db8::1")});
  REQUIRE(names);
  CHECK(names->sans.back() == ip("2001:db8::1"));
  CHECK_FALSE(approve_names(policy, leaf_profile(), "node.example.com", {ip("not-an-ip")}));
}

TEST_CASE("DNS name syntax", "[policy]") {
  CHECK(is_valid_dns_name("a-b.example.com", false));
  CHECK(is_valid_dns_name("localhost", false));
  CHECK_FALSE(is_valid_dns_name("-a.example.com", false));
  CHECK_FALSE(is_valid_dns_name("a..example.com", false));
  CHECK_FALSE(is_valid_dns_name("a_b.example.com", false));
  CHECK_FALSE(is_valid_dns_name("10.0.0.1", false));
  CHECK_FALSE(is_valid_dns_name(std::string(64, 'a') + ".com", false));
  CHECK_FALSE(is_valid_dns_name("*.example.com", false));
  CHECK(is_valid_dns_name("*.example.com", true));
}

TEST_CASE("key policy enforces minimum sizes", "[policy]") {
  NamePolicy policy;
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 1024, ""}));
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::rsa, 2048, "", 65537}));
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::ec, 256, "P-256"}));
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::ec, 256, "secp256k1"}));
  policy.min_ec_bits = 384;
  CHECK_FALSE(approve_key(policy, KeyInfo{KeyAlgorithm::ec, 256, "P-256"}));
  CHECK(approve_key(policy, KeyInfo{KeyAlgorithm::ed25519, 256, ""}));
}

TEST_CASE("key usage follows the key type", "[profile]") {
  ProfileSet profiles;
  const auto server = *profiles.find("server");
  CHECK((key_usage_bits(server, KeyAlgorithm::rsa) & X509v3_KU_KEY_ENCIPHERMENT) != 0);
  CHECK((key_usage_bits(server, KeyAlgorithm::ec) & X509v3_KU_KEY_ENCIPHERMENT) == 0);
  CHECK((key_usage_bits(server, KeyAlgorithm::ed25519) & X509v3_KU_KEY_ENCIPHERMENT) == 0);
  const auto sub_ca = *profiles.find("sub-ca");
  CHECK((key_usage_bits(sub_ca, KeyAlgorithm::ec) & X509v3_KU_KEY_CERT_SIGN) != 0);
  CHECK_FALSE(profiles.find("nope"));
}
