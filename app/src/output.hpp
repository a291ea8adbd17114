#pragma once
// How records look on stdout: JSON for scripts (--json), aligned tables for people.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/core/repository.hpp"

namespace fca::app {

// "2026-01-31T12:00:00Z"
std::string iso8601(TimePoint t);
// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" with "Z" or "±HH:MM" (UTC when no zone is given).
// Years 1950 to 2200 only: a time outside cannot be meant, and beyond ±292 years of 1970 it would
// overflow the nanosecond clock (signed overflow in <chrono>).
Result<TimePoint> parse_iso8601(std::string_view text);
// An invalidity date lies within the certificate's life so far: not before its notBefore, not after now.
Result<void> check_invalidity_date(TimePoint date, TimePoint not_before, TimePoint now);

nlohmann::ordered_json certificate_json(const CertificateRecord& record, std::string_view ca_name);
nlohmann::ordered_json ca_json(const CaRecord& ca, std::string_view parent_name);

// Columns padded to their widest cell; the last column is not padded.
std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// A key URI without its query part: a pkcs11 URI may carry pin-value there.
std::string displayable_key_uri(std::string_view uri);

}  // namespace fca::app
