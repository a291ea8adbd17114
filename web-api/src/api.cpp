#include "fca/api/api.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "fca/core/x509.hpp"
#include "fca/lab/lab.hpp"
#include "fca/service/json.hpp"
#include "fca/api/request.hpp"

namespace fca::api {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kPrefix = "/api/v1/";

http::Counter& authentication_failures(http::Metrics& metrics) {
  return metrics.counter("fca_api_authentication_failures_total", "Bad, expired or revoked bearer tokens and client certificates since start.");
}

// ---- answers ----

const char* code_of(Errc code) {
  switch (code) {
    case Errc::invalid_input: return "invalid_input";
    case Errc::policy_refused: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::key_failure: return "key_failure";
    case Errc::storage: return "storage";
    case Errc::internal: return "internal";
  }
  return "internal";
}

http::Response json_response(int status, const json& body) {
  return http::Response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                        "application/json");
}

http::Response error(int status, std::string_view code, std::string_view message) {
  return json_response(status, json{{"error", json{{"code", code}, {"message", message}}}});
}

// The one mapping from the service's errors: the status is the transport's (http::status_of), the
// message the service's, except for internal failures, which are logged and not shown.
http::Response error(spdlog::logger& log, const Error& e) {
  const int status = http::status_of(e.code);
  if (status >= 500) {
    log.error("api: {}", e.message);
    return error(status, code_of(e.code), "internal error (see the server log)");
  }
  return error(status, code_of(e.code), e.message);
}

std::string hex_sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// ---- paths and queries ----

