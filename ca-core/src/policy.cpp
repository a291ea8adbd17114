#include "fca/core/policy.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "fca/core/punycode.hpp"
#include "text.hpp"
#include <cctype>

namespace fca {
namespace {

using text::lowercase;

bool is_ip_address(std::string_view text) {
  const std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool has_allowed_suffix(const NamePolicy& policy, std::string_view name) {
  if (policy.allowed_dns_suffixes.empty()) return true;
  for (const auto& raw_suffix : policy.allowed_dns_suffixes) {
    std::string suffix = lowercase(raw_suffix);
    if (!suffix.empty() && suffix.front() == '.') suffix.erase(0, 1);
    if (name == suffix) return true;
    if (name.size() > suffix.size() && name.ends_with(suffix) && name[name.size() - suffix.size() - 1] == '.') return true;
  }
  return false;
}

Result<SubjectAltName> approve_dns(const NamePolicy& policy, std::string_view requested) {
  const std::string name = lowercase(requested);
  const bool wildcard = name.starts_with("*.");
  if (wildcard && !policy.allow_wildcards) {
    return fail(Errc::policy_refused, "wildcard name '" + name + "' refused by policy (BCP-003-01: wildcards SHOULD NOT be used)");
  }
  if (!is_valid_dns_name(name, policy.allow_wildcards)) {
    return fail(Errc::policy_refused, "'" + std::string(requested) + "' is not a valid DNS name");
  }
  if (!has_allowed_suffix(policy, name)) {
    return fail(Errc::policy_refused, "name '" + name + "' is outside the allowed DNS suffixes");
  }
  return SubjectAltName{SubjectAltName::Kind::dns, name};
}

Result<SubjectAltName> approve_ip(const NamePolicy& policy, std::string_view requested) {
  if (!policy.allow_ip_sans) {
    return fail(Errc::policy_refused,
                "IP address '" + std::string(requested) + "' refused by policy (BCP-003-01: IP addresses SHOULD NOT be used)");
  }
  if (!is_ip_address(requested)) return fail(Errc::policy_refused, "'" + std::string(requested) + "' is not an IP address");
  return SubjectAltName{SubjectAltName::Kind::ip, std::string(requested)};
}

// RFC 5891 4.2.3.1: "--" in the third and fourth position is reserved; the only such labels in use are
// A-labels ("xn--"), and those must be real Punycode of a Unicode label (RFC 5890 2.3.2.1).
bool label_is_acceptable(std::string_view label) {
  if (label.size() < 4 || label[2] != '-' || label[3] != '-') return true;
  const std::string lower = lowercase(label);
  return lower.starts_with("xn--") && is_valid_a_label(lower);
}

}  // namespace

bool is_valid_dns_name(std::string_view name, bool allow_wildcard) {
  if (name.empty() || name.size() > 253) return false;
  if (allow_wildcard && name.starts_with("*.")) name.remove_prefix(2);
  std::size_t label_start = 0;
  int labels = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const auto label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
      if (!label_is_acceptable(label)) return false;
      ++labels;
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  // An all-numeric last label is an IP address in disguise, not a host name.
  const auto last = name.substr(name.rfind('.') == std::string_view::npos ? 0 : name.rfind('.') + 1);
  if (std::ranges::all_of(last, [](char c) { return c >= '0' && c <= '9'; })) return false;
  return labels >= 1;
}

Result<ApprovedNames> approve_names(const NamePolicy& policy, const Profile& profile, std::string_view requested_cn,
                                    const std::vector<SubjectAltName>& requested_sans) {
  ApprovedNames approved;
  auto add = [&](const SubjectAltName& san) {
    if (std::ranges::find(approved.sans, san) == approved.sans.end()) approved.sans.push_back(san);
  };

  if (profile.is_ca || !profile.requires_san) {
    // CA and OCSP signer certificates are named by the CA operator; SANs have no place in them.
    if (!requested_sans.empty()) {
      return fail(Errc::policy_refused, "profile '" + profile.name + "' does not carry subject alternative names");
    }
    if (requested_cn.empty()) return fail(Errc::policy_refused, "profile '" + profile.name + "' needs a subject CN");
    approved.common_name = std::string(requested_cn);
    return approved;
  }

  if (!requested_cn.empty()) {
    if (is_ip_address(requested_cn)) {
      return fail(Errc::policy_refused, "an IP address as CN is refused by policy (BCP-003-01: IP addresses SHOULD NOT be used)");
    }
    auto cn = approve_dns(policy, requested_cn);
    if (!cn) return fail(cn.error().code, "subject CN: " + cn.error().message);
    approved.common_name = cn->value;
    add(*cn);
  }
  // Checked before the names are looked at, so 20,000 SANs cost nothing; the CN is counted below.
  auto too_many = [&](std::size_t count) {
    return fail(Errc::policy_refused, "the request names " + std::to_string(count) +
                                          " subject alternative names; policy allows at most " +
                                          std::to_string(policy.max_sans) + " (policy.max_sans)");
  };
  if (requested_sans.size() > policy.max_sans) return too_many(requested_sans.size());
  for (const auto& san : requested_sans) {
    if (san.kind == SubjectAltName::Kind::other && san.value.find("subjectAltName") != std::string::npos) {
      return fail(Errc::policy_refused, "the request is refused: " + san.value);
    }
    Result<SubjectAltName> ok = fail(Errc::policy_refused, "");
    switch (san.kind) {
      case SubjectAltName::Kind::dns: ok = approve_dns(policy, san.value); break;
      case SubjectAltName::Kind::ip: ok = approve_ip(policy, san.value); break;
      default:
        return fail(Errc::policy_refused, "subject alternative name " + to_string(san) + " refused: only DNS names" +
                                              (policy.allow_ip_sans ? " and IP addresses" : "") + " are issued");
    }
    if (!ok) return std::unexpected(ok.error());
    add(*ok);
  }
  if (approved.sans.size() > policy.max_sans) return too_many(approved.sans.size());
  if (approved.sans.empty()) return fail(Errc::policy_refused, "the request names no host: give a CN or a DNS SAN");
  if (approved.common_name.empty()) {
    const auto first_dns = std::ranges::find(approved.sans, SubjectAltName::Kind::dns, &SubjectAltName::kind);
    if (first_dns == approved.sans.end()) return fail(Errc::policy_refused, "the request names no DNS host for the CN");
    approved.common_name = first_dns->value;
  }
  return approved;
}

Result<void> approve_key(const NamePolicy& policy, const KeyInfo& key) {
  switch (key.algorithm) {
    case KeyAlgorithm::rsa:
      if (key.bits < policy.min_rsa_bits) {
        return fail(Errc::policy_refused, "RSA-" + std::to_string(key.bits) + " key refused: policy requires at least " +
                                              std::to_string(policy.min_rsa_bits) + " bits");
      }
      if (key.bits > policy.max_rsa_bits) {
        return fail(Errc::policy_refused, "RSA-" + std::to_string(key.bits) + " key refused: policy allows at most " +
                                              std::to_string(policy.max_rsa_bits) + " bits (policy.max_rsa_bits)");
      }
      // e = 3 and other small or odd exponents have a history of signature forgeries; 65537 is universal.
      if (key.rsa_exponent != 65537) {
        return fail(Errc::policy_refused, "RSA key with public exponent " +
                                              (key.rsa_exponent == 0 ? std::string("unknown") : std::to_string(key.rsa_exponent)) +
                                              " refused: only 65537 is accepted");
      }
      return {};
    case KeyAlgorithm::ec:
      if (key.curve != "P-256" && key.curve != "P-384") {
        return fail(Errc::policy_refused, "EC key on curve '" + key.curve + "' refused: use P-256 or P-384");
      }
      if (key.bits < policy.min_ec_bits) {
        return fail(Errc::policy_refused, "EC key of " + std::to_string(key.bits) + " bits refused: policy requires at least " +
                                              std::to_string(policy.min_ec_bits));
      }
      return {};
    case KeyAlgorithm::ed25519:
      if (!policy.allow_ed25519) return fail(Errc::policy_refused, "Ed25519 keys are refused by policy");
      return {};
  }
  return fail(Errc::policy_refused, "unsupported key");
}

}  // namespace fca
