// The path of an OCSP GET request (percent-encoding, base64 with '+', '/', '='), decoded as the
// HTTP frontend does.
#include <cstdint>
#include <string_view>

#include "fca/ocsp/ocsp_http.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto der = fca::ocsp::decode_get_request(std::string_view(reinterpret_cast<const char*>(data), size));
  // Base64 never decodes to more than 3/4 of its length.
  if (der.size() > size) __builtin_trap();
  return 0;
}