bool is_ca_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::ranges::all_of(s, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}
bool is_serial(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::ranges::all_of(s, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}
bool is_id(std::string_view s) {
  return !s.empty() && s.size() <= 18 && std::ranges::all_of(s, [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::size_t> limit_of(const Params& query) {
  const auto it = query.find("limit");
  if (it == query.end()) return std::size_t{100};
  if (!is_id(it->second)) return fail(Errc::invalid_input, "limit: must be an integer from 1 to 1000");
  const auto n = std::stoll(it->second);
  if (n < 1 || n > 1000) return fail(Errc::invalid_input, "limit: must be an integer from 1 to 1000");
  return static_cast<std::size_t>(n);
}

std::optional<std::string> get(const Params& params, const std::string& name) {
  const auto it = params.find(name);
  return it == params.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::string peer_address(std::string_view peer) {
  if (peer.starts_with('[')) return std::string(peer.substr(0, peer.find(']') + 1));
  return std::string(peer.substr(0, peer.rfind(':')));
}

json token_json(const ApiTokenRecord& token) {
  const auto optional_time = [](const std::optional<TimePoint>& t) { return t ? json(service::iso8601(*t)) : json(nullptr); };
  json out;
  out["id"] = token.id;
  out["name"] = token.name;
  out["roles"] = token.roles;
  out["cas"] = token.cas ? json(*token.cas) : json(nullptr);
  out["profiles"] = token.profiles ? json(*token.profiles) : json(nullptr);
  out["created_by"] = token.created_by;
  out["created_at"] = service::iso8601(token.created_at);
  out["expires_at"] = optional_time(token.expires_at);
  out["revoked_at"] = optional_time(token.revoked_at);
  out["last_used_at"] = optional_time(token.last_used_at);
  return out;
}

template <class T, class F>
json page_json(const service::Page<T>& page, F&& shape) {
  json items = json::array();
  for (const auto& item : page.items) items.push_back(shape(item));
  return json{{"items", std::move(items)}, {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)}};
}

}  // namespace

// ---- state shared by the handlers: the failure limiter and the counters for /metrics ----

struct ApiFrontEnd::State {
  std::mutex mutex;
  struct Failures {
    std::chrono::steady_clock::time_point window_start;
    int count = 0;
  };
  std::unordered_map<std::string, Failures> failures;  // by client address; bounded below

  static constexpr std::size_t kMaxTrackedAddresses = 10000;

  // True while `address` has used up its failures for this minute.
  bool limited(const std::string& address, int max_per_minute) {
    std::lock_guard lock(mutex);
    const auto it = failures.find(address);
    if (it == failures.end()) return false;
    if (std::chrono::steady_clock::now() - it->second.window_start >= std::chrono::minutes(1)) {
      failures.erase(it);
      return false;
    }
    return it->second.count >= max_per_minute;
  }

  void failed(const std::string& address) {
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (failures.size() >= kMaxTrackedAddresses && !failures.contains(address)) {
      std::erase_if(failures, [&](const auto& item) { return now - item.second.window_start >= std::chrono::minutes(1); });
      // Still full: a flood from many addresses; forget the oldest half rather than grow without bound.
      if (failures.size() >= kMaxTrackedAddresses) failures.clear();
    }
    auto& entry = failures[address];
    if (entry.count == 0 || now - entry.window_start >= std::chrono::minutes(1)) entry = Failures{now, 0};
    ++entry.count;
  }

};

namespace {

// What a handler gets: the request, the path parameters and the caller.
struct Call {
  const http::Request& request;
  Params params;
  const service::Principal& who;
};

}  // namespace

ApiFrontEnd::ApiFrontEnd(ApiDependencies dependencies, ApiSettings settings, std::shared_ptr<spdlog::logger> log)
    : deps_(dependencies), settings_(settings), log_(std::move(log)), state_(std::make_unique<State>()) {
  authentication_failures(deps_.metrics);  // shown at 0 from the start
}

ApiFrontEnd::~ApiFrontEnd() = default;

namespace {

class Handlers {
 public:
  Handlers(ApiDependencies& deps, const ApiSettings& settings, spdlog::logger& log)
      : deps_(deps), settings_(settings), log_(log) {}

  http::Response dispatch(const RouteInfo& route, const Call& call) {
    const auto& key = route.method + " " + route.pattern;
    if (key == "GET /api/v1/cas") return list_cas(call);
    if (key == "GET /api/v1/cas/{name}") return get_ca(call);
    if (key == "GET /api/v1/cas/{name}/crl") return get_crl(call);
    if (key == "GET /api/v1/certificates") return list_certificates(call);
    if (key == "POST /api/v1/certificates") return issue(call);
    if (key == "GET /api/v1/certificates/{serial}") return get_certificate(call);
    if (key == "POST /api/v1/certificates/{serial}/revoke") return change_status(call, "revoke");
    if (key == "POST /api/v1/certificates/{serial}/hold") return change_status(call, "hold");
    if (key == "POST /api/v1/certificates/{serial}/release") return change_status(call, "release");
    if (key == "POST /api/v1/certificates/{serial}/renew") return renew(call);
    if (key == "GET /api/v1/enrollments") return list_enrollments(call);
    if (key == "POST /api/v1/enrollments/{id}/approve") return approve(call);
    if (key == "POST /api/v1/enrollments/{id}/reject") return reject(call);
    if (key == "GET /api/v1/audit") return audit(call);
    if (key == "GET /api/v1/audit/verify") return verify_audit(call);
    if (key == "GET /api/v1/tokens") return list_tokens(call);
    if (key == "POST /api/v1/tokens") return create_token(call);
    if (key == "DELETE /api/v1/tokens/{id}") return revoke_token(call);
    if (key == "POST /api/v1/lab/certificates") return mint_lab_certificates(call);
    if (key == "GET /api/v1/lab/faults") return list_lab_faults(call);
    if (key == "POST /api/v1/lab/faults") return set_lab_fault(call);
    if (key == "DELETE /api/v1/lab/faults") return clear_lab_faults(call, std::nullopt);
    if (key == "DELETE /api/v1/lab/faults/{id}") {
      const auto id = id_of(call);
      if (!id) return error(400, "invalid_input", "id: must be a decimal integer");
      return clear_lab_faults(call, *id);
    }
    if (key == "GET /metrics") return metrics(call);
    return error(500, "internal", "route without a handler");
  }

 private:
  void count_issuance(const std::string& ca) {
    deps_.metrics.counter("fca_issuances_total", "Certificates issued since start, by CA and front end.", {{"ca", ca}, {"frontend", "api"}}).add();
  }

  http::Response fail_with(const Error& e) {
    return error(log_, e);
  }

  // ---- CAs ----
  http::Response list_cas(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto cas = deps_.service.list_cas(call.who);
    if (!cas) return fail_with(cas.error());
    json items = json::array();
    for (const auto& ca : *cas) items.push_back(service::to_json(ca));
    return json_response(200, json{{"items", std::move(items)}});
  }

  http::Response get_ca(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    const auto& name = call.params.at("name");
    if (!is_ca_name(name)) return error(400, "invalid_input", "name: must be 1-64 of a-z 0-9 -");
    auto ca = deps_.service.get_ca(call.who, name);
    if (!ca) return fail_with(ca.error());
    auto out = service::to_json(*ca);
    if (ca->record.state == CaState::active) {
      auto chain = deps_.service.ca_chain_pem(call.who, name);
      if (!chain) return fail_with(chain.error());
      out["chain_pem"] = *chain;
    } else {
      out["chain_pem"] = nullptr;
    }
    return json_response(200, out);
  }

  http::Response get_crl(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    const auto& name = call.params.at("name");
    if (!is_ca_name(name)) return error(400, "invalid_input", "name: must be 1-64 of a-z 0-9 -");
    auto ca = deps_.service.get_ca(call.who, name);
    if (!ca) return fail_with(ca.error());
    if (ca->record.state != CaState::active) return error(404, "not_found", "CA '" + name + "' has no CRL (pending)");
    auto crl = deps_.crls.current(ca->record);
    if (!crl) return fail_with(crl.error());
    if (http::is_media_type(call.request.header("Accept"), "application/pkix-crl")) {
      http::Response r;
      r.set("Content-Type", "application/pkix-crl");
      r.body.assign(crl->der.begin(), crl->der.end());
      return r;
    }
    const unsigned char* p = crl->der.data();
    X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->der.size())));
    if (!parsed) return fail_with(Error{Errc::internal, "stored CRL of " + name + " does not parse"});
    return http::Response(200, to_pem(parsed.get()), "application/x-pem-file");
  }

  // ---- certificates ----
  http::Response list_certificates(const Call& call) {
    auto q = parse_query(call.request.target, {"status", "profile", "ca", "common_name", "name_contains",
                                               "expiring_before", "expiring_within_days", "issued_after", "cursor", "limit"});
    if (!q) return fail_with(q.error());
    service::CertificateQuery query;
    auto limit = limit_of(*q);
    if (!limit) return fail_with(limit.error());
    query.limit = *limit;
    if (auto s = get(*q, "status")) {
      auto status = parse_certificate_status(*s);
      if (!status) return error(400, "invalid_input", "status: must be valid, revoked or on-hold");
      query.status = *status;
    }
    if (auto ca = get(*q, "ca")) {
      if (!is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
      query.ca = *ca;
    }
    query.profile = get(*q, "profile");
    query.common_name = get(*q, "common_name");
    query.name_contains = get(*q, "name_contains");
    query.cursor = get(*q, "cursor");
    for (auto [name, target] : {std::pair{"expiring_before", &query.expiring_before}, std::pair{"issued_after", &query.issued_after}}) {
      if (auto t = get(*q, name)) {
        *target = parse_rfc3339(*t);
        if (!*target) return error(400, "invalid_input", std::string(name) + ": must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
      }
    }
    if (auto days = get(*q, "expiring_within_days")) {
      if (!is_id(*days) || std::stoll(*days) > 36500) return error(400, "invalid_input", "expiring_within_days: must be 0-36500");
      query.expiring_within_days = static_cast<int>(std::stoll(*days));
    }
    auto page = deps_.service.list_certificates(call.who, query);
    if (!page) return fail_with(page.error());
    return json_response(200, page_json(*page, [](const service::CertificateInfo& c) { return service::to_json(c); }));
  }

  std::optional<http::Response> bad_json_request(const Call& call, bool body_optional) {
    const auto& r = call.request;
    if (r.body.size() > settings_.max_body_bytes) return error(413, "payload_too_large", "body is larger than " + std::to_string(settings_.max_body_bytes) + " bytes");
    if (r.body.empty() && body_optional) return std::nullopt;
    if (!http::is_media_type(r.header("Content-Type"), "application/json")) {
      return error(415, "unsupported_media_type", "Content-Type must be application/json");
    }
    return std::nullopt;
  }

  json issued_json(const service::Issued& issued) {
    json out;
    out["certificate"] = service::to_json(service::CertificateInfo{issued.certificate.record, issued.ca});
    out["certificate_pem"] = issued.certificate.pem();
    out["chain_pem"] = issued.certificate.chain_pem();
    return out;
  }

  http::Response created(const json& body, const std::string& serial) {
    auto r = json_response(201, body);
    r.set("Location", "/api/v1/certificates/" + serial);
    return r;
  }

  http::Response issue(const Call& call) {
    if (auto bad = bad_json_request(call, false)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    const auto key = call.request.header("Idempotency-Key");
    if (call.request.has_header("Idempotency-Key") &&
        (key.empty() || key.size() > 128 || !std::ranges::all_of(key, [](char c) { return c > 32 && c < 127; }))) {
      return error(400, "invalid_input", "Idempotency-Key: must be 1-128 visible ASCII characters");
    }
    if (key.empty()) return issue_now(call);
    const IdempotencyRecord claim{call.who.id, std::string(key), hex_sha256(call.request.body), false, 0, {}, {},
                                  deps_.clock.now()};
    auto existing = deps_.idempotency.claim_idempotency_key(claim);
    if (!existing) return fail_with(existing.error());
    if (*existing) {
      if ((*existing)->request_sha256 != claim.request_sha256) {
        return error(422, "idempotency_mismatch", "Idempotency-Key was used with another request body");
      }
      if (!(*existing)->completed) return error(409, "conflict", "a request with this Idempotency-Key is in progress");
      http::Response r((*existing)->status, (*existing)->body, "application/json");
      if (!(*existing)->location.empty()) r.set("Location", (*existing)->location);
      r.set("Idempotent-Replayed", "true");
      return r;
    }
    auto answer = issue_now(call);
    if (answer.status != 201) {
      (void)deps_.idempotency.release_idempotency_key(claim.actor, claim.key);
      return answer;
    }
    IdempotencyRecord done = claim;
    done.completed = true;
    done.status = answer.status;
    done.location = std::string(answer.header("Location"));
    // A generated key is handed over once: the stored answer keeps the certificate, not the key.
    auto stored = nlohmann::ordered_json::parse(answer.body, nullptr, false);
    if (!stored.is_discarded() && stored.contains("key_pem")) {
      stored["key_pem"] = nullptr;
      stored["pkcs12_base64"] = nullptr;
      stored["key_withheld"] = true;
    }
    done.body = stored.dump() + "\n";
    if (auto ok = deps_.idempotency.complete_idempotency_key(done); !ok) log_.error("api: idempotency key: {}", ok.error().message);
    return answer;
  }

  http::Response issue_now(const Call& call) {
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto profile = body->text("profile", true, 64);
    auto ca = body->text("ca", false, 64);
    auto validity = body->integer("validity_days", false, 1, 36500);
    const bool keygen = !body->present("csr");
    if (!keygen) {
      auto csr = body->text("csr", true);
      if (auto ok = body->finish(); !ok) return fail_with(ok.error());
      if (ca && !is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
      if (csr->find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos) {
        return error(400, "invalid_input", "csr: must be a PEM certificate request");
      }
      auto issued = deps_.service.issue(call.who, IssueRequest{*csr, *profile, {}, ca, validity ? std::optional<int>(static_cast<int>(*validity)) : std::nullopt});
      if (!issued) return fail_with(issued.error());
      count_issuance(issued->ca);
      return created(issued_json(*issued), issued->certificate.record.serial);
    }
    auto common_name = body->text("common_name", true, 255);
    auto sans = body->text_list("sans", false);
    auto key_type = body->text("key_type", false, 16);
    auto password = body->text("pkcs12_password", true, 1024);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    if (ca && !is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
    if (password->size() < 8) return error(400, "invalid_input", "pkcs12_password: must be at least 8 characters");
    service::KeygenRequest request;
    request.common_name = *common_name;
    for (const auto& text : sans.value_or(std::vector<std::string>{})) {
      auto san = service::parse_san(text);
      if (!san) return error(400, "invalid_input", "sans: " + san.error().message);
      request.sans.push_back(*san);
    }
    auto spec = KeySpec::parse(key_type.value_or("p256"));
    if (!spec) return error(400, "invalid_input", "key_type: " + spec.error().message);
    request.key = *spec;
    request.profile = *profile;
    request.ca = ca;
    if (validity) request.validity_days = static_cast<int>(*validity);
    request.pkcs12_password = *password;
    auto credentials = deps_.service.keygen_issue(call.who, request);
    if (!credentials) return fail_with(credentials.error());
    auto ca_name = deps_.service.get_certificate(call.who, credentials->issued.record.serial, std::nullopt);
    count_issuance(ca_name ? ca_name->ca : std::string());
    json out;
    out["certificate"] = service::to_json(service::CertificateInfo{credentials->issued.record, ca_name ? ca_name->ca : std::string()});
    out["certificate_pem"] = credentials->issued.pem();
    out["chain_pem"] = credentials->issued.chain_pem();
    out["key_pem"] = credentials->key_pem;
    out["pkcs12_base64"] = base64(credentials->pkcs12);
    return created(out, credentials->issued.record.serial);
  }

  std::optional<http::Response> bad_serial(const Call& call) {
    if (!is_serial(call.params.at("serial"))) return error(400, "invalid_input", "serial: must be hexadecimal, at most 64 digits");
    return std::nullopt;
  }

  http::Response get_certificate(const Call& call) {
    if (auto bad = bad_serial(call)) return *bad;
    auto q = parse_query(call.request.target, {"ca"});
    if (!q) return fail_with(q.error());
    const auto ca = get(*q, "ca");
    if (ca && !is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
    auto found = deps_.service.get_certificate(call.who, call.params.at("serial"), ca ? std::optional<std::string_view>(*ca) : std::nullopt);
    if (!found) return fail_with(found.error());
    const auto accept = call.request.header("Accept");
    if (http::is_media_type(accept, "application/pkix-cert")) {
      http::Response r;
      r.set("Content-Type", "application/pkix-cert");
      r.body.assign(found->record.der.begin(), found->record.der.end());
      return r;
    }
    if (http::is_media_type(accept, "application/pem-certificate-chain")) {
      auto cert = parse_certificate(std::string_view(reinterpret_cast<const char*>(found->record.der.data()), found->record.der.size()));
      if (!cert) return fail_with(cert.error());
      auto chain = deps_.service.ca_chain_pem(call.who, found->ca);
      if (!chain) return fail_with(chain.error());
      return http::Response(200, to_pem(cert->get()) + *chain, "application/pem-certificate-chain");
    }
    if (!accept.empty() && !http::is_media_type(accept, "application/json") && accept.find("*/*") == std::string_view::npos) {
      return error(406, "not_acceptable", "Accept: application/json, application/pem-certificate-chain or application/pkix-cert");
    }
    // The shape of `facility-ca show --format json`: the record and its PEM.
    auto out = service::to_json(*found);
    auto cert = parse_certificate(std::string_view(reinterpret_cast<const char*>(found->record.der.data()), found->record.der.size()));
    if (!cert) return fail_with(cert.error());
    out["certificate_pem"] = to_pem(cert->get());
    return json_response(200, out);
  }

  http::Response change_status(const Call& call, std::string_view action) {
    if (auto bad = bad_serial(call)) return *bad;
    if (auto bad = bad_json_request(call, true)) return *bad;
    auto q = parse_query(call.request.target, {"ca"});
    if (!q) return fail_with(q.error());
    const auto ca = get(*q, "ca");
    if (ca && !is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
    auto body = JsonBody::parse(call.request.body, true);
    if (!body) return fail_with(body.error());
    const auto& serial = call.params.at("serial");
    Result<service::CertificateInfo> changed = std::unexpected(Error{Errc::internal, "unset"});
    std::string reason_label;
    if (action == "revoke") {
      auto reason_text = body->text("reason", false, 64);
      auto invalidity = body->time("invalidity_date", false);
      if (auto ok = body->finish(); !ok) return fail_with(ok.error());
      RevokeRequest request{serial, ca, RevocationReason::unspecified, invalidity, {}};
      if (reason_text) {
        auto reason = parse_revocation_reason(*reason_text);
        if (!reason) return error(400, "invalid_input", "reason: " + reason.error().message);
        if (*reason == RevocationReason::certificate_hold) return error(400, "invalid_input", "reason: use /hold to put a certificate on hold");
        request.reason = *reason;
      }
      reason_label = reason_text.value_or("unspecified");
      changed = deps_.service.revoke(call.who, request);
    } else if (action == "hold") {
      if (auto ok = body->finish(); !ok) return fail_with(ok.error());
      changed = deps_.service.revoke(call.who, RevokeRequest{serial, ca, RevocationReason::certificate_hold, std::nullopt, {}});
      reason_label = "certificateHold";
    } else {
      if (auto ok = body->finish(); !ok) return fail_with(ok.error());
      changed = deps_.service.release_hold(call.who, serial, ca ? std::optional<std::string_view>(*ca) : std::nullopt);
    }
    if (!changed) return fail_with(changed.error());
    if (!reason_label.empty()) {
      deps_.metrics.counter("fca_revocations_total", "Revocations and holds since start, by CA and reason.",
                            {{"ca", changed->ca}, {"reason", reason_label}}).add();
    }
    return json_response(200, service::to_json(*changed));
  }

  http::Response renew(const Call& call) {
    if (auto bad = bad_serial(call)) return *bad;
    if (auto bad = bad_json_request(call, false)) return *bad;
    auto q = parse_query(call.request.target, {"ca"});
    if (!q) return fail_with(q.error());
    const auto ca = get(*q, "ca");
    if (ca && !is_ca_name(*ca)) return error(400, "invalid_input", "ca: must be 1-64 of a-z 0-9 -");
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto csr = body->text("csr", true);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    if (csr->find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos) {
      return error(400, "invalid_input", "csr: must be a PEM certificate request");
    }
    auto issued = deps_.service.renew(call.who, call.params.at("serial"), ca ? std::optional<std::string_view>(*ca) : std::nullopt, *csr);
    if (!issued) return fail_with(issued.error());
    count_issuance(issued->ca);
    return created(issued_json(*issued), issued->certificate.record.serial);
  }

  // ---- enrolments ----
  http::Response list_enrollments(const Call& call) {
    auto q = parse_query(call.request.target, {"state", "cursor", "limit"});
    if (!q) return fail_with(q.error());
    service::EnrollmentQuery query;
    auto limit = limit_of(*q);
    if (!limit) return fail_with(limit.error());
    query.limit = *limit;
    if (auto s = get(*q, "state")) {
      auto state = parse_enrollment_state(*s);
      if (!state) return error(400, "invalid_input", "state: must be pending, approved or rejected");
      query.state = *state;
    }
    query.cursor = get(*q, "cursor");
    auto page = deps_.service.list_enrollments(call.who, query);
    if (!page) return fail_with(page.error());
    return json_response(200, page_json(*page, [](const service::EnrollmentInfo& e) { return service::to_json(e); }));
  }

  std::optional<std::int64_t> id_of(const Call& call) {
    const auto& id = call.params.at("id");
    if (!is_id(id)) return std::nullopt;
    return std::stoll(id);
  }

  http::Response approve(const Call& call) {
    const auto id = id_of(call);
    if (!id) return error(400, "invalid_input", "id: must be a decimal integer");
    if (auto bad = bad_json_request(call, true)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto body = JsonBody::parse(call.request.body, true);
    if (!body) return fail_with(body.error());
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    auto issued = deps_.service.approve_enrollment(call.who, *id);
    if (!issued) return fail_with(issued.error());
    count_issuance(issued->ca);
    return created(issued_json(*issued), issued->certificate.record.serial);
  }

  http::Response reject(const Call& call) {
    const auto id = id_of(call);
    if (!id) return error(400, "invalid_input", "id: must be a decimal integer");
    if (auto bad = bad_json_request(call, false)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto reason = body->text("reason", true, 1024);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    auto rejected = deps_.service.reject_enrollment(call.who, *id, *reason);
    if (!rejected) return fail_with(rejected.error());
    return json_response(200, service::to_json(*rejected));
  }

  // ---- audit ----
  http::Response audit(const Call& call) {
    auto q = parse_query(call.request.target, {"actor", "action", "since", "until", "cursor", "limit"});
    if (!q) return fail_with(q.error());
    auto limit = limit_of(*q);
    if (!limit) return fail_with(limit.error());
    service::AuditQuery query{get(*q, "actor"), get(*q, "action"), std::nullopt, std::nullopt, get(*q, "cursor"), *limit};
    for (auto [name, target] : {std::pair{"since", &query.since}, std::pair{"until", &query.until}}) {
      if (auto t = get(*q, name)) {
        *target = parse_rfc3339(*t);
        if (!*target) return error(400, "invalid_input", std::string(name) + ": must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
      }
    }
    auto page = deps_.service.audit_entries(call.who, query);
    if (!page) return fail_with(page.error());
    return json_response(200, page_json(*page, [](const AuditEntry& e) { return service::to_json(e); }));
  }

  http::Response verify_audit(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto check = deps_.service.verify_audit(call.who);
    if (!check) return fail_with(check.error());
    json out;
    out["intact"] = check->intact;
    out["entries"] = check->entries;
    out["first_bad_sequence"] = check->first_bad_sequence ? json(*check->first_bad_sequence) : json(nullptr);
    out["reason"] = check->reason;
    out["keyed_from"] = check->keyed_from ? json(*check->keyed_from) : json(nullptr);
    out["head_count"] = check->head_count;
    return json_response(200, out);
  }

  // ---- tokens ----
  http::Response list_tokens(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto tokens = deps_.tokens.list(call.who);
    if (!tokens) return fail_with(tokens.error());
    json items = json::array();
    for (const auto& t : *tokens) items.push_back(token_json(t));
    return json_response(200, json{{"items", std::move(items)}});
  }

  http::Response create_token(const Call& call) {
    if (auto bad = bad_json_request(call, false)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto name = body->text("name", true, 64);
    auto roles = body->text_list("roles", true);
    auto expires = body->time("expires_at", false);
    auto cas = body->text_list("cas", false);
    auto profiles = body->text_list("profiles", false);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    service::TokenSpec spec{*name, {}, expires, std::nullopt, std::nullopt};
    for (const auto& r : *roles) {
      auto role = service::parse_role(r);
      if (!role) return error(400, "invalid_input", "roles: " + role.error().message);
      spec.roles.insert(*role);
    }
    if (cas) spec.cas.emplace(cas->begin(), cas->end());
    if (profiles) spec.profiles.emplace(profiles->begin(), profiles->end());
    auto made = deps_.tokens.create(call.who, spec);
    if (!made) return fail_with(made.error());
    auto out = token_json(made->record);
    out["token"] = made->secret;
    auto r = json_response(201, out);
    r.set("Location", "/api/v1/tokens/" + std::to_string(made->record.id));
    r.set("Cache-Control", "no-store");
    return r;
  }

  http::Response revoke_token(const Call& call) {
    const auto id = id_of(call);
    if (!id) return error(400, "invalid_input", "id: must be a decimal integer");
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto revoked = deps_.tokens.revoke(call.who, *id);
    if (!revoked) return fail_with(revoked.error());
    return json_response(200, token_json(*revoked));
  }

  // ---- the lab kit (docs/lab.md): administrators, lab instances only ----
  http::Response mint_lab_certificates(const Call& call) {
    if (auto bad = bad_json_request(call, false)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto kind = body->text("kind", true, 32);
    auto common_name = body->text("common_name", false, 253);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    if (!lab::is_kind(*kind)) return error(400, "invalid_input", "kind: not a lab kind (docs/lab.md)");
    // The minter writes files; they go to a private scratch directory that is gone after the answer.
    std::string scratch_template = (std::filesystem::temp_directory_path() / "fca-lab-mint-XXXXXX").string();
    if (::mkdtemp(scratch_template.data()) == nullptr) return fail_with(Error{Errc::storage, "cannot make a scratch directory"});
    struct RemoveAfter {
      std::filesystem::path directory;
      ~RemoveAfter() {
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
      }
    } scratch{scratch_template};
    lab::Minter minter(deps_.service, call.who, lab::crl_bundle_of(deps_.service, call.who, deps_.crls));
    auto entries = minter.mint(*kind, common_name.value_or(*kind + ".localhost"), scratch.directory);
    if (!entries) return fail_with(entries.error());
    json items = json::array();
    for (const auto& entry : *entries) {
      const auto read = [&](const char* field) {
        std::ifstream in(scratch.directory / entry[field].get<std::string>(), std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
      };
      items.push_back(json{{"name", entry["name"]},
                           {"kind", entry["kind"]},
                           {"common_name", entry["common_name"]},
                           {"serial", entry["serial"]},
                           {"issuer_ca", entry["issuer_ca"]},
                           {"client_must", entry["client_must"]},
                           {"key_pem", read("key")},
                           {"certificate_pem", read("cert")},
                           {"chain_pem", read("chain")}});
    }
    auto r = json_response(201, json{{"items", std::move(items)}});
    r.set("Cache-Control", "no-store");  // private keys
    return r;
  }

  http::Response list_lab_faults(const Call& call) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto faults = deps_.lab_faults.list(call.who);
    if (!faults) return fail_with(faults.error());
    json items = json::array();
    for (const auto& f : *faults) items.push_back(service::to_json(f));
    return json_response(200, json{{"items", std::move(items)}});
  }

  http::Response set_lab_fault(const Call& call) {
    if (auto bad = bad_json_request(call, false)) return *bad;
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto body = JsonBody::parse(call.request.body, false);
    if (!body) return fail_with(body.error());
    auto kind = body->text("kind", true, 8);
    auto mode = body->text("mode", true, 32);
    auto ca = body->text("ca", false, 64);
    auto serial = body->text("serial", false, 64);
    auto duration = body->text("for", false, 16);
    auto delay = body->integer("delay_ms", false, 1, 30000);
    if (auto ok = body->finish(); !ok) return fail_with(ok.error());
    service::LabFaultSpec spec;
    if (*kind == "ocsp") spec.kind = LabFaultKind::ocsp;
    else if (*kind == "crl") spec.kind = LabFaultKind::crl;
    else return error(400, "invalid_input", "kind: must be \"ocsp\" or \"crl\"");
    spec.mode = *mode;
    spec.ca = ca;
    spec.serial = serial;
    spec.delay_ms = delay;
    if (duration) {
      auto parsed = service::parse_lab_duration(*duration);
      if (!parsed) return error(400, "invalid_input", "for: " + parsed.error().message);
      spec.duration = *parsed;
    }
    auto set = deps_.lab_faults.set(call.who, spec);
    if (!set) return fail_with(set.error());
    auto r = json_response(201, service::to_json(*set));
    r.set("Location", "/api/v1/lab/faults/" + std::to_string(set->fault.id));
    return r;
  }

  http::Response clear_lab_faults(const Call& call, std::optional<std::int64_t> id) {
    if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
    auto cleared = deps_.lab_faults.clear(call.who, id);
    if (!cleared) return fail_with(cleared.error());
    return json_response(200, json{{"cleared", *cleared}});
  }

  // ---- metrics ----
  http::Response metrics(const Call& call);

  ApiDependencies& deps_;
  const ApiSettings& settings_;
  spdlog::logger& log_;

 public:
  http::Response readyz();
};

http::Response Handlers::metrics(const Call& call) {
  if (auto q = parse_query(call.request.target, {}); !q) return fail_with(q.error());
  auto cas = deps_.service.list_cas(call.who);
  if (!cas) return fail_with(cas.error());
  auto counts = deps_.statistics.certificate_counts();
  if (!counts) return fail_with(counts.error());
  const auto now = deps_.clock.now();
  std::string out;
  const auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " " + std::string(type) + "\n";
  };
  const auto sample = [&](std::string_view name, const std::string& labels, auto value) {
    out += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  };
  const auto label = [](std::string_view key, std::string_view value) { return http::render_labels({{std::string(key), std::string(value)}}); };

  family("fca_certificates", "gauge", "Certificates in the database by issuing CA and status.");
  for (const auto& ca : *cas) {
    for (auto status : {CertificateStatus::valid, CertificateStatus::revoked, CertificateStatus::on_hold}) {
      std::int64_t n = 0;
      for (const auto& c : *counts) if (c.issuer_id == ca.record.id && c.status == status) n = c.count;
      sample("fca_certificates", label("ca", ca.record.name) + "," + label("status", to_string(status)), n);
    }
  }
  // The counters every front end counts into (issuances, revocations, refusals, OCSP, EST).
  out += deps_.metrics.exposition();
  const auto crl_status = deps_.crls.status();
  family("fca_crl_number", "gauge", "cRLNumber of each CA's current CRL.");
  std::string age, next, failing;
  for (const auto& ca : *cas) {
    if (ca.record.state != CaState::active) continue;
    auto crl = deps_.crls.current(ca.record);
    if (!crl) continue;
    const auto l = label("ca", ca.record.name);
    sample("fca_crl_number", l, crl->number);
    age += "fca_crl_age_seconds{" + l + "} " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - crl->this_update).count()) + "\n";
    next += "fca_crl_next_update_seconds{" + l + "} " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(crl->next_update - now).count()) + "\n";
  }
  family("fca_crl_age_seconds", "gauge", "Seconds since thisUpdate of each CA's current CRL.");
  out += age;
  family("fca_crl_next_update_seconds", "gauge", "Seconds until nextUpdate of each CA's current CRL.");
  out += next;
  // Every active CA with every task, 0 until a refresh of that kind has failed for it.
  const std::pair<const char*, std::map<std::int64_t, CaRefreshStatus>> boards[] = {
      {"crl", crl_status}, {"ocsp_signer", deps_.ocsp.signer_status()}, {"ocsp_cache", deps_.ocsp.cache_status()}};
  std::string failures;
  family("fca_scheduler_failing", "gauge", "1 when the last scheduled refresh of this kind failed for the CA.");
  for (const auto& ca : *cas) {
    if (ca.record.state != CaState::active) continue;
    for (const auto& [task, board] : boards) {
      const auto found = board.find(ca.record.id);
      const auto labels = label("ca", ca.record.name) + "," + label("task", task);
      sample("fca_scheduler_failing", labels, found != board.end() && found->second.failing ? 1 : 0);
      failures += "fca_scheduler_failures_total{" + labels + "} " + std::to_string(found != board.end() ? found->second.failures : 0) + "\n";
    }
  }
  family("fca_scheduler_failures_total", "counter", "Failed scheduled refreshes of this kind for the CA since start.");
  out += failures;
  family("fca_ocsp_cached_answers", "gauge", "Pre-signed OCSP answers in the cache.");
  sample("fca_ocsp_cached_answers", "", deps_.ocsp.cached_answers());
  auto soonest = deps_.statistics.soonest_certificate_expiry(now);
  if (!soonest) return fail_with(soonest.error());
  family("fca_leaf_soonest_expiry_seconds", "gauge", "Seconds until the first valid certificate expires (absent: none).");
  if (*soonest) sample("fca_leaf_soonest_expiry_seconds", "", std::chrono::duration_cast<std::chrono::seconds>(**soonest - now).count());
  family("fca_ca_soonest_expiry_seconds", "gauge", "Seconds until the first active CA certificate expires.");
  std::optional<TimePoint> ca_soonest;
  for (const auto& ca : *cas) {
    if (ca.record.state == CaState::active && (!ca_soonest || ca.record.not_after < *ca_soonest)) ca_soonest = ca.record.not_after;
  }
  if (ca_soonest) sample("fca_ca_soonest_expiry_seconds", "", std::chrono::duration_cast<std::chrono::seconds>(*ca_soonest - now).count());
  return http::Response(200, out, "text/plain; version=0.0.4; charset=utf-8");
}

http::Response Handlers::readyz() {
  std::vector<std::string> problems;
  if (auto ok = deps_.statistics.check_writable(); !ok) problems.push_back("database not writable: " + ok.error().message);
  const auto who = service::Principal::system("readyz");
  auto cas = deps_.service.list_cas(who);
  if (!cas) {
    problems.push_back("CAs cannot be read: " + cas.error().message);
  } else {
    const auto now = deps_.clock.now();
    const auto crl_status = deps_.crls.status();
    const auto signer_status = deps_.ocsp.signer_status();
    const auto lab = deps_.service.is_lab_instance();
    if (!lab) problems.push_back("the lab mark cannot be read: " + lab.error().message);
    for (const auto& ca : *cas) {
      if (ca.record.state != CaState::active) continue;
      const auto& name = ca.record.name;
      if (lab && *lab && name.starts_with(service::Service::kLabCaPrefix)) continue;  // broken on purpose
      if (ca.record.not_after <= now) problems.push_back("CA " + name + ": certificate expired");
      if (auto s = crl_status.find(ca.record.id); s != crl_status.end() && s->second.failing) {
        problems.push_back("CA " + name + ": CRL refresh failing: " + s->second.last_error);
      }
      if (auto s = signer_status.find(ca.record.id); s != signer_status.end() && s->second.failing) {
        problems.push_back("CA " + name + ": OCSP responder certificate failing: " + s->second.last_error);
      }
      auto crl = deps_.crls.current(ca.record);
      if (!crl) {
        problems.push_back("CA " + name + ": no CRL: " + crl.error().message);
      } else if (crl->next_update <= now) {
        problems.push_back("CA " + name + ": CRL past its nextUpdate");
      }
    }
  }
  if (problems.empty()) return json_response(200, json{{"ready", true}, {"problems", json::array()}});
  for (const auto& p : problems) log_.warn("readyz: {}", p);
  return json_response(503, json{{"ready", false}, {"problems", problems}});
}

// The `code` of the error JSON each refusal status carries (docs/api.md, "Errors").
const char* refusal_reason(int status) {
  switch (status) {
    case 400: return "invalid_input";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 406: return "not_acceptable";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 422: return "idempotency_mismatch";
    case 429: return "too_many_requests";
  }
  return "other";
}

}  // namespace

http::Response ApiFrontEnd::handle(const http::Request& request) const {
  auto response = answer(request);
  if (response.status >= 400 && response.status < 500) {
    deps_.metrics.counter("fca_refusals_total", "Requests refused since start (4xx), by front end and reason.",
                          {{"frontend", "api"}, {"reason", refusal_reason(response.status)}}).add();
  }
  return response;
}

http::Response ApiFrontEnd::answer(const http::Request& request) const {
  Handlers handlers(const_cast<ApiDependencies&>(deps_), settings_, *log_);
  const auto path = request.path();
  if (path == "/healthz") return json_response(200, json{{"status", "ok"}});
  if (path == "/readyz") return handlers.readyz();
  if (path == "/api/v1/openapi.json") {
    if (request.method != "GET") {
      auto r = error(405, "method_not_allowed", "GET only");
      r.set("Allow", "GET, HEAD, OPTIONS");
      return r;
    }
    return json_response(200, openapi_document());
  }

  const RouteInfo* found = nullptr;
  Params params;
  std::string allow;
  for (const auto& route : routes()) {
    if (!route.authenticated) continue;
    auto matched = match_path(route.pattern, path);
    if (!matched) continue;
    allow += (allow.empty() ? "" : ", ") + route.method;
    if (route.method == "GET") allow += ", HEAD";
    if (route.method == request.method) {
      found = &route;
      params = std::move(*matched);
    }
  }
  if (allow.empty()) return error(404, "not_found", "no such resource");
  if (!found) {
    auto r = error(405, "method_not_allowed", "method " + http::escape_for_log(request.method, 16) + " not allowed here");
    r.set("Allow", allow + ", OPTIONS");
    return r;
  }

  const auto address = peer_address(request.peer);
  const auto unauthorized = [&](std::string_view why) {
    log_->warn("api: {} {} from {}: 401 ({})", request.method, http::escape_for_log(path, 128), address, http::escape_for_log(why));
    auto r = error(401, "unauthorized", "a valid bearer token (or client certificate) is required");
    r.set("WWW-Authenticate", "Bearer realm=\"facility-ca\"");
    return r;
  };
  if (state_->limited(address, settings_.max_auth_failures_per_minute)) {
    log_->warn("api: {} {} from {}: 429 (too many failed authentications)", request.method, http::escape_for_log(path, 128), address);
    auto r = error(429, "too_many_requests", "too many failed authentications from this address; try again later");
    r.set("Retry-After", "60");
    return r;
  }
  const auto failed = [&](std::string_view why) {
    state_->failed(address);
    authentication_failures(deps_.metrics).add();
    return unauthorized(why);
  };
  const auto authorization = request.header("Authorization");
  service::Principal who;
  if (authorization.empty()) {
    if (!settings_.client_certificates || request.client_chain.empty()) return unauthorized("no token");
    auto client = settings_.client_certificates(request.client_chain);
    if (!client) {
      if (client.error().code != Errc::policy_refused) log_->error("api: client certificate: {}", client.error().message);
      return failed("client certificate: " + client.error().message);
    }
    who = std::move(*client);
  } else {
    if (authorization.size() < 7 || !http::iequals(authorization.substr(0, 7), "Bearer ")) return failed("not a bearer token");
    auto authenticated = deps_.tokens.authenticate(authorization.substr(7));
    if (!authenticated) return failed(service::to_string(authenticated.error()));
    who = std::move(authenticated->principal);
  }
  auto response = handlers.dispatch(*found, Call{request, std::move(params), who});
  if (response.status == 403) {
    log_->warn("api: {} {} by {}: 403", request.method, http::escape_for_log(path, 128), http::escape_for_log(who.id, 256));
  }
  return response;
}

void ApiFrontEnd::mount(http::Router& router) const {
  const auto handler = [this](const http::Request& r) { return handle(r); };
  router.add(http::Match::prefix, std::string(kPrefix), {"GET", "POST", "DELETE", "PUT", "PATCH"}, handler);
  router.add(http::Match::exact, "/healthz", {"GET"}, handler, http::Run::io_thread);
  router.add(http::Match::exact, "/readyz", {"GET"}, handler);
  router.add(http::Match::exact, "/metrics", {"GET"}, handler);
}

}  // namespace fca::api
