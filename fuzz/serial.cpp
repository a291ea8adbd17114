// Serial number arguments (hex, any case, colons): normalising is idempotent.
#include <cstdint>
#include <string_view>

#include "fca/core/authority.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto serial = fca::normalize_serial(std::string_view(reinterpret_cast<const char*>(data), size));
  if (serial) {
    auto again = fca::normalize_serial(*serial);
    if (!again || *again != *serial) __builtin_trap();
  }
  return 0;
}
