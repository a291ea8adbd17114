// The audit head file (secrets/audit-head): two checksummed slots, or one head in the format from
// before the slots. Whatever the bytes, parsing returns a head with sane numbers or a storage error.
#include <cstdint>
#include <string_view>

#include "audit_chain.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  auto parsed = fca::db::parse_audit_head_file(content, "audit-head");
  if (parsed) {
    if (parsed->empty != content.empty() || parsed->slot > 1) __builtin_trap();
    if (parsed->head && (parsed->head->keyed_from < 1 || parsed->head->count < 0)) __builtin_trap();
    if (!parsed->head && !parsed->empty) __builtin_trap();
  } else if (parsed.error().code != fca::Errc::storage) {
    __builtin_trap();
  }
  return 0;
}
