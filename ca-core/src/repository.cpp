#include "fca/core/repository.hpp"

#include <array>
#include <charconv>
#include <utility>

#include "text.hpp"

namespace fca {
namespace {

constexpr std::array<std::pair<RevocationReason, const char*>, 10> kReasons{{
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::ca_compromise, "cACompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
    {RevocationReason::certificate_hold, "certificateHold"},
    {RevocationReason::remove_from_crl, "removeFromCRL"},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn"},
    {RevocationReason::aa_compromise, "aACompromise"},
}};

}  // namespace

Result<RevocationReason> parse_revocation_reason(std::string_view name) {
  int number = -1;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  const bool numeric = ec == std::errc() && end == name.data() + name.size();
  for (const auto& [reason, reason_name] : kReasons) {
    if ((numeric && static_cast<int>(reason) == number) || (!numeric && text::iequals(name, reason_name))) {
      // removeFromCRL only exists in delta CRLs; it is not a reason anyone revokes with.
      if (reason == RevocationReason::remove_from_crl) break;
      return reason;
    }
  }
  return fail(Errc::invalid_input,
              "unknown revocation reason '" + std::string(name) +
                  "' (use unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
                  "cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise or its RFC 5280 code)");
}

const char* to_string(RevocationReason reason) {
  for (const auto& [r, text] : kReasons) {
    if (r == reason) return text;
  }
  return "unspecified";
}

const char* to_string(CertificateStatus status) {
  switch (status) {
    case CertificateStatus::valid: return "valid";
    case CertificateStatus::revoked: return "revoked";
    case CertificateStatus::on_hold: return "on-hold";
  }
  return "valid";
}

Result<CertificateStatus> parse_certificate_status(std::string_view name) {
  for (auto status : {CertificateStatus::valid, CertificateStatus::revoked, CertificateStatus::on_hold}) {
    if (name == to_string(status)) return status;
  }
  return fail(Errc::invalid_input, "unknown status '" + std::string(name) + "' (use valid, revoked or on-hold)");
}

const char* to_string(EnrollmentState state) {
  switch (state) {
    case EnrollmentState::pending: return "pending";
    case EnrollmentState::approved: return "approved";
    case EnrollmentState::rejected: return "rejected";
  }
  return "pending";
}

Result<EnrollmentState> parse_enrollment_state(std::string_view name) {
  for (auto state : {EnrollmentState::pending, EnrollmentState::approved, EnrollmentState::rejected}) {
    if (name == to_string(state)) return state;
  }
  return fail(Errc::invalid_input, "unknown enrolment state '" + std::string(name) + "' (use pending, approved or rejected)");
}

}  // namespace fca
