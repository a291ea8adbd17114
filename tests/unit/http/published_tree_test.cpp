// Where the exported tree puts an answer: the file a static web server maps the decoded GET URL to.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

#include "fca/ocsp/published_tree.hpp"

using fca::ocsp::file_path_of;
using fca::ocsp::get_path_segment;

TEST_CASE("published tree: base64 '/' are directories, '+' '/' '=' are percent-encoded in the URL",
          "[ocsp][export]") {
  const std::array<std::uint8_t, 2> plus_slash{0xFB, 0xFF};  // base64 "+/8="
  CHECK(get_path_segment(plus_slash) == "%2B%2F8%3D");
  CHECK(file_path_of(plus_slash) == std::filesystem::path("+") / "8=");

  const std::array<std::uint8_t, 6> double_slash{0x00, 0x0F, 0xFF, 0xFC, 0x00, 0x00};  // "AA///AAA"
  CHECK(file_path_of(double_slash) == std::filesystem::path("AA") / "AAA");
}

TEST_CASE("published tree: a request whose base64 ends in '/' has no file; it is left to the responder",
          "[ocsp][export]") {
  const std::array<std::uint8_t, 3> trailing_slash{0x00, 0x00, 0x3F};  // base64 "AAA/"
  CHECK(get_path_segment(trailing_slash) == "AAA%2F");
  CHECK(file_path_of(trailing_slash).empty());
  CHECK(file_path_of(std::array<std::uint8_t, 0>{}).empty());
}
