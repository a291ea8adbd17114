#include "fca/core/profile.hpp"

#include <openssl/x509v3.h>

#include <algorithm>

namespace fca {

unsigned key_usage_bits(const Profile& profile, KeyAlgorithm algorithm) {
  if (profile.is_ca) return X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN | X509v3_KU_DIGITAL_SIGNATURE;
  unsigned bits = X509v3_KU_DIGITAL_SIGNATURE;
  const bool tls_server = std::ranges::find(profile.extended_key_usages, ExtendedKeyUsage::server_auth) !=
                          profile.extended_key_usages.end();
  // RSA key transport (TLS 1.2 RSA kex) needs keyEncipherment; an EC or Ed25519 key cannot encipher (zlint#454).
  if (tls_server && algorithm == KeyAlgorithm::rsa) bits |= X509v3_KU_KEY_ENCIPHERMENT;
  return bits;
}

std::vector<Profile> builtin_profiles() {
  using enum ExtendedKeyUsage;
  auto leaf = [](std::string name, std::vector<ExtendedKeyUsage> ekus) {
    Profile profile;
    profile.name = std::move(name);
    profile.extended_key_usages = std::move(ekus);
    return profile;
  };
  Profile ocsp_signer = leaf("ocsp-signer", {ocsp_signing});
  ocsp_signer.ocsp_no_check = true;
  ocsp_signer.requires_san = false;
  ocsp_signer.default_validity_days = 30;
  ocsp_signer.max_validity_days = 90;

  Profile sub_ca;
  sub_ca.name = "sub-ca";
  sub_ca.is_ca = true;
  sub_ca.path_length = 0;
  sub_ca.requires_san = false;
  sub_ca.default_validity_days = 1825;
  sub_ca.max_validity_days = 3650;

  return {leaf("server", {server_auth}), leaf("client", {client_auth}), leaf("nmos-node", {server_auth, client_auth}),
          ocsp_signer, sub_ca};
}

ProfileSet::ProfileSet(std::vector<Profile> profiles) : profiles_(std::move(profiles)) {}

Result<Profile> ProfileSet::find(std::string_view name) const {
  for (const auto& profile : profiles_) {
    if (profile.name == name) return profile;
  }
  std::string known;
  for (const auto& profile : profiles_) known += (known.empty() ? "" : ", ") + profile.name;
  return fail(Errc::invalid_input, "unknown profile '" + std::string(name) + "' (known: " + known + ")");
}

const char* to_string(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::server_auth: return "serverAuth";
    case ExtendedKeyUsage::client_auth: return "clientAuth";
    case ExtendedKeyUsage::ocsp_signing: return "OCSPSigning";
  }
  return "";
}

}  // namespace fca
