#include <catch2/catch.hpp>

#include "fca/core/authority.hpp"

using namespace fca;

TEST_CASE("random serials are positive and exactly 20 octets", "[serial]") {
  for (int i = 0; i < 1000; ++i) {
    auto serial = random_serial();
    REQUIRE(serial);
    CHECK(ASN1_STRING_type(serial->get()) == V_ASN1_INTEGER);
    CHECK(ASN1_STRING_length(serial->get()) == 20);
    CHECK((ASN1_STRING_get0_data(serial->get())[0] & 0x80) == 0);
  }
}

TEST_CASE("serial text is normalised to uppercase hex", "[serial]") {
  CHECK(*normalize_serial("0a:1b:2c") == "0A1B2C");
  CHECK(*normalize_serial("00000A1B") == "0A1B");
  CHECK(*normalize_serial("abc") == "0ABC");
  CHECK(*normalize_serial("0x5F") == "5F");
  CHECK_FALSE(normalize_serial("xyz"));
  CHECK_FALSE(normalize_serial(""));
  CHECK_FALSE(normalize_serial(std::string(44, 'A')));
}
