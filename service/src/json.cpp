#include "fca/service/json.hpp"

#include <array>
#include <ctime>

namespace fca::service {
namespace {

nlohmann::ordered_json optional_time(const std::optional<TimePoint>& t) {
  return t ? nlohmann::ordered_json(iso8601(*t)) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json optional_text(const std::optional<std::string>& text) {
  return text ? nlohmann::ordered_json(*text) : nlohmann::ordered_json(nullptr);
}

// A CA name that may be missing ("" in the records): null in JSON.
nlohmann::ordered_json name_or_null(const std::string& name) {
  return name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(name);
}

// The audit detail is a JSON object written by the core; shown as an object, or as text if it is not one.
nlohmann::ordered_json detail_json(const std::string& detail) {
  auto parsed = nlohmann::ordered_json::parse(detail, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::ordered_json(detail) : parsed;
}

}  // namespace

std::string iso8601(TimePoint t) {
  const std::time_t seconds = static_cast<std::time_t>(to_unix(t));
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  std::array<char, 32> buffer{};
  const auto n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buffer.data(), n);
}

std::string displayable_key_uri(std::string_view uri) { return std::string(uri.substr(0, uri.find('?'))); }

nlohmann::ordered_json to_json(const CertificateInfo& certificate) {
  const auto& record = certificate.record;
  nlohmann::ordered_json out;
  out["serial"] = record.serial;
  out["ca"] = certificate.ca;
  out["subject"] = record.subject;
  out["common_name"] = record.common_name;
  out["sans"] = record.sans;
  out["profile"] = record.profile;
  out["key_type"] = record.key_type;
  out["not_before"] = iso8601(record.not_before);
  out["not_after"] = iso8601(record.not_after);
  out["status"] = to_string(record.status);
  out["revoked_at"] = optional_time(record.revoked_at);
  out["revocation_reason"] =
      record.revocation_reason ? nlohmann::ordered_json(to_string(*record.revocation_reason)) : nullptr;
  out["invalidity_date"] = optional_time(record.invalidity_date);
  out["fingerprint_sha256"] = record.fingerprint_sha256;
  out["requester"] = record.requester;
  out["renewal_of"] = optional_text(record.renewal_of);
  out["issued_at"] = iso8601(record.issued_at);
  return out;
}

nlohmann::ordered_json to_json(const CaInfo& info) {
  const auto& ca = info.record;
  nlohmann::ordered_json out;
  out["name"] = ca.name;
  out["state"] = ca.state == CaState::active ? "active" : "pending";
  out["default"] = ca.is_default;
  out["subject"] = ca.subject;
  out["parent"] = name_or_null(info.parent);
  // A rollover (docs/operations.md): the generation, the name its certificates' URLs carry, and the
  // generations before and after it under the same name.
  out["generation"] = ca.generation;
  out["publication_name"] = ca.url_name();
  out["predecessor"] = name_or_null(info.predecessor);
  out["successor"] = name_or_null(info.successor);
  const bool active = ca.state == CaState::active;
  out["not_before"] = active ? nlohmann::ordered_json(iso8601(ca.not_before)) : nullptr;
  out["not_after"] = active ? nlohmann::ordered_json(iso8601(ca.not_after)) : nullptr;
  out["key_uri"] = displayable_key_uri(ca.key_uri);
  out["created_at"] = iso8601(ca.created_at);
  return out;
}

nlohmann::ordered_json to_json(const EnrollmentInfo& info) {
  const auto& e = info.record;
  nlohmann::ordered_json out;
  out["id"] = e.id;
  out["label"] = e.label;
  out["requester"] = e.requester;
  out["ca"] = info.ca;
  out["profile"] = e.profile;
  out["common_name"] = e.common_name;
  out["state"] = to_string(e.state);
  out["created_at"] = iso8601(e.created_at);
  out["decided_by"] = optional_text(e.decided_by);
  out["decided_at"] = optional_time(e.decided_at);
  out["reason"] = optional_text(e.reason);
  out["certificate_serial"] = optional_text(e.certificate_serial);
  return out;
}

nlohmann::ordered_json to_json(const AuditEntry& entry) {
  nlohmann::ordered_json out;
  out["sequence"] = entry.sequence;
  out["at"] = iso8601(entry.event.at);
  out["actor"] = entry.event.actor;
  out["action"] = entry.event.action;
  out["object"] = entry.event.object;
  out["detail"] = detail_json(entry.event.detail);
  out["previous_hash"] = entry.previous_hash;
  out["hash"] = entry.hash;
  return out;
}

nlohmann::ordered_json to_json(const LabFaultInfo& info) {
  const auto& f = info.fault;
  nlohmann::ordered_json out;
  out["id"] = f.id;
  out["kind"] = to_string(f.kind);
  out["mode"] = f.mode;
  out["ca"] = name_or_null(info.ca);
  out["serial"] = optional_text(f.serial);
  out["delay_ms"] = f.mode == "delay" ? nlohmann::ordered_json(f.delay_ms) : nullptr;
  out["created_by"] = f.created_by;
  out["created_at"] = iso8601(f.created_at);
  out["expires_at"] = iso8601(f.expires_at);
  out["active"] = info.active;
  return out;
}

nlohmann::ordered_json to_json(const EstCredentialRecord& c) {
  nlohmann::ordered_json out;
  out["id"] = c.id;
  out["label"] = c.label;
  out["name"] = c.username;
  out["one_time"] = c.one_time;
  out["created_by"] = c.created_by;
  out["created_at"] = iso8601(c.created_at);
  out["expires_at"] = optional_time(c.expires_at);
  out["spent_at"] = optional_time(c.spent_at);
  out["revoked_at"] = optional_time(c.revoked_at);
  out["last_used_at"] = optional_time(c.last_used_at);
  return out;
}

}  // namespace fca::service
