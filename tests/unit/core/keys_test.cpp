#include <catch2/catch.hpp>

#include "fca/core/keys.hpp"

using namespace fca;

TEST_CASE("every supported key type generates and describes itself", "[keys]") {
  for (const char* name : {"rsa2048", "rsa3072", "p256", "p384", "ed25519"}) {
    auto spec = KeySpec::parse(name);
    REQUIRE(spec);
    CHECK(spec->name() == name);
    auto key = generate_key(*spec);
    REQUIRE(key);
    auto info = describe_key(key->get());
    REQUIRE(info);
    CHECK(info->name() == name);
  }
}

TEST_CASE("unknown key type names are refused with the accepted list", "[keys]") {
  auto spec = KeySpec::parse("rsa1024");
  REQUIRE_FALSE(spec);
  CHECK(spec.error().code == Errc::invalid_input);
  CHECK_THAT(spec.error().message, Catch::Contains("rsa2048"));
}

TEST_CASE("an encrypted PKCS#8 key reads back only with its passphrase", "[keys]") {
  auto key = generate_key(*KeySpec::parse("p256"));
  REQUIRE(key);
  auto pem = encrypted_private_key_pem(key->get(), "correct horse");
  REQUIRE(pem);
  CHECK_THAT(*pem, Catch::Contains("BEGIN ENCRYPTED PRIVATE KEY"));

  bool encrypted = false;
  auto back = read_private_key_pem(*pem, "correct horse", &encrypted);
  REQUIRE(back);
  CHECK(encrypted);
  CHECK(same_public_key(back->get(), key->get()));

  auto wrong = read_private_key_pem(*pem, "wrong", &encrypted);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == Errc::key_failure);
}

TEST_CASE("signature digest follows the key", "[keys]") {
  CHECK(signature_digest(generate_key(*KeySpec::parse("p256"))->get()) == EVP_sha256());
  CHECK(signature_digest(generate_key(*KeySpec::parse("p384"))->get()) == EVP_sha384());
  CHECK(signature_digest(generate_key(*KeySpec::parse("ed25519"))->get()) == nullptr);
}
