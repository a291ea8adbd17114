#pragma once
// Certificate profiles: what an issued certificate may be used for. Policy decides names;
// the profile decides extensions. Nothing is ever copied from a CSR.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/error.hpp"
#include "fca/core/keys.hpp"

namespace fca {

enum class ExtendedKeyUsage { server_auth, client_auth, ocsp_signing };

struct Profile {
  std::string name;
  bool is_ca = false;
  std::optional<int> path_length;           // CA profiles only
  std::vector<ExtendedKeyUsage> extended_key_usages;
  bool ocsp_no_check = false;               // id-pkix-ocsp-nocheck
  bool requires_san = true;                 // leaf TLS profiles need a SAN
  int default_validity_days = 90;
  int max_validity_days = 397;
};

// keyUsage bits (X509v3_KU_*) the profile grants to a key of this algorithm:
// keyEncipherment only for RSA keys of TLS leaf profiles.
unsigned key_usage_bits(const Profile& profile, KeyAlgorithm algorithm);

// server, client, nmos-node (serverAuth + clientAuth, the BCP-003-03 default), ocsp-signer, sub-ca.
std::vector<Profile> builtin_profiles();

class ProfileSet {
 public:
  explicit ProfileSet(std::vector<Profile> profiles = builtin_profiles());
  Result<Profile> find(std::string_view name) const;
  const std::vector<Profile>& all() const { return profiles_; }

 private:
  std::vector<Profile> profiles_;
};

const char* to_string(ExtendedKeyUsage eku);  // "serverAuth", "clientAuth", "OCSPSigning"

}  // namespace fca
