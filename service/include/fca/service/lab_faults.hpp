#pragma once
// `lab fault ...` (docs/lab.md): revocation faults to order on a lab instance, set, listed and cleared
// by administrators. Every call is refused (Errc::policy_refused, nothing written) on an instance
// that is not a lab; every set and clear is audited.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "fca/core/lab_faults.hpp"
#include "fca/service/principal.hpp"
#include "fca/service/service.hpp"

namespace fca::service {

inline constexpr std::chrono::seconds kDefaultLabFaultDuration{std::chrono::minutes(10)};
inline constexpr std::chrono::seconds kMaxLabFaultDuration{std::chrono::hours(24)};
inline constexpr std::int64_t kMaxLabFaultDelayMs = 30000;  // below every sane client timeout's ceiling

struct LabFaultSpec {
  LabFaultKind kind = LabFaultKind::ocsp;
  std::string mode;
  std::optional<std::string> ca;      // the CA's name (required for CRL faults)
  std::optional<std::string> serial;  // OCSP only, not with ca
  std::chrono::seconds duration = kDefaultLabFaultDuration;
  std::optional<std::int64_t> delay_ms;  // mode delay only (and required there)
};

struct LabFaultInfo {
  LabFault fault;
  std::string ca;  // the CA's name, "" for every CA
  bool active = false;
};

// "30s", "10m", "2h": a positive whole number and one unit. Errc::invalid_input otherwise.
Result<std::chrono::seconds> parse_lab_duration(std::string_view text);

class LabFaultService {
 public:
  LabFaultService(Service& service, LabFaultRepository& faults, CaRepository& cas, const Clock& clock);

  Result<LabFaultInfo> set(const Principal& who, const LabFaultSpec& spec);
  Result<std::vector<LabFaultInfo>> list(const Principal& who);
  // One fault (Errc::not_found when there is none), or all; how many were removed.
  Result<std::int64_t> clear(const Principal& who, std::optional<std::int64_t> id);

 private:
  Result<void> allowed(const Principal& who, std::string_view what);
  Result<LabFaultInfo> info_of(const LabFault& fault);
  Service& service_;
  LabFaultRepository& faults_;
  CaRepository& cas_;
  const Clock& clock_;
};

}  // namespace fca::service
