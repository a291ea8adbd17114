#include "config.hpp"

#include <grp.h>
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "fca/core/escape.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/policy.hpp"
#include "fca/core/profile.hpp"

namespace fca::app {
namespace {

using nlohmann::json;

constexpr int kMaxValidityDays = 36500;
constexpr std::array kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};

// Collects every problem so an operator fixes the file in one pass, not one error per run.
class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}
  void add(const std::string& path, const std::string& reason) {
    // Key paths and JSON parser messages quote the file: escaped here, so a newline in a key name
    // cannot pass for a line of its own when the problems are printed one per line.
    lines_.push_back(escape_control(source_ + ": " + (path.empty() ? "" : path + ": ") + reason));
  }
  bool empty() const { return lines_.empty(); }
  std::string text() const {
    std::string out;
    for (const auto& line : lines_) out += (out.empty() ? "" : "\n") + line;
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// One JSON object of the config. Each accessor marks its key as known and returns nothing when the
// key is absent or its value is wrong (the problem is recorded); finish() reports the unknown keys.
class Section {
 public:
  Section(const json* object, std::string path, Problems& problems)
      : object_(object), path_(std::move(path)), problems_(problems) {}

  std::string path_of(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

  const json* value(std::string_view key) {
    known_.emplace(key);
    if (object_ == nullptr) return nullptr;
    auto it = object_->find(std::string(key));
    return it == object_->end() ? nullptr : &*it;
  }

  template <class Check>
  std::optional<std::string> text(std::string_view key, Check is_valid, const std::string& expectation) {
    const json* v = value(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string() || !is_valid(v->get<std::string>())) {
      problems_.add(path_of(key), expectation);
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<int> integer(std::string_view key, long long min, long long max = std::numeric_limits<int>::max()) {
    const json* v = value(key);
    if (v == nullptr) return std::nullopt;
    const bool in_range = v->is_number_integer() && !(v->is_number_unsigned() && v->get<unsigned long long>() >
                                                                                    static_cast<unsigned long long>(max)) &&
                          v->get<long long>() >= min && v->get<long long>() <= max;
    if (!in_range) {
      problems_.add(path_of(key), max == std::numeric_limits<int>::max()
                                      ? "must be an integer >= " + std::to_string(min)
                                      : "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return static_cast<int>(v->get<long long>());
  }

  std::optional<bool> boolean(std::string_view key) {
    const json* v = value(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      problems_.add(path_of(key), "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  template <class Check>
  std::optional<std::vector<std::string>> text_list(std::string_view key, Check is_valid, const std::string& expectation) {
    const json* v = value(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) {
      problems_.add(path_of(key), "must be an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> items;
    bool ok = true;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (!item.is_string() || !is_valid(item.get<std::string>())) {
        problems_.add(path_of(key) + "[" + std::to_string(i) + "]", expectation);
        ok = false;
        continue;
      }
      items.push_back(item.get<std::string>());
    }
    if (!ok) return std::nullopt;
    return items;
  }

  // A nested object; absent is fine (every key inside takes its default).
  Section section(std::string_view key) {
    const json* v = value(key);
    if (v != nullptr && !v->is_object()) {
      problems_.add(path_of(key), "must be an object");
      v = nullptr;
    }
    return Section(v, path_of(key), problems_);
  }

  bool present() const { return object_ != nullptr; }
  bool has(std::string_view key) const { return object_ != nullptr && object_->contains(std::string(key)); }
  const json* object() const { return object_; }
  Problems& problems() { return problems_; }

  void finish() {
    if (object_ == nullptr) return;
    for (const auto& [key, unused] : object_->items()) {
      if (!known_.contains(key)) problems_.add(path_of(key), "unknown key");
    }
  }

 private:
  const json* object_;
  std::string path_;
  Problems& problems_;
  std::set<std::string, std::less<>> known_;
};

bool non_empty(const std::string& s) { return !s.empty(); }

bool is_env_name(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::ranges::all_of(s, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_key_type(const std::string& s) { return KeySpec::parse(s).has_value(); }

bool is_country(const std::string& s) {
  return s.empty() || (s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z');
}

bool is_url_base(const std::string& s) {
  if (s.empty()) return true;
  const bool scheme = s.starts_with("http://") || s.starts_with("https://");
  const auto host_start = s.find("://") + 3;
  return scheme && s.size() > host_start && s.back() != '/' &&
         std::ranges::none_of(s, [](char c) { return c == ' ' || c == '?' || c == '#' || c < 0x21; });
}

bool is_log_level(const std::string& s) {
  return std::ranges::find(kLogLevels, s) != kLogLevels.end();
}

bool is_dns_suffix(const std::string& s) { return is_valid_dns_name(s, false); }

void read_keys(Section keys, Config& config) {
  auto& out = config.keys;
  if (auto v = keys.text("backend", [](const std::string& s) { return s == "file" || s == "pkcs11"; },
                         "must be \"file\" or \"pkcs11\"")) {
    out.backend = *v;
  }
  if (auto v = keys.text("directory", non_empty, "must be a non-empty path")) out.directory = *v;
  out.passphrase_file = keys.text("passphrase_file", non_empty, "must be a non-empty path");
  out.passphrase_env = keys.text("passphrase_env", is_env_name, "must be an environment variable name");
  if (auto v = keys.boolean("allow_unencrypted")) out.allow_unencrypted = *v;
  if (keys.has("passphrase_file") && keys.has("passphrase_env")) {
    keys.problems().add(keys.path_of("passphrase_env"), "set keys.passphrase_file or keys.passphrase_env, not both");
  }

  auto pkcs11 = keys.section("pkcs11");
  if (pkcs11.present()) {
    Pkcs11Config p;
    if (auto v = pkcs11.text("module", non_empty, "must be the path of a PKCS#11 module")) p.module = *v;
    if (auto v = pkcs11.text("token", non_empty, "must be a non-empty token label")) p.token = *v;
    p.pin_file = pkcs11.text("pin_file", non_empty, "must be a non-empty path");
    p.pin_env = pkcs11.text("pin_env", is_env_name, "must be an environment variable name");
    if (!pkcs11.has("token")) pkcs11.problems().add(pkcs11.path_of("token"), "required when keys.pkcs11 is set");
    if (pkcs11.has("pin_file") && pkcs11.has("pin_env")) {
      pkcs11.problems().add(pkcs11.path_of("pin_env"), "set keys.pkcs11.pin_file or keys.pkcs11.pin_env, not both");
    }
    if (!pkcs11.has("pin_file") && !pkcs11.has("pin_env")) {
      pkcs11.problems().add(pkcs11.path_of("pin_file"), "required (or keys.pkcs11.pin_env): the token's user PIN");
    }
    pkcs11.finish();
    out.pkcs11 = std::move(p);
  } else if (out.backend == "pkcs11") {
    keys.problems().add(keys.path_of("pkcs11"), "required when keys.backend is \"pkcs11\"");
  }
  keys.finish();

  // Keys are encrypted at rest unless the operator explicitly opts out (lab use).
  if (!out.passphrase_file && !out.passphrase_env && !out.allow_unencrypted) out.passphrase_file = kDefaultPassphraseFile;
}

void read_ca(Section ca, Config& config) {
  auto& out = config.ca;
  if (auto v = ca.text("key_type", is_key_type, "must be one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519")) {
    out.key_type = *v;
  }
  if (auto v = ca.integer("root_validity_days", 1, kMaxValidityDays)) out.root_validity_days = *v;
  if (auto v = ca.integer("issuing_validity_days", 1, kMaxValidityDays)) out.issuing_validity_days = *v;
  if (auto v = ca.text("organization", [](const std::string& s) { return s.size() <= 64; },
                       "must be a string of at most 64 characters")) {
    out.organization = *v;
  }
  if (auto v = ca.text("country", is_country, "must be a two-letter country code (ISO 3166, upper case) or empty")) {
    out.country = *v;
  }
  if (auto v = ca.integer("backdate_seconds", 0, 86400)) out.backdate_seconds = *v;
  ca.finish();
}

void read_policy(Section policy, Config& config) {
  auto& out = config.policy;
  if (auto v = policy.text_list("allowed_dns_suffixes", is_dns_suffix, "must be a DNS name such as \"example.com\"")) {
    out.allowed_dns_suffixes = *v;
  }
  if (auto v = policy.boolean("allow_wildcards")) out.allow_wildcards = *v;
  if (auto v = policy.boolean("allow_ip_sans")) out.allow_ip_sans = *v;
  if (auto v = policy.boolean("allow_ed25519")) out.allow_ed25519 = *v;
  if (auto v = policy.integer("min_rsa_bits", 2048)) out.min_rsa_bits = *v;
  if (auto v = policy.integer("max_rsa_bits", 2048, 16384)) out.max_rsa_bits = *v;
  if (out.max_rsa_bits < out.min_rsa_bits) {
    policy.problems().add(policy.path_of("max_rsa_bits"), "must not be smaller than policy.min_rsa_bits");
  }
  if (auto v = policy.integer("min_ec_bits", 256)) out.min_ec_bits = *v;
  if (auto v = policy.integer("max_sans", 1, 1000)) out.max_sans = static_cast<std::size_t>(*v);
  policy.finish();
}

void read_profiles(Section profiles, Config& config) {
  if (!profiles.present()) return;
  const auto builtin = builtin_profiles();
  std::string known_names;
  for (const auto& p : builtin) known_names += (known_names.empty() ? "" : ", ") + p.name;

  for (const auto& [name, unused] : profiles.object()->items()) {
    auto found = std::ranges::find(builtin, name, &Profile::name);
    if (found == builtin.end()) {
      profiles.value(name);  // reported here, not again as an unknown key
      profiles.problems().add(profiles.path_of(name), "unknown profile (known: " + known_names + ")");
      continue;
    }
    auto section = profiles.section(name);
    ProfileOverride override_;
    override_.default_validity_days = section.integer("default_validity_days", 1, kMaxValidityDays);
    override_.max_validity_days = section.integer("max_validity_days", 1, kMaxValidityDays);
    section.finish();
    const int default_days = override_.default_validity_days.value_or(found->default_validity_days);
    const int max_days = override_.max_validity_days.value_or(found->max_validity_days);
    if (default_days > max_days) {
      profiles.problems().add(section.path_of("default_validity_days"),
                              "must not exceed max_validity_days (" + std::to_string(max_days) + ")");
    }
    config.profiles[name] = override_;
  }
  profiles.finish();
}

bool is_frontend(const std::string& s) { return s == "ocsp" || s == "crl" || s == "est" || s == "api"; }

// What serve can bind without asking a resolver: an IPv4 or IPv6 literal, or "localhost".
bool is_bind_address(const std::string& s) {
  unsigned char buffer[16];
  return s == "localhost" || ::inet_pton(AF_INET, s.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, s.c_str(), buffer) == 1;
}

bool is_http_path(const std::string& s) {
  return s.empty() || (s.front() == '/' && s.back() != '/' &&
                       std::ranges::all_of(s, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.'; }));
}

// A serialised web origin (RFC 6454): scheme, host, optional port; no path, no wildcard.
bool is_web_origin(const std::string& s) {
  const auto scheme_end = s.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = s.substr(0, scheme_end);
  const std::string rest = s.substr(scheme_end + 3);
  if ((scheme != "https" && scheme != "http") || rest.empty()) return false;
  return std::ranges::all_of(rest, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
}

void read_listener(Section listener, ListenerConfig& out) {
  if (auto v = listener.text("address", is_bind_address,
                             "must be an IPv4 or IPv6 address (\"127.0.0.1\", \"::1\", \"0.0.0.0\") or \"localhost\"")) {
    out.address = *v;
  }
  if (auto v = listener.integer("port", 0, 65535)) out.port = *v;
  if (auto v = listener.text_list("frontends", is_frontend, "must be \"ocsp\", \"crl\", \"est\" or \"api\"")) {
    // A listener serving nothing is a mistake, not a feature: it would answer 404 to everything.
    if (v->empty()) listener.problems().add(listener.path_of("frontends"), "must name at least one of \"ocsp\", \"crl\", \"est\", \"api\"");
    std::set<std::string> distinct(v->begin(), v->end());
    if (distinct.size() != v->size()) listener.problems().add(listener.path_of("frontends"), "names a frontend twice");
    out.frontends = *v;
  }
  if (auto v = listener.text_list("cors_origins", is_web_origin,
                                  "must be an origin as a browser sends it: \"https://host\" or \"https://host:port\" (no path, no \"*\")")) {
    out.cors_origins = *v;
  }
  auto tls = listener.section("tls");
  if (tls.present()) {
    out.https = true;
    out.tls_certificate = tls.text("certificate", non_empty, "must be the path of a PEM certificate (chain)");
    out.tls_key = tls.text("key", non_empty, "must be the path of a PEM private key");
    if (tls.has("certificate") != tls.has("key")) {
      tls.problems().add(tls.path_of(tls.has("key") ? "certificate" : "key"), "certificate and key go together");
    }
    if (auto v = tls.text_list("names", non_empty, "must be a DNS name or an address")) out.tls_names = *v;
    if (out.tls_names.empty()) tls.problems().add(tls.path_of("names"), "must name at least one DNS name");
    if (auto v = tls.text("ca", non_empty, "must name a CA of this instance")) out.tls_ca = *v;
    if (auto v = tls.boolean("session_tickets")) out.tls_session_tickets = *v;
    tls.finish();
  }
  listener.finish();
}

void read_serve(Section serve, Config& config) {
  auto& out = config.serve;
  if (const json* listeners = serve.value("listeners")) {
    if (!listeners->is_array() || listeners->empty()) {
      serve.problems().add(serve.path_of("listeners"), "must be a non-empty array of listener objects");
    } else {
      out.listeners.clear();
      for (std::size_t i = 0; i < listeners->size(); ++i) {
        const std::string path = serve.path_of("listeners") + "[" + std::to_string(i) + "]";
        if (!(*listeners)[i].is_object()) {
          serve.problems().add(path, "must be an object");
          continue;
        }
        ListenerConfig listener;
        read_listener(Section(&(*listeners)[i], path, serve.problems()), listener);
        out.listeners.push_back(std::move(listener));
      }
    }
  }
  if (auto v = serve.integer("io_threads", 1, 64)) out.io_threads = *v;
  if (auto v = serve.integer("threads", 1, 256)) out.threads = *v;
  if (auto v = serve.integer("worker_queue", 1, 1000000)) out.worker_queue = *v;
  if (auto v = serve.integer("max_body_bytes", 1024, 64 * 1024 * 1024)) out.max_body_bytes = *v;
  if (auto v = serve.integer("max_header_bytes", 1024, 1024 * 1024)) out.max_header_bytes = *v;
  if (auto v = serve.integer("max_connections", 1, 1000000)) out.max_connections = *v;
  if (auto v = serve.integer("read_timeout_seconds", 1, 3600)) out.read_timeout_seconds = *v;
  if (auto v = serve.integer("write_timeout_seconds", 1, 3600)) out.write_timeout_seconds = *v;
  if (auto v = serve.integer("keep_alive_max_count", 1, 1000000)) out.keep_alive_max_count = *v;
  if (auto v = serve.integer("keep_alive_timeout_seconds", 1, 3600)) out.keep_alive_timeout_seconds = *v;
  if (auto v = serve.integer("shutdown_grace_seconds", 0, 300)) out.shutdown_grace_seconds = *v;
  if (auto v = serve.integer("scheduler_interval_seconds", 1, 86400)) out.scheduler_interval_seconds = *v;
  if (auto v = serve.integer("hsts_max_age_seconds", 0, 63072000)) out.hsts_max_age_seconds = *v;
  serve.finish();
}

bool is_est_label(const std::string& s) {
  return std::ranges::all_of(s, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }) &&
         s != "cacerts" && s != "simpleenroll" && s != "simplereenroll" && s != "serverkeygen" && s != "csrattrs";
}

// A trust store for TLS client certificates (EST labels, API clients).
void read_trust(Section trust, EstTrustConfig& out, bool expired_allowed) {
  const auto any_path = [](const std::string& p) { return !p.empty(); };
  if (auto v = trust.text_list("roots", any_path, "must be a path")) out.roots = *v;
  if (auto v = trust.text_list("intermediates", any_path, "must be a path")) out.intermediates = *v;
  if (auto v = trust.text_list("crl_files", any_path, "must be a path")) out.crl_files = *v;
  if (auto v = trust.text("crl_hash_dir", [](const std::string&) { return true; }, "must be a path or \"\"")) {
    out.crl_hash_dir = *v;
  }
  if (expired_allowed) {
    if (auto v = trust.boolean("accept_expired")) out.accept_expired = *v;
  }
  trust.finish();
}

void read_est(Section est, Config& config) {
  if (auto v = est.boolean("mdns")) config.est.mdns = *v;
  const json* labels = est.value("labels");
  if (labels == nullptr) return est.finish();
  if (!labels->is_array() || labels->empty()) {
    est.problems().add(est.path_of("labels"), "must be a non-empty array of label objects");
    return est.finish();
  }
  config.est.labels.clear();
  std::set<std::string> seen;
  for (std::size_t i = 0; i < labels->size(); ++i) {
    const std::string path = est.path_of("labels") + "[" + std::to_string(i) + "]";
    if (!(*labels)[i].is_object()) {
      est.problems().add(path, "must be an object");
      continue;
    }
    Section section(&(*labels)[i], path, est.problems());
    EstLabelConfig out;
    if (auto v = section.text("label", is_est_label, "must be \"\" or letters, digits, '-' and '_' (not an EST operation)")) {
      out.label = *v;
    }
    if (!seen.insert(out.label).second) section.problems().add(section.path_of("label"), "appears twice");
    if (auto v = section.text("ca", non_empty, "must name a CA of this instance")) out.ca = *v;
    if (auto v = section.text_list("profiles", non_empty, "must name a profile")) out.profiles = *v;
    if (out.profiles.empty()) section.problems().add(section.path_of("profiles"), "must name at least one profile");
    if (auto v = section.text("approval", [](const std::string& a) { return a == "auto" || a == "manual"; },
                              "must be \"auto\" or \"manual\"")) {
      out.approval = *v;
    }
    if (auto v = section.integer("retry_after_seconds", 1, 86400)) out.retry_after_seconds = *v;
    if (auto v = section.boolean("http_basic")) out.http_basic = *v;
    if (auto v = section.boolean("channel_binding")) out.channel_binding = *v;
    if (out.http_basic && out.label.empty()) {
      section.problems().add(section.path_of("http_basic"), "the default label (BCP-003-03) never asks for HTTP authentication");
    }
    read_trust(section.section("trust"), out.trust, true);
    section.finish();
    config.est.labels.push_back(std::move(out));
  }
  est.finish();
}

void read_ocsp(Section ocsp, Config& config) {
  auto& out = config.ocsp;
  if (auto v = ocsp.text("path", is_http_path, "must be \"\" or a path such as \"/ocsp\" (no trailing slash)")) out.path = *v;
  if (auto v = ocsp.integer("validity_seconds", 60, 7 * 86400)) out.validity_seconds = *v;
  if (auto v = ocsp.integer("refresh_before_seconds", 0, 7 * 86400)) out.refresh_before_seconds = *v;
  if (auto v = ocsp.boolean("sign_with_ca_key")) out.sign_with_ca_key = *v;
  if (auto v = ocsp.integer("signer_validity_days", 2, 90)) out.signer_validity_days = *v;
  if (auto v = ocsp.integer("renew_signer_before_days", 1, 89)) out.renew_signer_before_days = *v;
  if (auto v = ocsp.integer("max_age_seconds", 0, 7 * 86400)) out.max_age_seconds = *v;
  if (auto v = ocsp.text("export_link", [](const std::string&) { return true; }, "must be a path or \"\"")) {
    out.export_link = *v;
  }
  if (out.refresh_before_seconds >= out.validity_seconds) {
    ocsp.problems().add(ocsp.path_of("refresh_before_seconds"), "must be less than ocsp.validity_seconds");
  }
  if (out.renew_signer_before_days >= out.signer_validity_days) {
    ocsp.problems().add(ocsp.path_of("renew_signer_before_days"), "must be less than ocsp.signer_validity_days");
  }
  ocsp.finish();
}

void read_api(Section api, Config& config) {
  auto& out = config.api;
  if (auto v = api.integer("max_body_bytes", 1024, 16 * 1024 * 1024)) out.max_body_bytes = *v;
  if (auto v = api.integer("max_auth_failures_per_minute", 1, 100000)) out.max_auth_failures_per_minute = *v;
  if (auto v = api.text("first_token_file", [](const std::string& s) { return !s.empty(); }, "must be a path")) {
    out.first_token_file = *v;
  }
  if (const json* clients = api.value("client_certificates")) {
    const auto at = api.path_of("client_certificates");
    if (!clients->is_array()) {
      api.problems().add(at, "must be an array of objects");
    } else {
      for (std::size_t i = 0; i < clients->size(); ++i) {
        const auto path = at + "[" + std::to_string(i) + "]";
        if (!(*clients)[i].is_object()) {
          api.problems().add(path, "must be an object");
          continue;
        }
        Section section(&(*clients)[i], path, api.problems());
        ApiClientCertificateConfig client;
        read_trust(section.section("trust"), client.trust, false);
        if (client.trust.roots.empty()) section.problems().add(section.path_of("trust.roots"), "must name at least one root (PEM file)");
        const auto is_role = [](const std::string& r) { return r == "admin" || r == "operator" || r == "auditor"; };
        if (auto v = section.text_list("roles", is_role, "must be \"admin\", \"operator\" or \"auditor\"")) client.roles = *v;
        if (client.roles.empty()) section.problems().add(section.path_of("roles"), "must name at least one role");
        const auto non_empty = [](const std::string& t) { return !t.empty(); };
        client.cas = section.text_list("cas", non_empty, "must name a CA");
        client.profiles = section.text_list("profiles", non_empty, "must name a profile");
        section.finish();
        out.client_certificates.push_back(std::move(client));
      }
    }
  }
  api.finish();
}

void read_crl(Section crl, Config& config) {
  auto& out = config.crl;
  if (auto v = crl.integer("validity_seconds", 300, 366 * 86400)) out.validity_seconds = *v;
  if (auto v = crl.integer("refresh_before_seconds", 60, 366 * 86400)) out.refresh_before_seconds = *v;
  if (auto v = crl.boolean("keep_expired")) out.keep_expired = *v;
  if (auto v = crl.text("hash_dir", [](const std::string&) { return true; }, "must be a path or \"\"")) out.hash_dir = *v;
  if (auto v = crl.text("hash_dir_group", [](const std::string& name) { return name.empty() || ::getgrnam(name.c_str()); },
                        "must name an existing group, or be \"\"")) {
    out.hash_dir_group = *v;
  }
  if (auto v = crl.integer("max_age_seconds", 0, 7 * 86400)) out.max_age_seconds = *v;
  if (auto v = crl.integer("rebuild_check_seconds", 1, 86400)) out.rebuild_check_seconds = *v;
  if (out.refresh_before_seconds >= out.validity_seconds) {
    crl.problems().add(crl.path_of("refresh_before_seconds"), "must be less than crl.validity_seconds");
  }
  crl.finish();
}

}  // namespace

std::expected<Config, ConfigError> parse_config(const json& document, const std::string& source) {
  Problems problems(source);
  if (!document.is_object()) {
    problems.add("", "must hold a JSON object");
    return std::unexpected(ConfigError{ConfigError::Kind::invalid, problems.text()});
  }
  Config config;
  Section root(&document, "", problems);
  if (auto v = root.text("database", non_empty, "must be a non-empty path")) config.database = *v;
  read_keys(root.section("keys"), config);
  read_ca(root.section("ca"), config);
  auto urls = root.section("urls");
  if (auto v = urls.text("base", is_url_base,
                         "must be an http:// or https:// URL without a trailing slash, query or fragment, or \"\"")) {
    config.url_base = *v;
  }
  urls.finish();
  read_policy(root.section("policy"), config);
  read_profiles(root.section("profiles"), config);
  read_serve(root.section("serve"), config);
  read_ocsp(root.section("ocsp"), config);
  read_crl(root.section("crl"), config);
  read_est(root.section("est"), config);
  read_api(root.section("api"), config);
  auto log = root.section("log");
  if (auto v = log.text("level", is_log_level, "must be one of trace, debug, info, warn, error, critical, off")) {
    config.log_level = *v;
  }
  log.finish();
  root.finish();

  if (!problems.empty()) return std::unexpected(ConfigError{ConfigError::Kind::invalid, problems.text()});
  return config;
}

namespace {

// Tracks the keys of every open object while nlohmann parses: JSON allows a key twice and the
// parser keeps the last, so `{"policy": {...}, "policy": {}}` would silently drop the first.
class DuplicateKeys {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_.empty()) open_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_.empty() && parsed.is_string() && !open_.back().insert(parsed.get<std::string>()).second) {
          duplicates_.push_back(parsed.get<std::string>());
        }
        break;
      default: break;
    }
    return true;
  }
  const std::vector<std::string>& duplicates() const { return duplicates_; }

 private:
  std::vector<std::set<std::string>> open_;
  std::vector<std::string> duplicates_;
};

}  // namespace

std::expected<Config, ConfigError> parse_config_text(std::string_view text, const std::string& source) {
  if (text.size() > kMaxConfigBytes) {
    return std::unexpected(ConfigError{ConfigError::Kind::invalid, source + ": larger than " +
                                                                       std::to_string(kMaxConfigBytes) + " bytes"});
  }
  auto duplicates = std::make_shared<DuplicateKeys>();
  json document;
  try {
    document = json::parse(text, [duplicates](int depth, json::parse_event_t event, json& parsed) {
      return (*duplicates)(depth, event, parsed);
    });
  } catch (const json::exception& e) {
    // e.what() says where the syntax breaks ("at line 3, column 5").
    return std::unexpected(ConfigError{ConfigError::Kind::invalid, escape_control(source + ": not valid JSON: " + e.what())});
  }
  if (!duplicates->duplicates().empty()) {
    Problems problems(source);
    for (const auto& key : duplicates->duplicates()) problems.add("", "key \"" + key + "\" appears twice in one object");
    return std::unexpected(ConfigError{ConfigError::Kind::invalid, problems.text()});
  }
  return parse_config(document, source);
}

std::expected<Config, ConfigError> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      return std::unexpected(ConfigError{ConfigError::Kind::missing, file.string() + " does not exist"});
    }
    return std::unexpected(ConfigError{ConfigError::Kind::invalid, file.string() + ": cannot be read"});
  }
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse_config_text(text, file.string());
}

std::filesystem::path resolve_in(const std::filesystem::path& data_directory, const std::string& configured) {
  std::filesystem::path path(configured);
  return path.is_absolute() ? path : data_directory / path;
}

CaSettings Config::ca_settings() const {
  CaSettings settings;
  settings.policy = policy;
  auto all = builtin_profiles();
  for (auto& profile : all) {
    auto it = profiles.find(profile.name);
    if (it == profiles.end()) continue;
    if (it->second.default_validity_days) profile.default_validity_days = *it->second.default_validity_days;
    if (it->second.max_validity_days) profile.max_validity_days = *it->second.max_validity_days;
  }
  settings.profiles = ProfileSet(std::move(all));
  settings.urls.base = url_base;
  settings.urls.ocsp_path = ocsp.path;
  settings.subject.organization = ca.organization;
  settings.subject.country = ca.country;
  settings.backdate = std::chrono::seconds(ca.backdate_seconds);
  return settings;
}

CrlSettings Config::crl_settings() const {
  CrlSettings settings;
  settings.validity = std::chrono::seconds(crl.validity_seconds);
  settings.refresh_before = std::chrono::seconds(crl.refresh_before_seconds);
  settings.backdate = std::chrono::seconds(ca.backdate_seconds);
  settings.keep_expired = crl.keep_expired;
  return settings;
}

OcspSettings Config::ocsp_settings() const {
  OcspSettings settings;
  settings.validity = std::chrono::seconds(ocsp.validity_seconds);
  settings.refresh_before = std::chrono::seconds(ocsp.refresh_before_seconds);
  settings.backdate = std::chrono::seconds(ca.backdate_seconds);
  settings.sign_with_ca_key = ocsp.sign_with_ca_key;
  settings.signer_validity_days = ocsp.signer_validity_days;
  settings.renew_signer_before_days = ocsp.renew_signer_before_days;
  return settings;
}

nlohmann::ordered_json Config::to_json() const {
  nlohmann::ordered_json keys_json;
  keys_json["backend"] = keys.backend;
  keys_json["directory"] = keys.directory;
  if (keys.passphrase_file) keys_json["passphrase_file"] = *keys.passphrase_file;
  if (keys.passphrase_env) keys_json["passphrase_env"] = *keys.passphrase_env;
  keys_json["allow_unencrypted"] = keys.allow_unencrypted;
  if (keys.pkcs11) {
    nlohmann::ordered_json p;
    p["module"] = keys.pkcs11->module;
    p["token"] = keys.pkcs11->token;
    if (keys.pkcs11->pin_file) p["pin_file"] = *keys.pkcs11->pin_file;
    if (keys.pkcs11->pin_env) p["pin_env"] = *keys.pkcs11->pin_env;
    keys_json["pkcs11"] = std::move(p);
  }

  nlohmann::ordered_json profiles_json = nlohmann::ordered_json::object();
  for (const auto& [name, override_] : profiles) {
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    if (override_.default_validity_days) p["default_validity_days"] = *override_.default_validity_days;
    if (override_.max_validity_days) p["max_validity_days"] = *override_.max_validity_days;
    profiles_json[name] = std::move(p);
  }

  nlohmann::ordered_json out;
  out["database"] = database;
  out["keys"] = std::move(keys_json);
  out["ca"] = {{"key_type", ca.key_type},
               {"root_validity_days", ca.root_validity_days},
               {"issuing_validity_days", ca.issuing_validity_days},
               {"organization", ca.organization},
               {"country", ca.country},
               {"backdate_seconds", ca.backdate_seconds}};
  out["urls"] = {{"base", url_base}};
  out["policy"] = {{"allowed_dns_suffixes", policy.allowed_dns_suffixes},
                   {"allow_wildcards", policy.allow_wildcards},
                   {"allow_ip_sans", policy.allow_ip_sans},
                   {"allow_ed25519", policy.allow_ed25519},
                   {"min_rsa_bits", policy.min_rsa_bits},
                   {"max_rsa_bits", policy.max_rsa_bits},
                   {"min_ec_bits", policy.min_ec_bits},
                   {"max_sans", policy.max_sans}};
  out["profiles"] = std::move(profiles_json);
  nlohmann::ordered_json listeners = nlohmann::ordered_json::array();
  for (const auto& l : serve.listeners) {
    nlohmann::ordered_json listener{{"address", l.address}, {"port", l.port}, {"frontends", l.frontends}};
    listener["cors_origins"] = l.cors_origins;
    if (l.https) {
      nlohmann::ordered_json tls{{"names", l.tls_names}, {"ca", l.tls_ca}, {"session_tickets", l.tls_session_tickets}};
      if (l.tls_certificate && l.tls_key) {
        tls["certificate"] = *l.tls_certificate;
        tls["key"] = *l.tls_key;
      }
      listener["tls"] = std::move(tls);
    }
    listeners.push_back(std::move(listener));
  }
  out["serve"] = {{"listeners", std::move(listeners)},
                  {"io_threads", serve.io_threads},
                  {"threads", serve.threads},
                  {"worker_queue", serve.worker_queue},
                  {"max_body_bytes", serve.max_body_bytes},
                  {"max_header_bytes", serve.max_header_bytes},
                  {"max_connections", serve.max_connections},
                  {"read_timeout_seconds", serve.read_timeout_seconds},
                  {"write_timeout_seconds", serve.write_timeout_seconds},
                  {"keep_alive_max_count", serve.keep_alive_max_count},
                  {"keep_alive_timeout_seconds", serve.keep_alive_timeout_seconds},
                  {"shutdown_grace_seconds", serve.shutdown_grace_seconds},
                  {"scheduler_interval_seconds", serve.scheduler_interval_seconds},
                  {"hsts_max_age_seconds", serve.hsts_max_age_seconds}};
  out["ocsp"] = {{"path", ocsp.path},
                 {"validity_seconds", ocsp.validity_seconds},
                 {"refresh_before_seconds", ocsp.refresh_before_seconds},
                 {"sign_with_ca_key", ocsp.sign_with_ca_key},
                 {"signer_validity_days", ocsp.signer_validity_days},
                 {"renew_signer_before_days", ocsp.renew_signer_before_days},
                 {"max_age_seconds", ocsp.max_age_seconds},
                 {"export_link", ocsp.export_link}};
  out["crl"] = {{"validity_seconds", crl.validity_seconds},
                {"refresh_before_seconds", crl.refresh_before_seconds},
                {"keep_expired", crl.keep_expired},
                {"hash_dir", crl.hash_dir},
                {"hash_dir_group", crl.hash_dir_group},
                {"max_age_seconds", crl.max_age_seconds},
                {"rebuild_check_seconds", crl.rebuild_check_seconds}};
  nlohmann::ordered_json labels = nlohmann::ordered_json::array();
  for (const auto& l : est.labels) {
    labels.push_back({{"label", l.label},
                      {"ca", l.ca},
                      {"profiles", l.profiles},
                      {"approval", l.approval},
                      {"retry_after_seconds", l.retry_after_seconds},
                      {"http_basic", l.http_basic},
                      {"channel_binding", l.channel_binding},
                      {"trust",
                       {{"roots", l.trust.roots},
                        {"intermediates", l.trust.intermediates},
                        {"crl_files", l.trust.crl_files},
                        {"crl_hash_dir", l.trust.crl_hash_dir},
                        {"accept_expired", l.trust.accept_expired}}}});
  }
  out["est"] = {{"labels", std::move(labels)}, {"mdns", est.mdns}};
  nlohmann::ordered_json clients = nlohmann::ordered_json::array();
  for (const auto& c : api.client_certificates) {
    nlohmann::ordered_json client{{"trust",
                                   {{"roots", c.trust.roots},
                                    {"intermediates", c.trust.intermediates},
                                    {"crl_files", c.trust.crl_files},
                                    {"crl_hash_dir", c.trust.crl_hash_dir}}},
                                  {"roles", c.roles}};
    if (c.cas) client["cas"] = *c.cas;
    if (c.profiles) client["profiles"] = *c.profiles;
    clients.push_back(std::move(client));
  }
  out["api"] = {{"max_body_bytes", api.max_body_bytes},
                {"max_auth_failures_per_minute", api.max_auth_failures_per_minute},
                {"first_token_file", api.first_token_file},
                {"client_certificates", std::move(clients)}};
  out["log"] = {{"level", log_level}};
  return out;
}

}  // namespace fca::app
