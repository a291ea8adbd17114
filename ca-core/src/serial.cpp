#include <openssl/rand.h>

#include <array>
#include <cctype>

#include "fca/core/authority.hpp"
#include "fca/core/x509.hpp"

namespace fca {

Result<Asn1IntegerPtr> random_serial() {
  std::array<unsigned char, 20> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return fail_openssl(Errc::internal, "the CSPRNG failed");
  }
  // Top bit clear keeps it positive (RFC 5280 4.1.2.2); the next bit set keeps it exactly 20 octets.
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7F) | 0x40);
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  Asn1IntegerPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial) return fail_openssl(Errc::internal, "cannot encode a serial number");
  return serial;
}

Result<std::string> normalize_serial(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return fail(Errc::invalid_input, "serial '" + std::string(text) + "' is not hexadecimal");
    }
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (hex.empty()) return fail(Errc::invalid_input, "empty serial");
  // Leading zeros carry no value: serial_hex never prints them, so neither is kept here (an odd
  // count of them used to leave a "00" byte in front, and the serial was never found).
  std::size_t first = hex.find_first_not_of('0');
  if (first == std::string::npos) return std::string("00");
  hex.erase(0, first);
  if (hex.size() % 2) hex.insert(hex.begin(), '0');
  if (hex.size() > 40) return fail(Errc::invalid_input, "serial '" + std::string(text) + "' is longer than 20 bytes");
  return hex;
}

}  // namespace fca
