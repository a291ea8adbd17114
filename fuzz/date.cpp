// ISO 8601 arguments (--invalidity-date): a parsed time prints and parses back to itself.
#include <cstdint>
#include <string_view>

#include "output.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto time = fca::app::parse_iso8601(std::string_view(reinterpret_cast<const char*>(data), size));
  if (time) {
    auto again = fca::app::parse_iso8601(fca::app::iso8601(*time));
    if (!again || *again != *time) __builtin_trap();
  }
  return 0;
}
