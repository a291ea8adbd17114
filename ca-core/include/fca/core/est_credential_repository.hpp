#pragma once
// The enrolment credentials of EST labels that take HTTP Basic: per device, one-time or expiring,
// stored as a slow salted hash. Implemented by fca::db; fca::est sees only this interface.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/repository.hpp"

namespace fca {

struct EstCredentialRecord {
  std::int64_t id = 0;
  std::string label;
  std::string username;
  std::string secret_hash;  // "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"; the secret is never stored
  bool one_time = true;
  std::string created_by;
  TimePoint created_at{};
  std::optional<TimePoint> expires_at;
  std::optional<TimePoint> spent_at;  // one-time credentials: when the request it authenticated came
  std::optional<TimePoint> revoked_at;
  std::optional<TimePoint> last_used_at;
};

class EstCredentialRepository {
 public:
  virtual ~EstCredentialRepository() = default;
  // Errc::conflict when the label has a usable credential of this name.
  virtual Result<std::int64_t> insert_est_credential(const EstCredentialRecord& credential, const AuditEvent& audit) = 0;
  virtual Result<std::vector<EstCredentialRecord>> list_est_credentials(std::optional<std::string_view> label) = 0;
  // The usable (neither revoked nor spent) credential of this name; Errc::not_found when none.
  virtual Result<EstCredentialRecord> find_usable_est_credential(std::string_view label, std::string_view username) = 0;
  // Errc::conflict when revoked or spent already, Errc::not_found when there is no such credential.
  virtual Result<EstCredentialRecord> revoke_est_credential(std::int64_t id, TimePoint at, const AuditEvent& audit) = 0;
  // A successful authentication: one-time credentials are spent at once, atomically (Errc::conflict when
  // another request spent it first), others get last_used_at. Audited.
  virtual Result<void> use_est_credential(std::int64_t id, bool one_time, TimePoint at, const AuditEvent& audit) = 0;
};

}  // namespace fca
