#include <catch2/catch.hpp>

#include "fca/core/escape.hpp"

using fca::escape_control;

TEST_CASE("control characters are escaped, printable text is not", "[escape]") {
  CHECK(escape_control("node.example.com") == "node.example.com");
  CHECK(escape_control("a\nFAKE-LOG-LINE") == "a\\x0AFAKE-LOG-LINE");
  CHECK(escape_control(std::string_view("\x1b[31mred\0!", 10)) == "\\x1B[31mred\\x00!");
  CHECK(escape_control("tab\there\r\x7f") == "tab\\x09here\\x0D\\x7F");
  CHECK(escape_control("b\xC3\xBC" "cher") == "b\xC3\xBC" "cher");   // UTF-8 stays
  CHECK(escape_control("csi\xC2\x9B" "2J") == "csi\\xC2\\x9B2J");     // U+009B (CSI) does not
  CHECK(escape_control("\xC2") == "\xC2");                            // a lone lead byte is not a control
}
