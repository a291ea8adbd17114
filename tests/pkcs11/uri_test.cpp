// RFC 7512 pkcs11: URI parsing.
#include <catch2/catch.hpp>

#include "fca/core/key_store.hpp"

using fca::Errc;
using fca::Pkcs11Uri;

TEST_CASE("pkcs11 URI: path attributes, query attributes and percent-decoding", "[pkcs11][uri]") {
  auto uri = Pkcs11Uri::parse(
      "pkcs11:token=Facility%20CA;manufacturer=SoftHSM%20project;serial=0123abcd;model=SoftHSM%20v2;"
      "object=ca-root;id=%01%a2%FF;type=private"
      "?pin-source=file:/etc/facility-ca/pin&module-path=/usr/lib/softhsm/libsofthsm2.so");
  REQUIRE(uri);
  CHECK(uri->path.size() == 7);
  CHECK(uri->path.at("token") == "Facility CA");
  CHECK(uri->path.at("manufacturer") == "SoftHSM project");
  CHECK(uri->path.at("serial") == "0123abcd");
  CHECK(uri->path.at("model") == "SoftHSM v2");
  CHECK(uri->path.at("object") == "ca-root");
  CHECK(uri->path.at("id") == std::string("\x01\xa2\xff", 3));
  CHECK(uri->path.at("type") == "private");
  CHECK(uri->query.size() == 2);
  CHECK(uri->query.at("pin-source") == "file:/etc/facility-ca/pin");
  CHECK(uri->query.at("module-path") == "/usr/lib/softhsm/libsofthsm2.so");
}

TEST_CASE("pkcs11 URI: minimal forms and the other RFC 7512 attributes", "[pkcs11][uri]") {
  auto empty = Pkcs11Uri::parse("pkcs11:");
  REQUIRE(empty);
  CHECK(empty->path.empty());
  CHECK(empty->query.empty());

  auto query_only = Pkcs11Uri::parse("pkcs11:?pin-value=12%2634");
  REQUIRE(query_only);
  CHECK(query_only->path.empty());
  CHECK(query_only->query.at("pin-value") == "12&34");

  auto library = Pkcs11Uri::parse(
      "pkcs11:library-manufacturer=OpenSC;library-description=x;library-version=1.2;slot-id=3;"
      "slot-description=s;slot-manufacturer=m;x-vendor=v?module-name=softhsm2&x-other=1");
  REQUIRE(library);
  CHECK(library->path.at("library-version") == "1.2");
  CHECK(library->path.at("slot-id") == "3");
  CHECK(library->path.at("x-vendor") == "v");
  CHECK(library->query.at("module-name") == "softhsm2");

  // Characters RFC 7512 allows unencoded: pk11-pchar in the path, pk11-qchar ('/', '?', '|' too) in the query.
  auto punctuation = Pkcs11Uri::parse("pkcs11:object=a:b@c!$'()*+,=d[]?pin-source=file:///run/pin?x|y");
  REQUIRE(punctuation);
  CHECK(punctuation->path.at("object") == "a:b@c!$'()*+,=d[]");
  CHECK(punctuation->query.at("pin-source") == "file:///run/pin?x|y");

  auto upper_scheme = Pkcs11Uri::parse("PKCS11:object=k");
  REQUIRE(upper_scheme);
  CHECK(upper_scheme->path.at("object") == "k");

  auto utf8 = Pkcs11Uri::parse("pkcs11:object=%C3%A9t%C3%A9");
  REQUIRE(utf8);
  CHECK(utf8->path.at("object") == "\xC3\xA9t\xC3\xA9");
}

TEST_CASE("pkcs11 URI: malformed input is refused with a reason", "[pkcs11][uri]") {
  struct Case {
    const char* uri;
    const char* reason_contains;
  };
  const Case cases[] = {
      {"file:/etc/key.pem", "not a pkcs11"},
      {"pkcs11", "not a pkcs11"},
      {"", "not a pkcs11"},
      {"pkcs11:object=a;;id=%01", "name=value"},
      {"pkcs11:object=a;", "name=value"},
      {"pkcs11:object", "name=value"},
      {"pkcs11:=value", "name=value"},
      {"pkcs11:objet=typo", "unknown path attribute 'objet'"},
      {"pkcs11:object=a?pin=1234", "unknown query attribute 'pin'"},
      {"pkcs11:object=a;object=b", "twice"},
      {"pkcs11:object=a?pin-value=1&pin-value=2", "twice"},
      {"pkcs11:id=%0", "percent-escape"},
      {"pkcs11:id=%", "percent-escape"},
      {"pkcs11:id=%zz", "percent-escape"},
      {"pkcs11:object=with space", "percent-encoded"},
      {"pkcs11:object=a#fragment", "fragment"},
      {"pkcs11:object=a?", "empty query"},
      {"pkcs11:object=a&id=%01", "'&' separates query"},
      {"pkcs11:object=a?pin-value=1;module-path=/x", "must be percent-encoded"},
      {"pkcs11:object=a/b", "must be percent-encoded"},
      {"pkcs11:object=caf\xC3\xA9", "must be percent-encoded"},
      {"pkcs11:type=secret", "unknown object type"},
      {"pkcs11:object=a?pin-value=1234&pin-source=file:/p", "exclude each other"},
  };
  for (const auto& c : cases) {
    INFO(c.uri);
    auto parsed = Pkcs11Uri::parse(c.uri);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::invalid_input);
    CHECK_THAT(parsed.error().message, Catch::Contains(c.reason_contains));
  }
}

TEST_CASE("pkcs11 URI: a refused URI does not echo its PIN", "[pkcs11][uri]") {
  auto parsed = Pkcs11Uri::parse("pkcs11:object=a?pin-value=S3cr3tPin&bogus=1");
  REQUIRE_FALSE(parsed);
  CHECK_THAT(parsed.error().message, !Catch::Contains("S3cr3tPin"));
}
