// The one place that uses OpenSSL's deprecated EC_KEY / RSA types: see legacy_public_key.hpp.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "legacy_public_key.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

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

PKeyPtr legacy_public_key(const X509_PUBKEY* spki) {
  ASN1_OBJECT* algorithm = nullptr;
  if (X509_PUBKEY_get0_param(&algorithm, nullptr, nullptr, nullptr, spki) != 1) return nullptr;
  const int type = OBJ_obj2nid(algorithm);
  if (type != NID_X9_62_id_ecPublicKey && type != NID_rsaEncryption) return nullptr;
  unsigned char* encoded = nullptr;
  const int length = i2d_X509_PUBKEY(spki, &encoded);
  if (length <= 0) return nullptr;
  const unsigned char* p = encoded;
  PKeyPtr out(EVP_PKEY_new());
  bool assigned = false;
  if (out && type == NID_X9_62_id_ecPublicKey) {
    EC_KEY* ec = d2i_EC_PUBKEY(nullptr, &p, length);
    assigned = ec && EVP_PKEY_assign_EC_KEY(out.get(), ec) == 1;
    if (ec && !assigned) EC_KEY_free(ec);
  } else if (out) {
    RSA* rsa = d2i_RSA_PUBKEY(nullptr, &p, length);
    assigned = rsa && EVP_PKEY_assign_RSA(out.get(), rsa) == 1;
    if (rsa && !assigned) RSA_free(rsa);
  }
  const bool whole = p == encoded + length;
  OPENSSL_free(encoded);
  if (!assigned || !whole) return nullptr;
  return out;
}

}  // namespace fca
