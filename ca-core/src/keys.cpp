#include "fca/core/keys.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>

#include "text.hpp"
#include <cctype>

namespace fca {
namespace {

using text::lowercase;

std::string curve_short_name(std::string_view curve) {
  if (curve == "P-256") return "p256";
  if (curve == "P-384") return "p384";
  if (curve == "P-521") return "p521";
  return lowercase(curve);
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

Result<KeySpec> KeySpec::parse(std::string_view name) {
  const auto n = lowercase(name);
  if (n == "rsa2048") return KeySpec{KeyAlgorithm::rsa, 2048, ""};
  if (n == "rsa3072") return KeySpec{KeyAlgorithm::rsa, 3072, ""};
  if (n == "rsa4096") return KeySpec{KeyAlgorithm::rsa, 4096, ""};
  if (n == "p256") return KeySpec{KeyAlgorithm::ec, 0, "P-256"};
  if (n == "p384") return KeySpec{KeyAlgorithm::ec, 0, "P-384"};
  if (n == "ed25519") return KeySpec{KeyAlgorithm::ed25519, 0, ""};
  return fail(Errc::invalid_input,
              "unknown key type '" + std::string(name) + "' (use rsa2048, rsa3072, rsa4096, p256, p384 or ed25519)");
}

std::string KeySpec::name() const {
  switch (algorithm) {
    case KeyAlgorithm::rsa: return "rsa" + std::to_string(rsa_bits);
    case KeyAlgorithm::ec: return curve_short_name(curve);
    case KeyAlgorithm::ed25519: return "ed25519";
  }
  return "unknown";
}

std::string KeyInfo::name() const {
  switch (algorithm) {
    case KeyAlgorithm::rsa: return "rsa" + std::to_string(bits);
    case KeyAlgorithm::ec: return curve.empty() ? "ec" + std::to_string(bits) : curve_short_name(curve);
    case KeyAlgorithm::ed25519: return "ed25519";
  }
  return "unknown";
}

Result<KeyInfo> describe_key(const EVP_PKEY* key) {
  if (!key) return fail(Errc::invalid_input, "no public key");
  KeyInfo info;
  info.bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: {
      info.algorithm = KeyAlgorithm::rsa;
      BIGNUM* exponent = nullptr;
      if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent) == 1 && BN_num_bits(exponent) <= 64) {
        info.rsa_exponent = BN_get_word(exponent);
      }
      BN_free(exponent);
      ERR_clear_error();
      return info;
    }
    case EVP_PKEY_EC: {
      info.algorithm = KeyAlgorithm::ec;
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
        const std::string g(group, len);
        if (g == "prime256v1" || g == "P-256") info.curve = "P-256";
        else if (g == "secp384r1" || g == "P-384") info.curve = "P-384";
        else if (g == "secp521r1" || g == "P-521") info.curve = "P-521";
        else info.curve = g;
      } else {
        // Engine-backed EC keys (PKCS#11) answer only through the legacy API.
        ERR_clear_error();
        info.curve = info.bits == 256 ? "P-256" : info.bits == 384 ? "P-384" : info.bits == 521 ? "P-521" : "";
      }
      return info;
    }
    case EVP_PKEY_ED25519:
      info.algorithm = KeyAlgorithm::ed25519;
      info.bits = 256;
      return info;
    default:
      return fail(Errc::policy_refused, std::string("unsupported key algorithm ") + OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
  }
}

Result<PKeyPtr> generate_key(const KeySpec& spec) {
  EVP_PKEY* raw = nullptr;
  switch (spec.algorithm) {
    case KeyAlgorithm::rsa:
      if (spec.rsa_bits < 2048) return fail(Errc::invalid_input, "RSA keys must have at least 2048 bits");
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(spec.rsa_bits));
      break;
    case KeyAlgorithm::ec:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", spec.curve.c_str());
      break;
    case KeyAlgorithm::ed25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (!raw) return fail_openssl(Errc::key_failure, "key generation (" + spec.name() + ") failed");
  return PKeyPtr(raw);
}

const EVP_MD* signature_digest(const EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return nullptr;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) >= 384) return EVP_sha384();
  return EVP_sha256();
}

Result<std::string> encrypted_private_key_pem(const EVP_PKEY* key, std::string_view passphrase) {
  if (passphrase.empty()) return fail(Errc::invalid_input, "an empty passphrase cannot protect a key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PKCS8PrivateKey uses PBKDF2 (PBES2) with the given cipher.
  if (!PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), passphrase.data(),
                                     static_cast<int>(passphrase.size()), nullptr, nullptr)) {
    return fail_openssl(Errc::key_failure, "cannot encrypt private key");
  }
  return bio_to_string(bio.get());
}

namespace {
struct PassphraseContext {
  std::string_view passphrase;
  bool asked = false;
};

int passphrase_callback(char* buf, int size, int /*rwflag*/, void* user) {
  auto* ctx = static_cast<PassphraseContext*>(user);
  ctx->asked = true;
  if (ctx->passphrase.empty() || ctx->passphrase.size() > static_cast<std::size_t>(size)) return -1;
  std::copy(ctx->passphrase.begin(), ctx->passphrase.end(), buf);
  return static_cast<int>(ctx->passphrase.size());
}
}  // namespace

Result<PKeyPtr> read_private_key_pem(std::string_view pem, std::string_view passphrase, bool* was_encrypted) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PassphraseContext ctx{passphrase};
  PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_callback, &ctx));
  if (was_encrypted) *was_encrypted = ctx.asked;
  if (!key) {
    if (ctx.asked) return fail_openssl(Errc::key_failure, "cannot decrypt private key (wrong passphrase?)");
    return fail_openssl(Errc::invalid_input, "not a PEM private key");
  }
  return key;
}

std::string public_key_pem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), const_cast<EVP_PKEY*>(key));
  return bio_to_string(bio.get());
}

bool same_public_key(const EVP_PKEY* a, const EVP_PKEY* b) {
  if (!a || !b) return false;
  const int result = EVP_PKEY_eq(a, b);
  ERR_clear_error();
  return result == 1;
}

}  // namespace fca
