#include "fca/service/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "fca/service/json.hpp"

namespace fca::service {
namespace {

constexpr std::string_view kPrefix = "fca_";
constexpr std::size_t kSecretBytes = 32;

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

std::string hex(const std::array<unsigned char, 32>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool plausible_secret(std::string_view secret) {
  if (!secret.starts_with(kPrefix) || secret.size() > 128) return false;
  return std::ranges::all_of(secret.substr(kPrefix.size()), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::optional<std::vector<std::string>> as_list(const std::optional<std::set<std::string>>& items) {
  if (!items) return std::nullopt;
  return std::vector<std::string>(items->begin(), items->end());
}

}  // namespace

const char* to_string(TokenRefusal refusal) {
  switch (refusal) {
    case TokenRefusal::malformed: return "malformed token";
    case TokenRefusal::unknown: return "unknown token";
    case TokenRefusal::expired: return "expired token";
    case TokenRefusal::revoked: return "revoked token";
  }
  return "refused token";
}

Result<Role> parse_role(std::string_view name) {
  if (name == "admin") return Role::admin;
  if (name == "operator") return Role::operator_;
  if (name == "auditor") return Role::auditor;
  return fail(Errc::invalid_input, "unknown role '" + std::string(name) + "' (admin, operator, auditor)");
}

Principal principal_of(const ApiTokenRecord& token) {
  std::set<Role> roles;
  for (const auto& name : token.roles) {
    if (auto role = parse_role(name)) roles.insert(*role);
  }
  std::optional<std::set<std::string>> cas, profiles;
  if (token.cas) cas.emplace(token.cas->begin(), token.cas->end());
  if (token.profiles) profiles.emplace(token.profiles->begin(), token.profiles->end());
  return Principal::api(token.name, std::move(roles), std::move(cas), std::move(profiles));
}

TokenService::TokenService(ApiTokenRepository& tokens, const Clock& clock) : tokens_(tokens), clock_(clock) {}

Result<void> TokenService::require_admin(const Principal& who, std::string_view what) const {
  if (who.is_admin()) return {};
  return fail(Errc::policy_refused, who.id + " may not " + std::string(what) + " (administrators only)");
}

Result<CreatedToken> TokenService::create(const Principal& who, const TokenSpec& spec) {
  if (auto ok = require_admin(who, "create API tokens"); !ok) return std::unexpected(ok.error());
  if (!valid_name(spec.name)) return fail(Errc::invalid_input, "token name must be 1-64 of a-z 0-9 . _ -");
  if (spec.roles.empty()) return fail(Errc::invalid_input, "a token needs at least one role");
  if (spec.roles.contains(Role::enrollee)) return fail(Errc::invalid_input, "role enrollee is for EST clients only");
  const auto now = clock_.now();
  if (spec.expires_at && *spec.expires_at <= now) return fail(Errc::invalid_input, "expiry is in the past");

  std::array<unsigned char, kSecretBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return fail(Errc::internal, "no random bytes for a token");
  }
  CreatedToken created;
  created.secret = std::string(kPrefix) + base64url(random.data(), random.size());
  OPENSSL_cleanse(random.data(), random.size());

  auto& record = created.record;
  record.name = spec.name;
  record.secret_sha256 = hex(sha256(created.secret));
  for (auto role : spec.roles) record.roles.emplace_back(to_string(role));
  record.cas = as_list(spec.cas);
  record.profiles = as_list(spec.profiles);
  record.created_by = who.id;
  record.created_at = now;
  record.expires_at = spec.expires_at;

  nlohmann::ordered_json detail{{"name", record.name}, {"roles", record.roles}};
  detail["expires_at"] = spec.expires_at ? nlohmann::ordered_json(iso8601(*spec.expires_at)) : nullptr;
  detail["cas"] = record.cas ? nlohmann::ordered_json(*record.cas) : nullptr;
  detail["profiles"] = record.profiles ? nlohmann::ordered_json(*record.profiles) : nullptr;
  const AuditEvent audit{who.id, "token.create", "token:" + record.name, detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), now};
  auto id = tokens_.insert_token(record, audit);
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return created;
}

Result<std::vector<ApiTokenRecord>> TokenService::list(const Principal& who) {
  if (auto ok = require_admin(who, "list API tokens"); !ok) return std::unexpected(ok.error());
  return tokens_.list_tokens();
}

Result<ApiTokenRecord> TokenService::revoke(const Principal& who, std::int64_t id) {
  if (auto ok = require_admin(who, "revoke API tokens"); !ok) return std::unexpected(ok.error());
  auto token = tokens_.find_token(id);
  if (!token) return token;
  const auto now = clock_.now();
  nlohmann::ordered_json detail{{"id", id}, {"name", token->name}};
  const AuditEvent audit{who.id, "token.revoke", "token:" + token->name, detail.dump(), now};
  return tokens_.revoke_token(id, now, audit);
}

std::expected<Authenticated, TokenRefusal> TokenService::authenticate(std::string_view secret) {
  if (!plausible_secret(secret)) return std::unexpected(TokenRefusal::malformed);
  const auto digest = sha256(secret);
  auto token = tokens_.find_token_by_hash(hex(digest));
  if (!token) return std::unexpected(TokenRefusal::unknown);
  // The lookup was by hash; compare again in constant time so the match never rests on a
  // data-dependent string comparison alone.
  const auto stored = hex(digest);
  if (token->secret_sha256.size() != stored.size() ||
      CRYPTO_memcmp(token->secret_sha256.data(), stored.data(), stored.size()) != 0) {
    return std::unexpected(TokenRefusal::unknown);
  }
  const auto now = clock_.now();
  if (token->revoked_at) return std::unexpected(TokenRefusal::revoked);
  if (token->expires_at && *token->expires_at <= now) return std::unexpected(TokenRefusal::expired);
  // Last use to the minute: a write (and an fsync) per request would cost more than the request.
  if (!token->last_used_at || now - *token->last_used_at >= std::chrono::minutes(1)) (void)tokens_.touch_token(token->id, now);
  return Authenticated{principal_of(*token), token->id};
}

}  // namespace fca::service
