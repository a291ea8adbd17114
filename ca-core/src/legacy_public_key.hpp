#pragma once
#include "fca/core/ossl.hpp"

namespace fca {

// The same EC or RSA public key as a legacy (non-provider) EVP_PKEY; null for any other key type.
// OpenSSL 3.0's X509_set_pubkey encodes a provider key to DER and decodes that again with a new
// decoder context, a fifth of an issuance's CPU; for a legacy key it writes the
// SubjectPublicKeyInfo with the key type's own encoder. Callers check that the result is the same key.
PKeyPtr legacy_public_key(const EVP_PKEY* key);

// The EC or RSA (rsaEncryption) key of a SubjectPublicKeyInfo, read by the key type's own legacy
// decoder; null for any other key type or an encoding that does not parse in full. OpenSSL 3.0's
// own path builds a decoder context for every key it reads: a sixth of an issuance's CPU.
PKeyPtr legacy_public_key(const X509_PUBKEY* spki);

}  // namespace fca
