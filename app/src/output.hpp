#pragma once
// How records look on stdout: aligned tables for people; JSON for scripts (--json) comes from the
// service's shapes (fca/service/json.hpp).
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/service/json.hpp"

namespace fca::app {

using service::iso8601;
// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" with "Z" or "±HH:MM" (UTC when no zone is given).
// Years 1950 to 2200 only: a time outside cannot be meant, and beyond ±292 years of 1970 it would
// overflow the nanosecond clock (signed overflow in <chrono>).
Result<TimePoint> parse_iso8601(std::string_view text);
// An invalidity date lies within the certificate's life so far: not before its notBefore, not after now.
Result<void> check_invalidity_date(TimePoint date, TimePoint not_before, TimePoint now);

// Columns padded to their widest cell; the last column is not padded.
std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

}  // namespace fca::app
