#pragma once
// Token-side key management through the PKCS#11 C API (generate on the token, store a software key).
// Private to ca-core: the key store uses it where libp11 0.4.12 falls short (its generator is RSA-only).
// Signing never goes through here; it goes through libp11's engine.
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/error.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/ossl.hpp"

namespace fca::pkcs11 {

// Where a key pair lives on a token: what a pkcs11: URI needs to name it.
struct TokenObject {
  std::string token_label;
  std::string object_label;
  std::vector<unsigned char> id;  // CKA_ID shared by the private and the public key object
};

struct TokenAccess {
  std::string module_path;
  std::string token_label;
  std::string pin;
};

// Loads and initialises the module for the rest of the process (idempotent).
Result<void> load_module(const std::string& module_path);

// Generates a key pair inside the token: the private key is CKA_SENSITIVE and never extractable,
// both halves carry CKA_LABEL = label and a fresh random CKA_ID.
// Errc::conflict when an object with this label exists; Errc::key_failure for token errors.
Result<TokenObject> generate_key_pair(const TokenAccess& access, const KeySpec& spec, std::string_view label);

// Stores a software private key (RSA or EC) on the token as a sensitive, non-extractable object,
// with its public key beside it under the same label and CKA_ID.
Result<TokenObject> store_key_pair(const TokenAccess& access, const EVP_PKEY* key, std::string_view label);

}  // namespace fca::pkcs11
