#include <openssl/x509v3.h>

#include <algorithm>

#include "fca/core/authority.hpp"
#include "fca/core/x509.hpp"

namespace fca {
namespace {

std::unexpected<Error> lint_failure(const std::string& reason) {
  return fail(Errc::internal, "issued certificate failed lint: " + reason);
}

int eku_nid(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::server_auth: return NID_server_auth;
    case ExtendedKeyUsage::client_auth: return NID_client_auth;
    case ExtendedKeyUsage::ocsp_signing: return NID_OCSP_sign;
  }
  return NID_undef;
}

std::vector<int> extended_key_usage_nids(const X509* cert) {
  std::vector<int> nids;
  using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, OsslDeleter<EXTENDED_KEY_USAGE_free>>;
  EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) nids.push_back(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)));
  return nids;
}

}  // namespace

Result<void> lint_certificate(const X509* cert, const X509* issuer, const Profile& profile) {
  auto* c = const_cast<X509*>(cert);
  auto* i = const_cast<X509*>(issuer);
  const uint32_t flags = X509_get_extension_flags(c);  // also caches the extensions

  if (X509_get_version(c) != 2) return lint_failure("not an X.509 v3 certificate");

  // Serial: positive, at most 20 octets (RFC 5280 4.1.2.2), at least 64 bits of entropy.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(c);
  if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) return lint_failure("negative serial");
  if (ASN1_STRING_length(serial) > 20 || ASN1_STRING_length(serial) < 8) return lint_failure("serial length out of range");

  // Basic constraints: present and critical; CA exactly when the profile is a CA profile.
  const int bc_index = X509_get_ext_by_NID(c, NID_basic_constraints, -1);
  if (bc_index < 0 || !X509_EXTENSION_get_critical(X509_get_ext(c, bc_index))) {
    return lint_failure("basicConstraints missing or not critical");
  }
  const bool is_ca = flags & EXFLAG_CA;
  if (is_ca != profile.is_ca) return lint_failure(profile.is_ca ? "CA profile without CA:TRUE" : "leaf certificate with CA:TRUE");

  // Key usage: critical, exactly what the profile grants this key type.
  const int ku_index = X509_get_ext_by_NID(c, NID_key_usage, -1);
  if (ku_index < 0 || !X509_EXTENSION_get_critical(X509_get_ext(c, ku_index))) return lint_failure("keyUsage missing or not critical");
  auto key_info = describe_key(X509_get0_pubkey(c));
  if (!key_info) return lint_failure(key_info.error().message);
  if (X509_get_key_usage(c) != key_usage_bits(profile, key_info->algorithm)) return lint_failure("keyUsage does not match the profile");
  if (key_info->algorithm != KeyAlgorithm::rsa && (X509_get_key_usage(c) & X509v3_KU_KEY_ENCIPHERMENT)) {
    return lint_failure("keyEncipherment on a non-RSA key");
  }

  // Extended key usage: exactly the profile's list.
  auto nids = extended_key_usage_nids(c);
  std::vector<int> expected;
  for (auto eku : profile.extended_key_usages) expected.push_back(eku_nid(eku));
  std::ranges::sort(nids);
  std::ranges::sort(expected);
  if (nids != expected) return lint_failure("extendedKeyUsage does not match the profile");
  if (profile.ocsp_no_check && X509_get_ext_by_NID(c, NID_id_pkix_OCSP_noCheck, -1) < 0) {
    return lint_failure("OCSP signer without id-pkix-ocsp-nocheck");
  }

  // Validity inside the issuer's.
  if (ASN1_TIME_compare(X509_get0_notBefore(c), X509_get0_notAfter(c)) >= 0) return lint_failure("notBefore not before notAfter");
  if (ASN1_TIME_compare(X509_get0_notAfter(c), X509_get0_notAfter(i)) > 0) return lint_failure("validity ends after the issuer's");

  // Names.
  if (profile.requires_san) {
    if (X509_get_ext_by_NID(c, NID_subject_alt_name, -1) < 0 || subject_alt_names(c).empty()) return lint_failure("no subjectAltName");
    const auto cn = common_name(X509_get_subject_name(c));
    const auto sans = subject_alt_names(c);
    if (!cn.empty() && std::ranges::none_of(sans, [&](const SubjectAltName& san) { return san.value == cn; })) {
      return lint_failure("CN is not among the SANs");
    }
  }
  if (X509_NAME_entry_count(X509_get_subject_name(c)) == 0) return lint_failure("empty subject");

  // Chaining: issuer name, AKI = issuer SKI, signature by the issuer's key.
  if (X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(i)) != 0) return lint_failure("issuer name mismatch");
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(c);
  const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(i);
  if (!aki || (issuer_ski && ASN1_OCTET_STRING_cmp(aki, issuer_ski) != 0)) return lint_failure("AKI does not match the issuer's SKI");
  if (!X509_get0_subject_key_id(c)) return lint_failure("no subjectKeyIdentifier");
  if (!signed_by(c, i)) return lint_failure("signature does not verify with the issuer's key");
  return {};
}

}  // namespace fca
