// config.json text: whatever validates writes itself back (to_json) as a file that validates again.
#include <cstdint>
#include <string_view>

#include "config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = fca::app::parse_config_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (config) {
    auto again = fca::app::parse_config_text(config->to_json().dump(), "fuzz");
    if (!again) __builtin_trap();
  }
  return 0;
}
