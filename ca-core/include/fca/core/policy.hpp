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
  int max_rsa_bits = 8192;     // larger keys only cost every relying party time
  int min_ec_bits = 256;
  std::size_t max_sans = 100;  // names per certificate, CN included
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

// RSA within [min_rsa_bits, max_rsa_bits] with e = 65537, EC on P-256 or P-384, Ed25519 when allowed.
Result<void> approve_key(const NamePolicy& policy, const KeyInfo& key);

// LDH labels of at most 63 characters, 253 in all, not all-numeric at the end; a label with "--" in
// positions 3-4 only as a valid A-label (see punycode.hpp).
bool is_valid_dns_name(std::string_view name, bool allow_wildcard);

}  // namespace fca
