#include "fca/service/lab_faults.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

namespace fca::service {

Result<std::chrono::seconds> parse_lab_duration(std::string_view text) {
  const auto bad = [&] {
    return fail(Errc::invalid_input, "duration '" + std::string(text) + "': a whole number and s, m or h (30s, 10m, 1h)");
  };
  if (text.size() < 2) return bad();
  std::int64_t value = 0;
  const auto number = text.substr(0, text.size() - 1);
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size() || value <= 0 || value > 1'000'000) return bad();
  switch (text.back()) {
    case 's': return std::chrono::seconds(value);
    case 'm': return std::chrono::seconds(value * 60);
    case 'h': return std::chrono::seconds(value * 3600);
    default: return bad();
  }
}

LabFaultService::LabFaultService(Service& service, LabFaultRepository& faults, CaRepository& cas, const Clock& clock)
    : service_(service), faults_(faults), cas_(cas), clock_(clock) {}

Result<void> LabFaultService::allowed(const Principal& who, std::string_view what) {
  if (!who.is_admin()) return fail(Errc::policy_refused, who.id + " may not " + std::string(what) + " (administrators only)");
  return service_.require_lab_instance();
}

Result<LabFaultInfo> LabFaultService::info_of(const LabFault& fault) {
  LabFaultInfo info{fault, "", fault.active_at(clock_.now())};
  if (fault.issuer_id) {
    auto ca = cas_.find_ca(*fault.issuer_id);
    if (!ca) return std::unexpected(ca.error());
    info.ca = ca->name;
  }
  return info;
}

Result<LabFaultInfo> LabFaultService::set(const Principal& who, const LabFaultSpec& spec) {
  if (auto ok = allowed(who, "set lab faults"); !ok) return std::unexpected(ok.error());
  if (!is_lab_fault_mode(spec.kind, spec.mode)) {
    return fail(Errc::invalid_input, "unknown " + std::string(to_string(spec.kind)) + " fault mode '" + spec.mode + "' (" +
                                         std::string(lab_fault_modes(spec.kind)) + ")");
  }
  if (spec.duration <= std::chrono::seconds(0) || spec.duration > kMaxLabFaultDuration) {
    return fail(Errc::invalid_input, "a fault lasts 1 s to " + std::to_string(kMaxLabFaultDuration.count() / 3600) + " h");
  }
  if (spec.ca && spec.serial) return fail(Errc::invalid_input, "name a CA or a serial, not both");
  if (spec.kind == LabFaultKind::crl && (!spec.ca || spec.serial)) {
    return fail(Errc::invalid_input, "a CRL fault names its CA (--ca) and no serial");
  }
  const bool delay = spec.kind == LabFaultKind::ocsp && spec.mode == "delay";
  if (delay && (!spec.delay_ms || *spec.delay_ms < 1 || *spec.delay_ms > kMaxLabFaultDelayMs)) {
    return fail(Errc::invalid_input, "the delay fault needs --ms from 1 to " + std::to_string(kMaxLabFaultDelayMs));
  }
  if (!delay && spec.delay_ms) return fail(Errc::invalid_input, "--ms is for the delay fault only");

  LabFault fault;
  fault.kind = spec.kind;
  fault.mode = spec.mode;
  fault.delay_ms = spec.delay_ms.value_or(0);
  fault.created_by = who.id;
  fault.created_at = clock_.now();
  fault.expires_at = fault.created_at + spec.duration;
  nlohmann::ordered_json detail{{"kind", to_string(spec.kind)}, {"mode", spec.mode}};
  if (spec.ca) {
    auto ca = cas_.find_ca(*spec.ca);
    if (!ca) return std::unexpected(ca.error());
    fault.issuer_id = ca->id;
    detail["ca"] = ca->name;
  }
  if (spec.serial) {
    auto serial = normalize_serial(*spec.serial);
    if (!serial) return std::unexpected(serial.error());
    fault.serial = *serial;
    detail["serial"] = *serial;
  }
  if (delay) detail["delay_ms"] = fault.delay_ms;
  detail["seconds"] = spec.duration.count();
  auto id = faults_.insert_lab_fault(fault, AuditEvent{who.id, "lab.fault-set", "lab-fault", detail.dump(), fault.created_at});
  if (!id) return std::unexpected(id.error());
  fault.id = *id;
  return info_of(fault);
}

Result<std::vector<LabFaultInfo>> LabFaultService::list(const Principal& who) {
  if (auto ok = allowed(who, "list lab faults"); !ok) return std::unexpected(ok.error());
  auto faults = faults_.list_lab_faults();
  if (!faults) return std::unexpected(faults.error());
  std::vector<LabFaultInfo> out;
  for (const auto& fault : *faults) {
    auto info = info_of(fault);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<std::int64_t> LabFaultService::clear(const Principal& who, std::optional<std::int64_t> id) {
  if (auto ok = allowed(who, "clear lab faults"); !ok) return std::unexpected(ok.error());
  const nlohmann::ordered_json detail = id ? nlohmann::ordered_json{{"id", *id}} : nlohmann::ordered_json{{"all", true}};
  return faults_.delete_lab_faults(id, AuditEvent{who.id, "lab.fault-clear", "lab-fault", detail.dump(), clock_.now()});
}

}  // namespace fca::service
