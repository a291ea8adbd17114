// EST request and response bodies as the EST front end decodes them: a PKCS#10 as base64 with any
// wrapping or PEM-armoured (csr_der_of_body), base64 itself, and multipart/mixed (the serverkeygen
// answer). An input starting with "--" is also read as multipart with the boundary its first line names.
// A body that decodes to a CSR also has its serverkeygen key-encryption attributes read (RFC 7030 §4.4.1).
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/x509.h>

#include "fca/core/ossl.hpp"
#include "fca/est/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto der = fca::est::csr_der_of_body(text)) {
    if (der->size() > size) __builtin_trap();
    const unsigned char* p = der->data();
    if (fca::X509ReqPtr csr{d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()))}) {
      // A request for encryption always names its key; none names nothing.
      if (auto asked = fca::est::key_encryption_request(csr.get())) {
        const bool none = asked->kind == fca::est::KeyEncryptionRequest::Kind::none;
        if (none != asked->key_identifier.empty()) __builtin_trap();
      }
    }
  }

  if (auto decoded = fca::est::decode_base64(text)) {
    // Base64 never decodes to more than 3/4 of its length, and what we send decodes back to itself.
    if (decoded->size() > size / 4 * 3 + 3) __builtin_trap();
    const auto again = fca::est::decode_base64(fca::est::encode_base64_lines(*decoded));
    if (!again || *again != *decoded) __builtin_trap();
  }

  if (text.starts_with("--")) {
    const auto eol = text.find("\r\n");
    const auto boundary = text.substr(2, eol == std::string_view::npos ? 0 : eol - 2);
    if (auto parts = fca::est::parse_multipart(text, boundary)) {
      std::size_t total = 0;
      for (const auto& part : *parts) total += part.body.size();
      if (total > size) __builtin_trap();
    }
  }
  return 0;
}
