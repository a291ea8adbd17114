#include "fca/core/punycode.hpp"

#include <cstdint>
#include <limits>

namespace fca {
namespace {

constexpr std::uint32_t kBase = 36, kTMin = 1, kTMax = 26, kSkew = 38, kDamp = 700, kInitialBias = 72,
                        kInitialN = 128;
constexpr std::uint32_t kMaxInt = std::numeric_limits<std::uint32_t>::max();

std::uint32_t adapt(std::uint32_t delta, std::uint32_t points, bool first) {
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / points;
  std::uint32_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return k + (kBase - kTMin + 1) * delta / (delta + kSkew);
}

// 0-25 for a-z (any case), 26-35 for 0-9, kBase for anything else.
std::uint32_t digit_value(char c) {
  if (c >= 'a' && c <= 'z') return static_cast<std::uint32_t>(c - 'a');
  if (c >= 'A' && c <= 'Z') return static_cast<std::uint32_t>(c - 'A');
  if (c >= '0' && c <= '9') return static_cast<std::uint32_t>(c - '0' + 26);
  return kBase;
}

char digit_char(std::uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); }

std::uint32_t threshold(std::uint32_t k, std::uint32_t bias) {
  if (k <= bias) return kTMin;
  if (k >= bias + kTMax) return kTMax;
  return k - bias;
}

bool is_scalar_value(char32_t c) { return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF); }

// Code points no host name label may carry; a cheap subset of what RFC 5892 disallows.
bool refused_code_point(char32_t c) {
  if (c < 0x80) return false;  // ASCII is checked as LDH by the caller
  if (c <= 0xBF) return c != 0xB7;  // C1 controls, NBSP, Latin-1 symbols (U+00B7 is CONTEXTO)
  if (c >= 0xC0 && c <= 0xDE) return true;  // Latin-1 upper case and U+00D7
  if (c == 0xF7) return true;
  if (c == 0x034F || c == 0x061C || c == 0x115F || c == 0x1160 || c == 0x1680 || c == 0x180E) return true;
  if (c >= 0x2000 && c <= 0x206F) return true;  // spaces, format characters, general punctuation
  if (c == 0x3000 || c == 0x3164 || c == 0xFEFF || c == 0xFFA0) return true;
  if (c >= 0xE000 && c <= 0xF8FF) return true;     // private use
  if (c >= 0xFDD0 && c <= 0xFDEF) return true;     // noncharacters
  if ((c & 0xFFFE) == 0xFFFE) return true;         // U+xxFFFE, U+xxFFFF
  if (c >= 0xFFF0 && c <= 0xFFFF) return true;     // specials
  if (c >= 0xE0000 && c <= 0xE0FFF) return true;   // tags, variation selectors supplement
  if (c >= 0xF0000) return true;                   // supplementary private use
  return false;
}

}  // namespace

std::optional<std::u32string> punycode_decode(std::string_view input) {
  std::u32string output;
  const auto delimiter = input.rfind('-');
  std::size_t in = 0;
  if (delimiter != std::string_view::npos && delimiter > 0) {
    for (std::size_t j = 0; j < delimiter; ++j) {
      const auto c = static_cast<unsigned char>(input[j]);
      if (c >= 0x80) return std::nullopt;
      output.push_back(c);
    }
    in = delimiter + 1;
  }
  std::uint32_t n = kInitialN, i = 0, bias = kInitialBias;
  while (in < input.size()) {
    const std::uint32_t old_i = i;
    std::uint32_t w = 1;
    for (std::uint32_t k = kBase;; k += kBase) {
      if (in >= input.size()) return std::nullopt;
      const std::uint32_t digit = digit_value(input[in++]);
      if (digit >= kBase) return std::nullopt;
      if (digit > (kMaxInt - i) / w) return std::nullopt;
      i += digit * w;
      const std::uint32_t t = threshold(k, bias);
      if (digit < t) break;
      if (w > kMaxInt / (kBase - t)) return std::nullopt;
      w *= kBase - t;
    }
    const auto points = static_cast<std::uint32_t>(output.size() + 1);
    bias = adapt(i - old_i, points, old_i == 0);
    if (i / points > kMaxInt - n) return std::nullopt;
    n += i / points;
    i %= points;
    if (n < 0x80 || !is_scalar_value(n)) return std::nullopt;
    output.insert(output.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return output;
}

std::optional<std::string> punycode_encode(std::u32string_view input) {
  std::string output;
  for (char32_t c : input) {
    if (!is_scalar_value(c)) return std::nullopt;
    if (c < 0x80) output.push_back(static_cast<char>(c));
  }
  const auto basic = static_cast<std::uint32_t>(output.size());
  std::uint32_t handled = basic;
  if (basic > 0) output.push_back('-');
  std::uint32_t n = kInitialN, delta = 0, bias = kInitialBias;
  while (handled < input.size()) {
    std::uint32_t m = kMaxInt;
    for (char32_t c : input) {
      if (c >= n && c < m) m = c;
    }
    if (m - n > (kMaxInt - delta) / (handled + 1)) return std::nullopt;
    delta += (m - n) * (handled + 1);
    n = m;
    for (char32_t c : input) {
      if (c < n && ++delta == 0) return std::nullopt;
      if (c == n) {
        std::uint32_t q = delta;
        for (std::uint32_t k = kBase;; k += kBase) {
          const std::uint32_t t = threshold(k, bias);
          if (q < t) break;
          output.push_back(digit_char(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        output.push_back(digit_char(q));
        bias = adapt(delta, handled + 1, handled == basic);
        delta = 0;
        ++handled;
      }
    }
    ++delta;
    ++n;
  }
  return output;
}

bool is_valid_a_label(std::string_view label) {
  if (!label.starts_with("xn--")) return false;
  const auto encoded = label.substr(4);
  if (encoded.empty()) return false;
  auto decoded = punycode_decode(encoded);
  if (!decoded || decoded->empty()) return false;
  bool non_ascii = false;
  for (char32_t c : *decoded) {
    if (c >= 0x80) {
      non_ascii = true;
      if (refused_code_point(c)) return false;
    } else {
      // The ASCII part of a U-label obeys the same LDH rule as any label, in lower case.
      const bool ldh = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ldh) return false;
    }
  }
  if (!non_ascii) return false;
  if (decoded->front() == U'-' || decoded->back() == U'-') return false;
  if (decoded->size() >= 4 && (*decoded)[2] == U'-' && (*decoded)[3] == U'-') return false;
  auto encoded_again = punycode_encode(*decoded);
  return encoded_again && *encoded_again == encoded;
}

}  // namespace fca
