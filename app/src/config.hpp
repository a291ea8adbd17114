#pragma once
// DIR/config.json: validated first (every problem names its key path and the reason), then defaults
// are filled in. docs/configuration.md lists every key; keep the two in step.
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fca/core/crl.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/settings.hpp"

namespace fca::app {

struct Pkcs11Config {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token;
  std::optional<std::string> pin_file;  // relative to the data directory unless absolute
  std::optional<std::string> pin_env;
};

struct KeysConfig {
  std::string backend = "file";  // where new CA keys go: "file" or "pkcs11"
  std::string directory = "keys";
  std::optional<std::string> passphrase_file;  // default "secrets/key-passphrase" unless one is set
  std::optional<std::string> passphrase_env;
  bool allow_unencrypted = false;
  std::optional<Pkcs11Config> pkcs11;
};

struct CaConfig {
  std::string key_type = "p256";
  int root_validity_days = 7300;
  int issuing_validity_days = 3650;
  std::string organization;
  std::string country;
  int backdate_seconds = 300;
};

struct ProfileOverride {
  std::optional<int> default_validity_days;
  std::optional<int> max_validity_days;
};

// One listening socket of `facility-ca serve` and the front ends it carries.
struct ListenerConfig {
  std::string address = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> frontends{"ocsp", "crl"};  // of "ocsp", "crl", "est", "api"
  // HTTPS when `tls` is present (BCP-003-01: TLS 1.2/1.3 and its cipher suites only, HSTS, an ECDSA
  // and an RSA certificate, OCSP stapling). With certificate and key set, that pair is served as
  // installed; otherwise serve issues both certificates from `tls_ca` for `tls_names` and renews them.
  bool https = false;
  std::optional<std::string> tls_certificate;  // PEM: the server certificate, then its chain
  std::optional<std::string> tls_key;          // PEM private key (0600)
  std::vector<std::string> tls_names{"localhost"};  // every DNS name (and address) the listener is reached by
  std::string tls_ca = "issuing";
  bool tls_session_tickets = false;
  // CORS: origins whose browser pages may read this listener's answers ([]: CORS off, no header ever).
  std::vector<std::string> cors_origins;
};

// EST (RFC 7030) labels: /.well-known/est/ is the label "", /.well-known/est/<label>/ the others.
struct EstTrustConfig {
  std::vector<std::string> roots;          // manufacturer roots (PEM), relative to the data directory unless absolute
  std::vector<std::string> intermediates;  // manufacturer intermediates the devices may not send
  std::vector<std::string> crl_files;
  std::string crl_hash_dir;
  bool accept_expired = false;  // BCP-003-03: an expired, unrevoked manufacturer certificate may enrol
};

struct EstLabelConfig {
  std::string label;
  std::string ca = "issuing";
  std::vector<std::string> profiles{"nmos-node"};  // the first is the one issued
  std::string approval = "auto";                   // "auto" or "manual"
  int retry_after_seconds = 30;
  bool http_basic = false;  // first enrolment may authenticate by a per-device credential (`est credential create`)
  bool channel_binding = false;  // every enrolment CSR proves possession: TLS channel binding in challengePassword
  EstTrustConfig trust;
};

struct EstConfig {
  std::vector<EstLabelConfig> labels{EstLabelConfig{}};
  bool mdns = false;  // advertise _nmos-certs._tcp by mDNS through avahi-publish when it is installed
};

struct ServeConfig {
  std::vector<ListenerConfig> listeners{ListenerConfig{}};
  int io_threads = 2;                   // event loops shared by every listener
  int threads = 4;                      // worker pool: signing, CRL builds, database reads
  int worker_queue = 1024;              // requests waiting for a worker; beyond: 503
  int max_body_bytes = 64 * 1024;       // larger requests get 413, whatever the framing
  int max_header_bytes = 16 * 1024;     // request line + header block; larger get 431
  int max_connections = 4096;           // per listener; beyond: 503 and close
  int read_timeout_seconds = 5;         // whole-request deadline, first byte to last: 408
  int write_timeout_seconds = 5;
  int keep_alive_max_count = 1000;      // requests per connection
  int keep_alive_timeout_seconds = 5;   // idle time between requests
  int shutdown_grace_seconds = 5;       // SIGTERM: requests in flight get this long to finish
  int scheduler_interval_seconds = 60;  // how often CRL and OCSP freshness is checked
  int hsts_max_age_seconds = 31536000;  // HTTPS listeners; 0 leaves the header out
};

struct OcspConfig {
  std::string path = "/ocsp";
  int validity_seconds = 4 * 3600;
  int refresh_before_seconds = 2 * 3600;
  bool sign_with_ca_key = false;
  int signer_validity_days = 30;
  int renew_signer_before_days = 7;
  int max_age_seconds = 3600;
  std::string export_link;  // serve keeps an `ocsp export` tree here (relative: in the data directory); "" none
};

struct CrlConfig {
  int validity_seconds = 24 * 3600;
  int refresh_before_seconds = 12 * 3600;
  bool keep_expired = false;
  std::string hash_dir = "crl-hash";  // relative to the data directory unless absolute; "" disables it
  std::string hash_dir_group;         // "": hash_dir is 0755 (public); else 0750/0640 owned by this group
  int max_age_seconds = 900;
  int rebuild_check_seconds = 1;  // serve looks this often for full CRLs behind a change and rebuilds them
};

// A TLS client certificate that chains to `trust` calls the API with these roles and scope
// (docs/api.md, "Client certificates"). `trust.accept_expired` is not allowed here.
struct ApiClientCertificateConfig {
  EstTrustConfig trust;
  std::vector<std::string> roles;  // of "admin", "operator", "auditor"
  std::optional<std::vector<std::string>> cas;
  std::optional<std::vector<std::string>> profiles;
};

// The REST admin API (docs/api.md), on the listeners whose frontends name "api".
struct ApiConfig {
  int max_body_bytes = 64 * 1024;         // larger JSON bodies get 413
  int max_auth_failures_per_minute = 10;  // per client address; beyond: 429 until the minute is over
  std::string first_token_file = "secrets/api-admin-token";  // init writes the first admin token here (0600)
  std::vector<ApiClientCertificateConfig> client_certificates;  // tried in order; the first that verifies
};

struct Config {
  std::string database = "ca.db";
  KeysConfig keys;
  CaConfig ca;
  std::string url_base = "http://127.0.0.1:8080";
  NamePolicy policy;
  std::map<std::string, ProfileOverride> profiles;
  std::string log_level = "info";
  ServeConfig serve;
  OcspConfig ocsp;
  CrlConfig crl;
  EstConfig est;
  ApiConfig api;

  CaSettings ca_settings() const;
  CrlSettings crl_settings() const;
  OcspSettings ocsp_settings() const;
  // The file's content as `init` writes it: every key, defaults included, so operators see them all.
  nlohmann::ordered_json to_json() const;
};

struct ConfigError {
  enum class Kind { missing, invalid } kind = Kind::invalid;
  std::string message;  // invalid: every problem found, one "<file>: <key.path>: <reason>" per line
};

inline constexpr const char* kDefaultPassphraseFile = "secrets/key-passphrase";

// Validates the whole document, then fills defaults. `source` names the file in error messages.
std::expected<Config, ConfigError> parse_config(const nlohmann::json& document, const std::string& source);
// Parses JSON text (at most kMaxConfigBytes; a key twice in one object is invalid), then parse_config.
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
std::expected<Config, ConfigError> parse_config_text(std::string_view text, const std::string& source);
// Reads and parses; a missing file is Kind::missing so the CLI can say "run init".
std::expected<Config, ConfigError> load_config(const std::filesystem::path& file);

// A path from the config: absolute as written, otherwise relative to the data directory.
std::filesystem::path resolve_in(const std::filesystem::path& data_directory, const std::string& configured);

}  // namespace fca::app
