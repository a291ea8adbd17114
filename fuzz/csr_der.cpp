// A CSR as DER, through everything issue does before signing: parse (one object, signature digest),
// self-signature, key description and policy, name policy.
#include "csr_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find("-----BEGIN ") != std::string_view::npos) return 0;  // PEM is csr_pem's
  fca::fuzz::check_csr(input);
  return 0;
}
