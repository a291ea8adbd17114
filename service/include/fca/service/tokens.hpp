#pragma once
// Bearer tokens of the REST admin API: made (shown once), listed, revoked — by administrators — and
// turned back into the Principal a request acts as. Only a SHA-256 of each token is stored: a token is
// 256 random bits, so no slow hash is needed to make guessing hopeless.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/api_repository.hpp"
#include "fca/core/clock.hpp"
#include "fca/service/principal.hpp"

namespace fca::service {

struct TokenSpec {
  std::string name;  // [a-z0-9._-]{1,64}; the audit log's actor is "api:<name>"
  std::set<Role> roles;  // of admin, operator, auditor
  std::optional<TimePoint> expires_at;
  std::optional<std::set<std::string>> cas;
  std::optional<std::set<std::string>> profiles;
};

struct CreatedToken {
  ApiTokenRecord record;
  std::string secret;  // "fca_" + 43 base64url characters; shown once, never stored
};

// Why a presented token does not authenticate (for the log line; the client only sees 401).
enum class TokenRefusal { malformed, unknown, expired, revoked };
const char* to_string(TokenRefusal refusal);

struct Authenticated {
  Principal principal;
  std::int64_t token_id = 0;
};

class TokenService {
 public:
  TokenService(ApiTokenRepository& tokens, const Clock& clock);

  // Administrators only (Errc::policy_refused otherwise). Bad names, roles or times: Errc::invalid_input.
  Result<CreatedToken> create(const Principal& who, const TokenSpec& spec);
  Result<std::vector<ApiTokenRecord>> list(const Principal& who);
  // Errc::conflict when revoked already, Errc::not_found when there is no such token.
  Result<ApiTokenRecord> revoke(const Principal& who, std::int64_t id);

  // The principal a bearer token stands for, with its last use recorded.
  std::expected<Authenticated, TokenRefusal> authenticate(std::string_view secret);

 private:
  Result<void> require_admin(const Principal& who, std::string_view what) const;
  ApiTokenRepository& tokens_;
  const Clock& clock_;
};

Result<Role> parse_role(std::string_view name);  // "admin", "operator", "auditor" (not "enrollee": EST only)
// The roles and scope of a stored token as a principal.
Principal principal_of(const ApiTokenRecord& token);

}  // namespace fca::service
