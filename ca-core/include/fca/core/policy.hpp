#pragma once
// Name and key policy: every subject and SAN of an issued certificate passes through here.
#include <string>
#include <vector>

#include "fca/core/error.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/profile.hpp"
#include "fca/core/x509.hpp"

namespace fca {

struct NamePolicy {
  std::vector<std::string> allowed_dns_suffixes;  // empty: any DNS name; "example.com" allows it and *.example.com names
  bool allow_wildcards = false;                   // BCP-003-01: wildcards SHOULD NOT be used
  bool allow_ip_sans = false;                     // BCP-003-01: IP addresses SHOULD NOT be used
  int min_rsa_bits = 2048;
  int min_ec_bits = 256;
  bool allow_ed25519 = true;
};

// The names a certificate will carry, as decided by policy.
struct ApprovedNames {
  std::string common_name;
  std::vector<SubjectAltName> sans;  // CN first when it is a name
};

// Decides the subject CN and SANs from what was requested. The CN is added to the SANs when missing;
// a request without CN takes its first DNS SAN as CN. Refusals carry a reason naming the value.
Result<ApprovedNames> approve_names(const NamePolicy& policy, const Profile& profile, std::string_view requested_cn,
                                    const std::vector<SubjectAltName>& requested_sans);

Result<void> approve_key(const NamePolicy& policy, const KeyInfo& key);

bool is_valid_dns_name(std::string_view name, bool allow_wildcard);

}  // namespace fca
