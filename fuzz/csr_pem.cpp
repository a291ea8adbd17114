// A CSR as PEM text (armour, base64, trailing data, several blocks), through everything issue does
// before signing.
#include "csr_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fca::fuzz::check_csr(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
