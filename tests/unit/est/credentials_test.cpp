// The stored form of EST enrolment credentials: a salted PBKDF2-HMAC-SHA256 that only the secret
// it was made from matches.
#include <catch2/catch.hpp>

#include "fca/est/credentials.hpp"

using namespace fca::est;

TEST_CASE("EST credential hashes: salted, slow, matched only by their secret", "[est][credentials]") {
  const auto stored = hash_secret("s3cret-value", 1000);
  REQUIRE(stored.starts_with("pbkdf2-sha256$1000$"));
  CHECK(stored.find("s3cret-value") == std::string::npos);
  CHECK(secret_matches("s3cret-value", stored));
  CHECK_FALSE(secret_matches("s3cret-valuf", stored));
  CHECK_FALSE(secret_matches("", stored));
  // A fresh salt each time: the same secret never hashes alike.
  CHECK(hash_secret("s3cret-value", 1000) != stored);
  CHECK(hash_secret("x").starts_with("pbkdf2-sha256$" + std::to_string(kCredentialIterations) + "$"));
  // Anything malformed matches nothing.
  for (const std::string& bad : std::vector<std::string>{"", "sha256$1000$AAAA$AAAA", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$1000$AAAA",
                                "pbkdf2-sha256$abc$AAAA$AAAA", stored.substr(0, stored.size() - 4)}) {
    INFO(bad);
    CHECK_FALSE(secret_matches("s3cret-value", bad));
  }
}
