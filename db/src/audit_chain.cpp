#include "audit_chain.hpp"

#include <openssl/evp.h>

#include <array>

#include "fca/core/ossl.hpp"

namespace fca::db {
namespace {

// Bumped if the encoding ever changes, so old and new entries can never be confused.
constexpr std::string_view kEncodingTag = "facility-ca audit v1";

bool digest_field(EVP_MD_CTX* context, std::string_view field) {
  std::array<unsigned char, 8> length{};
  auto size = static_cast<std::uint64_t>(field.size());
  for (int i = 7; i >= 0; --i) {
    length[static_cast<std::size_t>(i)] = static_cast<unsigned char>(size & 0xffU);
    size >>= 8;
  }
  return EVP_DigestUpdate(context, length.data(), length.size()) == 1 &&
         EVP_DigestUpdate(context, field.data(), field.size()) == 1;
}

}  // namespace

Result<std::string> audit_entry_hash(std::int64_t sequence, const AuditEvent& event, std::string_view previous_hash) {
  MdCtxPtr context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return fail_openssl(Errc::internal, "audit hash: SHA-256 unavailable");
  }
  const std::string sequence_text = std::to_string(sequence);
  const std::string at_text = std::to_string(to_unix(event.at));
  for (std::string_view field : {kEncodingTag, std::string_view(sequence_text), std::string_view(at_text),
                                 std::string_view(event.actor), std::string_view(event.action),
                                 std::string_view(event.object), std::string_view(event.detail), previous_hash}) {
    if (!digest_field(context.get(), field)) return fail_openssl(Errc::internal, "audit hash: digest update");
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_DigestFinal_ex(context.get(), digest.data(), &digest_size) != 1) {
    return fail_openssl(Errc::internal, "audit hash: digest final");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest_size * 2);
  for (unsigned int i = 0; i < digest_size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

}  // namespace fca::db
