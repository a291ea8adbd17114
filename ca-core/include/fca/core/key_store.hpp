#pragma once
// Signing keys are opened by URI and yield an EVP_PKEY, so certificates, CRLs and OCSP responses
// all sign through one code path whether the key is a file or lives in a PKCS#11 token.
//   file:/abs/path/key.pem                         PKCS#8 PEM, AES-256 encrypted at rest
//   pkcs11:token=T;object=O;type=private?pin-source=file:/p   RFC 7512, via libp11's engine
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "fca/core/error.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/ossl.hpp"

namespace fca {

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Opens the private key the URI names.
  virtual Result<PKeyPtr> open(std::string_view uri) = 0;
  // Generates a new key labelled `label` and returns the URI that opens it. Never overwrites.
  virtual Result<std::string> generate(const KeySpec& spec, std::string_view label) = 0;
  // Stores an existing private key (CA import) and returns the URI that opens it.
  virtual Result<std::string> import(const EVP_PKEY* key, std::string_view label) = 0;
  // The URI scheme this store serves: "file" or "pkcs11".
  virtual std::string_view scheme() const = 0;
  // Whether the key the URI names takes one signature at a time (a token session does one operation
  // at a time). A key in memory signs on many threads at once, each with its own context.
  virtual bool signs_one_at_a_time(std::string_view uri) const { (void)uri; return true; }
};

struct FileKeyStoreOptions {
  std::filesystem::path directory;        // where generated/imported keys are written (mode 0600)
  std::optional<std::string> passphrase;  // from a file or an environment variable named in config
  bool allow_unencrypted = false;         // lab mode only: write and read plaintext keys
};

class FileKeyStore final : public KeyStore {
 public:
  explicit FileKeyStore(FileKeyStoreOptions options);
  Result<PKeyPtr> open(std::string_view uri) override;
  Result<std::string> generate(const KeySpec& spec, std::string_view label) override;
  Result<std::string> import(const EVP_PKEY* key, std::string_view label) override;
  std::string_view scheme() const override { return "file"; }
  bool signs_one_at_a_time(std::string_view) const override { return false; }

 private:
  Result<std::string> write_key(const EVP_PKEY* key, std::string_view label);
  FileKeyStoreOptions options_;
};

struct Pkcs11KeyStoreOptions {
  std::string module_path;               // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;               // token used for generate/import
  std::optional<std::string> pin;        // default PIN when the URI names neither pin-value nor pin-source
};

// PKCS#11 keys: loaded through libp11's "pkcs11" engine; generated on the token itself.
// One token session does one operation at a time, so callers serialise signing per key
// (see SigningKeys).
class Pkcs11KeyStore final : public KeyStore {
 public:
  explicit Pkcs11KeyStore(Pkcs11KeyStoreOptions options);
  ~Pkcs11KeyStore() override;
  Pkcs11KeyStore(const Pkcs11KeyStore&) = delete;
  Pkcs11KeyStore& operator=(const Pkcs11KeyStore&) = delete;

  Result<PKeyPtr> open(std::string_view uri) override;
  Result<std::string> generate(const KeySpec& spec, std::string_view label) override;
  Result<std::string> import(const EVP_PKEY* key, std::string_view label) override;
  std::string_view scheme() const override { return "pkcs11"; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Routes open() by URI scheme; generate()/import() go to the configured default store.
class KeyStoreRouter final : public KeyStore {
 public:
  void add(std::unique_ptr<KeyStore> store, bool make_default);
  Result<PKeyPtr> open(std::string_view uri) override;
  Result<std::string> generate(const KeySpec& spec, std::string_view label) override;
  Result<std::string> import(const EVP_PKEY* key, std::string_view label) override;
  std::string_view scheme() const override;
  bool signs_one_at_a_time(std::string_view uri) const override;

 private:
  const KeyStore* store_for(std::string_view uri) const;
  std::map<std::string, std::unique_ptr<KeyStore>, std::less<>> stores_;
  KeyStore* default_ = nullptr;
};

// Parsed RFC 7512 URI: path attributes (token, object, id, type, ...) and query attributes
// (pin-value, pin-source, module-path). Percent-encoding is decoded.
struct Pkcs11Uri {
  std::map<std::string, std::string> path;
  std::map<std::string, std::string> query;
  static Result<Pkcs11Uri> parse(std::string_view uri);
};

}  // namespace fca
