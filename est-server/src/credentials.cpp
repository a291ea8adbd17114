#include "fca/est/credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>

#include <nlohmann/json.hpp>

#include "fca/est/codec.hpp"
#include "fca/http/message.hpp"
#include "fca/service/json.hpp"

namespace fca::est {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kSecretBytes = 18;  // 144 bits, 24 base64url characters

std::string base64(std::span<const unsigned char> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::array<unsigned char, kHashBytes>> pbkdf2(std::string_view secret, std::span<const std::uint8_t> salt,
                                                            int iterations) {
  std::array<unsigned char, kHashBytes> out{};
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()), salt.data(), static_cast<int>(salt.size()),
                        iterations, EVP_sha256(), static_cast<int>(out.size()), out.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

bool valid_username(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

std::string json_string(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string object_of(const EstCredentialRecord& c) { return "est-credential:" + std::to_string(c.id); }

}  // namespace

std::string hash_secret(std::string_view secret, int iterations) {
  std::array<std::uint8_t, kSaltBytes> salt{};
  RAND_bytes(salt.data(), static_cast<int>(salt.size()));
  auto hash = pbkdf2(secret, salt, iterations);
  if (!hash) return {};
  std::string out = "pbkdf2-sha256$" + std::to_string(iterations) + "$" + base64(salt) + "$" + base64(*hash);
  OPENSSL_cleanse(hash->data(), hash->size());
  return out;
}

bool secret_matches(std::string_view secret, std::string_view stored) {
  constexpr std::string_view kScheme = "pbkdf2-sha256$";
  if (!stored.starts_with(kScheme)) return false;
  stored.remove_prefix(kScheme.size());
  const auto first = stored.find('$');
  const auto second = first == std::string_view::npos ? first : stored.find('$', first + 1);
  if (second == std::string_view::npos) return false;
  int iterations = 0;
  const auto [end, ec] = std::from_chars(stored.data(), stored.data() + first, iterations);
  if (ec != std::errc() || end != stored.data() + first || iterations < 1 || iterations > 10'000'000) return false;
  auto salt = decode_base64(stored.substr(first + 1, second - first - 1));
  auto expected = decode_base64(stored.substr(second + 1));
  if (!salt || !expected || expected->size() != kHashBytes) return false;
  auto computed = pbkdf2(secret, *salt, iterations);
  if (!computed) return false;
  const bool same = CRYPTO_memcmp(computed->data(), expected->data(), kHashBytes) == 0;
  OPENSSL_cleanse(computed->data(), computed->size());
  return same;
}

CredentialService::CredentialService(EstCredentialRepository& store, const Clock& clock) : store_(store), clock_(clock) {}

std::string CredentialService::subject_of(const EstCredentialRecord& c) { return "credential:" + c.label + "/" + c.username; }

Result<CreatedCredential> CredentialService::create(const service::Principal& who, const CredentialSpec& spec) {
  if (!who.is_admin()) return fail(Errc::policy_refused, who.id + " may not create EST credentials");
  if (!valid_username(spec.username)) {
    return fail(Errc::invalid_input, "a credential name is 1-64 letters, digits, '.', '_' or '-'");
  }
  const auto now = clock_.now();
  if (spec.expires_at && *spec.expires_at <= now) return fail(Errc::invalid_input, "the expiry is not in the future");
  if (!spec.one_time && !spec.expires_at) return fail(Errc::invalid_input, "a reusable credential must expire");
  std::array<unsigned char, kSecretBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) return fail_openssl(Errc::internal, "RAND_bytes");
  std::string secret = base64(random);
  OPENSSL_cleanse(random.data(), random.size());
  for (auto& c : secret) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  EstCredentialRecord record;
  record.label = spec.label;
  record.username = spec.username;
  record.secret_hash = hash_secret(secret);
  if (record.secret_hash.empty()) return fail_openssl(Errc::internal, "PBKDF2");
  record.one_time = spec.one_time;
  record.created_by = who.id;
  record.created_at = now;
  record.expires_at = spec.expires_at;
  const AuditEvent audit{who.id, "est.credential.create", "est-label:" + spec.label,
                         "{\"label\":" + json_string(spec.label) + ",\"username\":" + json_string(spec.username) +
                             ",\"one_time\":" + (spec.one_time ? "true" : "false") + ",\"expires_at\":" +
                             (spec.expires_at ? json_string(service::iso8601(*spec.expires_at)) : "null") + "}",
                         now};
  auto id = store_.insert_est_credential(record, audit);
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return CreatedCredential{std::move(record), std::move(secret)};
}

Result<std::vector<EstCredentialRecord>> CredentialService::list(const service::Principal& who, std::optional<std::string> label) {
  if (!who.is_admin() && !who.has(service::Role::auditor)) return fail(Errc::policy_refused, who.id + " may not list EST credentials");
  return store_.list_est_credentials(label ? std::optional<std::string_view>(*label) : std::nullopt);
}

Result<EstCredentialRecord> CredentialService::revoke(const service::Principal& who, std::int64_t id) {
  if (!who.is_admin()) return fail(Errc::policy_refused, who.id + " may not revoke EST credentials");
  const auto now = clock_.now();
  return store_.revoke_est_credential(id, now, AuditEvent{who.id, "est.credential.revoke", "est-credential:" + std::to_string(id), "{}", now});
}

Result<EstCredentialRecord> CredentialService::authenticate(std::string_view label, std::string_view authorization) {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos || !http::iequals(authorization.substr(0, space), "Basic")) {
    return fail(Errc::policy_refused, "no Basic credentials");
  }
  auto decoded = decode_base64(authorization.substr(space + 1));
  if (!decoded) return fail(Errc::policy_refused, "malformed Basic credentials");
  std::string pair(decoded->begin(), decoded->end());
  OPENSSL_cleanse(decoded->data(), decoded->size());
  const auto colon = pair.find(':');
  if (colon == std::string::npos || !valid_username(std::string_view(pair).substr(0, colon))) {
    OPENSSL_cleanse(pair.data(), pair.size());
    return fail(Errc::policy_refused, "malformed Basic credentials");
  }
  const std::string username = pair.substr(0, colon);
  const std::string_view secret = std::string_view(pair).substr(colon + 1);
  auto found = store_.find_usable_est_credential(label, username);
  // An unknown name costs the same hash as a known one: timing does not tell which names exist.
  static const std::string decoy = hash_secret("decoy");
  const bool matches = secret_matches(secret, found ? found->secret_hash : decoy);
  OPENSSL_cleanse(pair.data(), pair.size());
  if (!found) {
    if (found.error().code != Errc::not_found) return std::unexpected(found.error());
    return fail(Errc::policy_refused, "no usable credential '" + username + "' on this label");
  }
  if (!matches) return fail(Errc::policy_refused, "wrong secret for credential '" + username + "'");
  const auto now = clock_.now();
  if (found->expires_at && *found->expires_at <= now) return fail(Errc::policy_refused, "credential '" + username + "' expired");
  const AuditEvent audit{"est:" + subject_of(*found), found->one_time ? "est.credential.spend" : "est.credential.use",
                         object_of(*found), "{\"label\":" + json_string(found->label) + "}", now};
  if (auto used = store_.use_est_credential(found->id, found->one_time, now, audit); !used) {
    if (used.error().code == Errc::conflict) return fail(Errc::policy_refused, "credential '" + username + "' was just spent");
    return std::unexpected(used.error());
  }
  return found;
}

}  // namespace fca::est
