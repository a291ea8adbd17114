#pragma once
// Enrolment credentials for EST labels that take HTTP Basic (devices outside NMOS, which have no
// manufacturer certificate): made per device by an administrator (the secret is shown once), one-time
// (spent by the first request it authenticates) or expiring, listed, revoked. Only a salted
// PBKDF2-HMAC-SHA256 of each secret is stored. Every creation, use and revocation is audited; no
// secret ever reaches a log or the audit detail.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/est_credential_repository.hpp"
#include "fca/service/principal.hpp"

namespace fca::est {

struct CredentialSpec {
  std::string label;     // an EST label whose config sets http_basic (the caller checks the config)
  std::string username;  // [A-Za-z0-9._-]{1,64}: the device's name, the Basic user-id
  std::optional<TimePoint> expires_at;
  bool one_time = true;  // a reusable credential must expire
};

struct CreatedCredential {
  EstCredentialRecord record;
  std::string secret;  // shown once, never stored
};

// PBKDF2-HMAC-SHA256 with a fresh 16-byte salt: "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>".
inline constexpr int kCredentialIterations = 100000;
std::string hash_secret(std::string_view secret, int iterations = kCredentialIterations);
// Constant-time comparison of a presented secret against a stored hash; false for a malformed hash.
bool secret_matches(std::string_view secret, std::string_view stored_hash);

class CredentialService {
 public:
  CredentialService(EstCredentialRepository& store, const Clock& clock);

  // Administrators only (Errc::policy_refused otherwise); bad names or times: Errc::invalid_input.
  Result<CreatedCredential> create(const service::Principal& who, const CredentialSpec& spec);
  Result<std::vector<EstCredentialRecord>> list(const service::Principal& who, std::optional<std::string> label);
  Result<EstCredentialRecord> revoke(const service::Principal& who, std::int64_t id);

  // The credential an `Authorization: Basic ...` header value proves for `label`, its use recorded
  // (a one-time credential spent). Errc::policy_refused with the reason (for the log) otherwise.
  Result<EstCredentialRecord> authenticate(std::string_view label, std::string_view authorization);

  // The actor of the audit entries of requests a credential authenticated.
  static std::string subject_of(const EstCredentialRecord& credential);

 private:
  EstCredentialRepository& store_;
  const Clock& clock_;
};

}  // namespace fca::est
