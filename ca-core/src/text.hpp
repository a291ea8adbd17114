#pragma once
// Small text helpers private to ca-core.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace fca::text {

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) { return lowercase(a) == lowercase(b); }

}  // namespace fca::text
