#pragma once
// The JSON shapes of the service's records, in one place: the CLI's --json output uses them now, the
// REST API will answer with them. Times are ISO 8601 UTC ("2026-01-31T12:00:00Z"); absent values null.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fca/core/clock.hpp"
#include "fca/core/est_credential_repository.hpp"
#include "fca/core/repository.hpp"
#include "fca/service/lab_faults.hpp"
#include "fca/service/service.hpp"

namespace fca::service {

// "2026-01-31T12:00:00Z"
std::string iso8601(TimePoint t);
// A key URI without its query part: a pkcs11 URI may carry pin-value there.
std::string displayable_key_uri(std::string_view uri);

nlohmann::ordered_json to_json(const CertificateInfo& certificate);
nlohmann::ordered_json to_json(const CaInfo& ca);
nlohmann::ordered_json to_json(const EnrollmentInfo& enrollment);  // without the CSR; add it where wanted
nlohmann::ordered_json to_json(const AuditEntry& entry);
nlohmann::ordered_json to_json(const LabFaultInfo& fault);
nlohmann::ordered_json to_json(const EstCredentialRecord& credential);  // never the secret or its hash

}  // namespace fca::service
