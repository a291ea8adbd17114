// The one place that uses OpenSSL's deprecated EC_KEY / RSA types: see legacy_public_key.hpp.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "legacy_public_key.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

namespace fca {

PKeyPtr legacy_public_key(const EVP_PKEY* key) {
  PKeyPtr out(EVP_PKEY_new());
  if (!out) return nullptr;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      EC_KEY* ec = EVP_PKEY_get1_EC_KEY(const_cast<EVP_PKEY*>(key));
      if (!ec || EVP_PKEY_assign_EC_KEY(out.get(), ec) != 1) {
        EC_KEY_free(ec);
        return nullptr;
      }
      return out;
    }
    case EVP_PKEY_RSA: {
      RSA* rsa = EVP_PKEY_get1_RSA(const_cast<EVP_PKEY*>(key));
      if (!rsa || EVP_PKEY_assign_RSA(out.get(), rsa) != 1) {
        RSA_free(rsa);
        return nullptr;
      }
      return out;
    }
    default: return nullptr;
  }
}

}  // namespace fca
