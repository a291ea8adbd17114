// Punycode and A-labels (DNS names in CSRs): what decodes encodes back, and decodes to the same.
#include <cstdint>
#include <string_view>

#include "fca/core/policy.hpp"
#include "fca/core/punycode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = fca::punycode_decode(input)) {
    auto encoded = fca::punycode_encode(*decoded);
    if (!encoded) __builtin_trap();
    auto again = fca::punycode_decode(*encoded);
    if (!again || *again != *decoded) __builtin_trap();
  }
  fca::is_valid_a_label(input);
  fca::is_valid_dns_name(input, true);
  return 0;
}
