#pragma once
// One SoftHSMv2 token directory for the whole test process. SoftHSM reads SOFTHSM2_CONF once, when the
// module is first loaded, so the configuration and every token are made before any test touches it.
#include <filesystem>
#include <string>

#include "fca/core/key_store.hpp"
#include "fca/core/ossl.hpp"
#include "test_support.hpp"

namespace fca::test {

inline constexpr const char* softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* user_pin = "1234";
inline constexpr const char* so_pin = "5678";

// Tokens, one per concern, so that one test's login does not make another's login checks pass
// (PKCS#11 login state is per process and per token):
inline constexpr const char* keys_token = "fca-keys";          // generate, open, sign
inline constexpr const char* import_token = "fca-import";      // software keys stored on the token
// Each holds "probe-key", made by pkcs11-tool in another process: nothing in this process logs in to
// them before the PIN tests, so a PIN that works there was really checked by the token.
inline constexpr const char* pin_value_token = "fca-pin-value";
inline constexpr const char* pin_source_token = "fca-pin-source";
inline constexpr const char* errors_token = "fca-errors";      // refusals
inline constexpr const char* ca_token = "fca-ca";              // the certificate authority's keys

struct SoftHsm {
  std::filesystem::path directory;
  std::filesystem::path config;
};

// Set up on first use: softhsm2.conf, SOFTHSM2_CONF, and the tokens above initialised with user_pin.
const SoftHsm& softhsm();

Pkcs11KeyStoreOptions store_options(const std::string& token, bool with_pin = true);

// pkcs11-tool against the test module, e.g. "--token-label fca-keys --list-objects".
CommandResult pkcs11_tool(const std::string& arguments);

// The token's public key object with this label, read by pkcs11-tool (not through our code).
PKeyPtr token_public_key(const std::string& token, const std::string& label);

// A self-signed CA certificate for `key`, signed with X509_sign_ctx through whatever holds the key.
X509Ptr self_signed_certificate(EVP_PKEY* key, const std::string& common_name);

std::string to_pem(const X509* certificate);

// `openssl verify` of a self-signed certificate against itself; returns the command's result.
CommandResult openssl_verify_self_signed(const X509* certificate, const std::filesystem::path& work_directory);

}  // namespace fca::test
