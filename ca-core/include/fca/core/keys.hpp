#pragma once
// Key types, generation and the software (PEM) encodings of keys.
#include <cstdint>
#include <string>
#include <string_view>

#include "fca/core/error.hpp"
#include "fca/core/ossl.hpp"

namespace fca {

enum class KeyAlgorithm { rsa, ec, ed25519 };

struct KeySpec {
  KeyAlgorithm algorithm = KeyAlgorithm::ec;
  int rsa_bits = 0;     // 2048, 3072, 4096 for rsa
  std::string curve;    // "P-256" or "P-384" for ec

  // Accepts "rsa2048", "rsa3072", "rsa4096", "p256", "p384", "ed25519" (case-insensitive).
  static Result<KeySpec> parse(std::string_view name);
  std::string name() const;  // the inverse of parse
};

// What a key is, read from the key itself (a CSR's public key, an opened signing key).
struct KeyInfo {
  KeyAlgorithm algorithm = KeyAlgorithm::ec;
  int bits = 0;         // RSA modulus / EC field size / 256 for Ed25519
  std::string curve;    // "P-256", "P-384", "P-521", or "" for non-EC
  std::uint64_t rsa_exponent = 0;  // RSA public exponent; 0 when it cannot be read (or not RSA)
  std::string name() const;  // "rsa2048", "p256", "ed25519", ...
};

Result<KeyInfo> describe_key(const EVP_PKEY* key);

Result<PKeyPtr> generate_key(const KeySpec& spec);

// The digest a signature by this key uses: SHA-256 (P-384: SHA-384), none for Ed25519.
const EVP_MD* signature_digest(const EVP_PKEY* key);

// PKCS#8 PEM encrypted with AES-256-CBC (PBKDF2) under passphrase.
Result<std::string> encrypted_private_key_pem(const EVP_PKEY* key, std::string_view passphrase);
// Reads PKCS#8 or traditional PEM; an encrypted key needs the passphrase.
// Sets `was_encrypted` so callers can refuse plaintext keys.
Result<PKeyPtr> read_private_key_pem(std::string_view pem, std::string_view passphrase, bool* was_encrypted = nullptr);
std::string public_key_pem(const EVP_PKEY* key);

// True when the two keys share the same public key.
bool same_public_key(const EVP_PKEY* a, const EVP_PKEY* b);

}  // namespace fca
