#pragma once
// What the REST admin API stores besides certificates: its bearer tokens (only a hash of each), the
// results of requests sent with an Idempotency-Key, and the figures /metrics and /readyz read.
// Implemented by fca::db; the service and the API see only these interfaces.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/repository.hpp"

namespace fca {

struct ApiTokenRecord {
  std::int64_t id = 0;
  std::string name;
  std::string secret_sha256;  // hex SHA-256 of the token; the token itself is never stored
  std::vector<std::string> roles;                      // "admin", "operator", "auditor"
  std::optional<std::vector<std::string>> cas;         // std::nullopt: any CA
  std::optional<std::vector<std::string>> profiles;    // std::nullopt: any profile
  std::string created_by;
  TimePoint created_at{};
  std::optional<TimePoint> expires_at;
  std::optional<TimePoint> revoked_at;
  std::optional<TimePoint> last_used_at;
};

class ApiTokenRepository {
 public:
  virtual ~ApiTokenRepository() = default;
  // Errc::conflict when an unrevoked token already has this name.
  virtual Result<std::int64_t> insert_token(const ApiTokenRecord& token, const AuditEvent& audit) = 0;
  virtual Result<std::vector<ApiTokenRecord>> list_tokens() = 0;
  virtual Result<ApiTokenRecord> find_token(std::int64_t id) = 0;
  // Errc::not_found when no token has this hash.
  virtual Result<ApiTokenRecord> find_token_by_hash(std::string_view secret_sha256) = 0;
  // Errc::conflict when it is revoked already.
  virtual Result<ApiTokenRecord> revoke_token(std::int64_t id, TimePoint at, const AuditEvent& audit) = 0;
  virtual Result<void> touch_token(std::int64_t id, TimePoint at) = 0;
};

// A request sent with an Idempotency-Key: claimed before the work, completed with the answer after.
struct IdempotencyRecord {
  std::string actor;         // the principal's id: keys are per token
  std::string key;
  std::string request_sha256;  // of method, path and body: the same key with another request is refused
  bool completed = false;
  int status = 0;
  std::string body;          // never a private key (keygen answers are stored without it)
  std::string location;
  TimePoint created_at{};
};

class IdempotencyRepository {
 public:
  virtual ~IdempotencyRepository() = default;
  // Inserts a claim and returns std::nullopt, or returns the record another request holds already.
  virtual Result<std::optional<IdempotencyRecord>> claim_idempotency_key(const IdempotencyRecord& claim) = 0;
  virtual Result<void> complete_idempotency_key(const IdempotencyRecord& done) = 0;
  // Drops a claim whose request failed, so a retry may try again.
  virtual Result<void> release_idempotency_key(std::string_view actor, std::string_view key) = 0;
};

struct CertificateCount {
  std::int64_t issuer_id = 0;
  CertificateStatus status = CertificateStatus::valid;
  std::int64_t count = 0;
};

// The store's figures and health, for /metrics and /readyz.
class StoreStatistics {
 public:
  virtual ~StoreStatistics() = default;
  virtual Result<std::vector<CertificateCount>> certificate_counts() = 0;
  // notAfter of the valid, unexpired certificate that expires first (std::nullopt: none).
  virtual Result<std::optional<TimePoint>> soonest_certificate_expiry(TimePoint now) = 0;
  // Takes the write lock and lets it go: fails when the database cannot be written.
  virtual Result<void> check_writable() = 0;
};

}  // namespace fca
