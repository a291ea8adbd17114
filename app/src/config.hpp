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

struct Config {
  std::string database = "ca.db";
  KeysConfig keys;
  CaConfig ca;
  std::string url_base = "http://127.0.0.1:8080";
  NamePolicy policy;
  std::map<std::string, ProfileOverride> profiles;
  std::string log_level = "info";

  CaSettings ca_settings() const;
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
// Reads and parses; a missing file is Kind::missing so the CLI can say "run init".
std::expected<Config, ConfigError> load_config(const std::filesystem::path& file);

// A path from the config: absolute as written, otherwise relative to the data directory.
std::filesystem::path resolve_in(const std::filesystem::path& data_directory, const std::string& configured);

}  // namespace fca::app
