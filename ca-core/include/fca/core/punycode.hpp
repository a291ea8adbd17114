#pragma once
// Punycode (RFC 3492) and the A-label checks of IDNA2008 (RFC 5890/5891) that a CA needs: an
// "xn--" label must be the exact encoding of a Unicode label, or a relying party may show one name
// while the certificate says another.
#include <optional>
#include <string>
#include <string_view>

namespace fca {

// The code points `encoded` (the part after "xn--") stands for; nullopt when it is not valid
// Punycode (bad digit, overflow, a code point beyond U+10FFFF or a surrogate). Digits are case-insensitive.
std::optional<std::u32string> punycode_decode(std::string_view encoded);
// The Punycode of `code_points` (lower-case digits); nullopt on overflow or an invalid code point.
std::optional<std::string> punycode_encode(std::u32string_view code_points);

// An "xn--" label (lower case) is accepted when its Punycode decodes, holds at least one non-ASCII
// code point, none of the code points refused here (controls, format characters, spaces, private use,
// noncharacters, Latin-1 symbols and upper case letters) and encodes back to exactly the same label.
// The full IDNA2008 code point tables (RFC 5892) and the bidi and contextual rules are not checked.
bool is_valid_a_label(std::string_view label);

}  // namespace fca
