// PKCS#11 keys: RFC 7512 URIs, keys opened through libp11's "pkcs11" OpenSSL engine, keys generated
// and imported on the token through the PKCS#11 C API (pkcs11_cryptoki.cpp).
//
// The ENGINE API is deprecated in OpenSSL 3 but it is how libp11 0.4.12 (Debian 12) is reached.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include <array>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <span>

#include "fca/core/key_store.hpp"
#include "pkcs11_cryptoki.hpp"

namespace fca {
namespace {

// ---------------------------------------------------------------------------------------------------
// RFC 7512 syntax

constexpr std::string_view uri_scheme = "pkcs11:";

// Path attributes RFC 7512 defines. Unknown ones are refused rather than ignored: an ignored
// misspelt "objet=" would widen the match to any key on the token.
const std::set<std::string, std::less<>>& known_path_attributes() {
  static const std::set<std::string, std::less<>> names{
      "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description", "library-version",
      "object", "type", "id", "slot-description", "slot-manufacturer", "slot-id"};
  return names;
}

const std::set<std::string, std::less<>>& known_query_attributes() {
  static const std::set<std::string, std::less<>> names{"pin-source", "pin-value", "module-name", "module-path"};
  return names;
}

bool is_vendor_attribute(std::string_view name) { return name.starts_with("x-"); }

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ASCII only, whatever the locale.
bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// RFC 7512 pk11-pchar / pk11-qchar: what may stand unencoded in a path or a query value.
bool allowed_unencoded(char c, bool in_query) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x80) return false;
  if (is_unreserved(byte)) return true;
  if (std::string_view(":[]@!$'()*+,=").find(c) != std::string_view::npos) return true;
  return in_query && (c == '/' || c == '?' || c == '|');
}

Result<std::string> percent_decode(std::string_view text, std::string_view attribute, bool in_query) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return fail(Errc::invalid_input, "pkcs11 URI: truncated percent-escape in '" + std::string(attribute) + "'");
      }
      const int high = hex_digit_value(text[i + 1]);
      const int low = hex_digit_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return fail(Errc::invalid_input, "pkcs11 URI: invalid percent-escape in '" + std::string(attribute) + "'");
      }
      decoded.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (allowed_unencoded(c, in_query)) {
      decoded.push_back(c);
    } else {
      return fail(Errc::invalid_input,
                  "pkcs11 URI: a character in '" + std::string(attribute) + "' must be percent-encoded");
    }
  }
  return decoded;
}

std::string percent_encode(std::string_view text, bool encode_everything = false) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (!encode_everything && is_unreserved(byte)) {
      encoded.push_back(c);
    } else {
      encoded.push_back('%');
      encoded.push_back(hex[byte >> 4]);
      encoded.push_back(hex[byte & 0x0f]);
    }
  }
  return encoded;
}

// Splits `text` at `separator` into name=value pairs, decoded, each name at most once.
Result<std::map<std::string, std::string>> parse_attributes(std::string_view text, char separator,
                                                            const std::set<std::string, std::less<>>& known,
                                                            std::string_view part) {
  std::map<std::string, std::string> attributes;
  if (text.empty()) return attributes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    const std::string_view item = text.substr(start, end - start);
    const std::size_t equals = item.find('=');
    if (item.empty() || equals == std::string_view::npos || equals == 0) {
      return fail(Errc::invalid_input, "pkcs11 URI: " + std::string(part) + " attribute '" + std::string(item) +
                                           "' is not name=value");
    }
    const std::string name(item.substr(0, equals));
    if (!known.contains(name) && !is_vendor_attribute(name)) {
      return fail(Errc::invalid_input, "pkcs11 URI: unknown " + std::string(part) + " attribute '" + name + "'");
    }
    auto value = percent_decode(item.substr(equals + 1), name, separator == '&');
    if (!value) return std::unexpected(value.error());
    if (!attributes.emplace(name, std::move(*value)).second) {
      return fail(Errc::invalid_input, "pkcs11 URI: attribute '" + name + "' given twice");
    }
    start = end + 1;
  }
  return attributes;
}

// ---------------------------------------------------------------------------------------------------
// The engine

void engine_finish(ENGINE* engine) { ENGINE_finish(engine); }
void engine_free(ENGINE* engine) { ENGINE_free(engine); }
using EngineFunctionalRef = std::unique_ptr<ENGINE, OsslDeleter<engine_finish>>;
using EngineStructuralRef = std::unique_ptr<ENGINE, OsslDeleter<engine_free>>;
using UiMethodPtr = std::unique_ptr<UI_METHOD, OsslDeleter<UI_destroy_method>>;

// Answers every prompt with an error: a server must never wait on a terminal. libp11 asks for a PIN
// when the one it was given is refused or missing.
int refuse_prompt(UI*, UI_STRING*) { return 0; }

// libp11's engine, bound once per process. It cannot be loaded twice (its bind fails the second
// time), so every Pkcs11KeyStore shares it, and its one MODULE_PATH. It is never finished: libp11
// would C_Finalize the module, invalidating every key opened through it.
class EngineBinding {
 public:
  static EngineBinding& instance() {
    static auto* binding = new EngineBinding;  // deliberately never destroyed, see above
    return *binding;
  }

  // Serialises everything that drives the engine or the token's objects.
  std::mutex& mutex() { return mutex_; }

  // Caller holds mutex().
  Result<PKeyPtr> load_private_key(const std::string& module_path, const std::string& engine_uri,
                                   const std::string& pin) {
    if (auto bound = bind(module_path); !bound) return std::unexpected(bound.error());
    ERR_clear_error();
    if (ENGINE_ctrl_cmd_string(engine_.get(), "PIN", pin.c_str(), 0) != 1) {
      return fail_openssl(Errc::key_failure, "pkcs11 engine refused the PIN setting");
    }
    EVP_PKEY* key = ENGINE_load_private_key(engine_.get(), engine_uri.c_str(), no_prompt_.get(), nullptr);
    forget_pin();
    if (!key) return fail_openssl(Errc::key_failure, "cannot open PKCS#11 key " + engine_uri);
    return PKeyPtr(key);
  }

 private:
  EngineBinding() = default;

  Result<void> bind(const std::string& module_path) {
    if (!engine_) {
      // Loading the module ourselves first proves the path before the engine is tied to it for good,
      // and keeps one C_Initialize order in the process: ours, then libp11's ALREADY_INITIALIZED.
      if (auto loaded = pkcs11::load_module(module_path); !loaded) return loaded;
    }
    if (engine_) {
      if (module_path != module_path_) {
        return fail(Errc::key_failure, "the pkcs11 engine is bound to module " + module_path_ +
                                           "; one PKCS#11 module per process, not also " + module_path);
      }
      return {};
    }
    if (!no_prompt_) {
      UiMethodPtr method(UI_create_method("fca-no-prompt"));
      if (!method || UI_method_set_reader(method.get(), refuse_prompt) != 0) {
        return fail_openssl(Errc::internal, "UI_create_method");
      }
      no_prompt_ = std::move(method);
    }
    ERR_clear_error();
    // ENGINE_by_id finds the engine in OpenSSL's ENGINESDIR (or $OPENSSL_ENGINES), or returns the
    // instance something else in this process loaded already.
    EngineStructuralRef engine(ENGINE_by_id("pkcs11"));
    if (!engine) {
      return fail_openssl(Errc::key_failure,
                          "cannot load the OpenSSL engine 'pkcs11' (Debian package libengine-pkcs11-openssl)");
    }
    // QUIET: libp11 otherwise writes its diagnostics to stderr; they reach us through the error queue.
    if (ENGINE_ctrl_cmd_string(engine.get(), "QUIET", nullptr, 0) != 1 ||
        ENGINE_ctrl_cmd_string(engine.get(), "MODULE_PATH", module_path.c_str(), 0) != 1) {
      return fail_openssl(Errc::key_failure, "cannot configure the pkcs11 engine");
    }
    if (ENGINE_init(engine.get()) != 1) return fail_openssl(Errc::key_failure, "cannot initialise the pkcs11 engine");
    engine_ = EngineFunctionalRef(engine.get());  // ENGINE_init took the functional reference engine_ owns
    module_path_ = module_path;
    return {};
  }

  // The engine keeps a copy of the last PIN it was given, needed only for the login in progress (libp11
  // keeps its own copy per slot for re-login after a fork). libp11 refuses a NULL PIN without wiping the
  // old one, so an empty one replaces it: libp11 cleanses the copy it drops.
  void forget_pin() {
    ERR_set_mark();
    ENGINE_ctrl_cmd_string(engine_.get(), "PIN", "", 0);
    ERR_pop_to_mark();
  }

  std::mutex mutex_;
  EngineFunctionalRef engine_;
  std::string module_path_;
  UiMethodPtr no_prompt_;
};

// ---------------------------------------------------------------------------------------------------
// Building URIs

std::string hex_percent(std::span<const unsigned char> bytes) {
  return percent_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), true);
}

std::string uri_for(const pkcs11::TokenObject& object) {
  return std::string(uri_scheme) + "token=" + percent_encode(object.token_label) +
         ";object=" + percent_encode(object.object_label) + ";id=" + hex_percent(object.id) + ";type=private";
}

Result<std::string> uri_for(const Result<pkcs11::TokenObject>& object) {
  if (!object) return std::unexpected(object.error());
  return uri_for(*object);
}

// The URI handed to libp11: only the attributes its parser knows, never a PIN or a module.
Result<std::string> engine_uri_for(const Pkcs11Uri& uri) {
  for (const auto& [name, value] : uri.path) {
    if (name.starts_with("slot-")) {
      return fail(Errc::key_failure, "pkcs11 URI: '" + name + "' cannot select a key through the pkcs11 engine; "
                                     "name the token (token=) instead");
    }
  }
  if (auto type = uri.path.find("type"); type != uri.path.end() && type->second != "private") {
    return fail(Errc::key_failure, "pkcs11 URI: a signing key is type=private, not type=" + type->second);
  }
  if (!uri.path.contains("object") && !uri.path.contains("id")) {
    return fail(Errc::key_failure, "pkcs11 URI: name the key with object= or id=");
  }
  std::string engine_uri(uri_scheme);
  bool first = true;
  // library-* are not passed on: the module is chosen by module-path, and libp11 would reject them.
  for (const char* name : {"token", "manufacturer", "serial", "model", "object", "id"}) {
    auto found = uri.path.find(name);
    if (found == uri.path.end()) continue;
    if (!first) engine_uri += ';';
    first = false;
    engine_uri += std::string(name) + "=" + percent_encode(found->second, std::string_view(name) == "id");
  }
  engine_uri += ";type=private";
  return engine_uri;
}

Result<std::string> read_pin_file(std::string_view source) {
  std::string path(source);
  if (path.starts_with("file://")) {
    path.erase(0, 7);  // file:///abs/path -> /abs/path (empty authority)
  } else if (path.starts_with("file:")) {
    path.erase(0, 5);
  }
  if (path.empty() || path.front() != '/') {
    return fail(Errc::key_failure, "pkcs11 URI: pin-source must be file:/absolute/path");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::key_failure, "cannot read the PIN file " + path);
  std::string pin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
  if (pin.empty()) return fail(Errc::key_failure, "the PIN file " + path + " is empty");
  return pin;
}

// Wipes the PIN when it goes out of scope.
struct PinText {
  std::string text;
  PinText() = default;
  explicit PinText(std::string pin) : text(std::move(pin)) {}
  PinText(PinText&& other) noexcept { text.swap(other.text); }
  PinText(const PinText&) = delete;
  PinText& operator=(const PinText&) = delete;
  PinText& operator=(PinText&&) = delete;
  ~PinText() { OPENSSL_cleanse(text.data(), text.size()); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------------

Result<Pkcs11Uri> Pkcs11Uri::parse(std::string_view uri) {
  if (uri.size() < uri_scheme.size() ||
      !std::equal(uri_scheme.begin(), uri_scheme.end(), uri.begin(),
                  [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b); })) {
    return fail(Errc::invalid_input, "not a pkcs11: URI");
  }
  std::string_view rest = uri.substr(uri_scheme.size());
  if (rest.find('#') != std::string_view::npos) {
    return fail(Errc::invalid_input, "pkcs11 URI: a fragment ('#') is not allowed");
  }
  const std::size_t question = rest.find('?');
  const std::string_view path_part = rest.substr(0, question);
  const std::string_view query_part = question == std::string_view::npos ? std::string_view{} : rest.substr(question + 1);
  if (question != std::string_view::npos && query_part.empty()) {
    return fail(Errc::invalid_input, "pkcs11 URI: empty query after '?'");
  }
  if (path_part.find('&') != std::string_view::npos) {
    return fail(Errc::invalid_input, "pkcs11 URI: '&' separates query attributes only (path attributes use ';')");
  }

  Pkcs11Uri parsed;
  auto path = parse_attributes(path_part, ';', known_path_attributes(), "path");
  if (!path) return std::unexpected(path.error());
  auto query = parse_attributes(query_part, '&', known_query_attributes(), "query");
  if (!query) return std::unexpected(query.error());
  parsed.path = std::move(*path);
  parsed.query = std::move(*query);

  if (auto type = parsed.path.find("type"); type != parsed.path.end()) {
    static const std::set<std::string, std::less<>> types{"public", "private", "cert", "secret-key", "data"};
    if (!types.contains(type->second)) {
      return fail(Errc::invalid_input, "pkcs11 URI: unknown object type '" + type->second + "'");
    }
  }
  if (parsed.query.contains("pin-value") && parsed.query.contains("pin-source")) {
    return fail(Errc::invalid_input, "pkcs11 URI: pin-value and pin-source exclude each other");
  }
  return parsed;
}

struct Pkcs11KeyStore::Impl {
  Pkcs11KeyStoreOptions options;

  pkcs11::TokenAccess token_access() const {
    return pkcs11::TokenAccess{options.module_path, options.token_label, options.pin.value_or("")};
  }

  Result<void> check_token_settings() const {
    if (options.module_path.empty()) return fail(Errc::key_failure, "no PKCS#11 module path is configured");
    if (options.token_label.empty()) return fail(Errc::key_failure, "no PKCS#11 token label is configured");
    if (!options.pin) return fail(Errc::key_failure, "no PKCS#11 PIN is configured for token " + options.token_label);
    return {};
  }

  Result<PinText> pin_for(const Pkcs11Uri& uri) const {
    if (auto value = uri.query.find("pin-value"); value != uri.query.end()) return PinText(value->second);
    if (auto source = uri.query.find("pin-source"); source != uri.query.end()) {
      auto pin = read_pin_file(source->second);
      if (!pin) return std::unexpected(pin.error());
      return PinText(std::move(*pin));
    }
    if (options.pin) return PinText(*options.pin);
    return fail(Errc::key_failure,
                "no PIN for the PKCS#11 key: give pin-source (or pin-value) in the URI or configure the key store's PIN");
  }

  Result<std::string> module_for(const Pkcs11Uri& uri) const {
    if (auto path = uri.query.find("module-path"); path != uri.query.end()) return path->second;
    if (!options.module_path.empty()) return options.module_path;
    if (uri.query.contains("module-name")) {
      return fail(Errc::key_failure, "pkcs11 URI: module-name is not supported; give module-path or configure one");
    }
    return fail(Errc::key_failure, "no PKCS#11 module: give module-path in the URI or configure one");
  }
};

Pkcs11KeyStore::Pkcs11KeyStore(Pkcs11KeyStoreOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Pkcs11KeyStore::~Pkcs11KeyStore() = default;

Result<PKeyPtr> Pkcs11KeyStore::open(std::string_view uri) {
  auto parsed = Pkcs11Uri::parse(uri);
  if (!parsed) return std::unexpected(parsed.error());
  auto engine_uri = engine_uri_for(*parsed);
  if (!engine_uri) return std::unexpected(engine_uri.error());
  auto module_path = impl_->module_for(*parsed);
  if (!module_path) return std::unexpected(module_path.error());
  auto pin = impl_->pin_for(*parsed);
  if (!pin) return std::unexpected(pin.error());

  auto& engine = EngineBinding::instance();
  std::lock_guard lock(engine.mutex());
  return engine.load_private_key(*module_path, *engine_uri, pin->text);
}

Result<std::string> Pkcs11KeyStore::generate(const KeySpec& spec, std::string_view label) {
  if (spec.algorithm == KeyAlgorithm::ed25519) {
    // Refused before any token access so the reason is the real one.
    return uri_for(pkcs11::generate_key_pair({}, spec, label));
  }
  if (auto settings = impl_->check_token_settings(); !settings) return std::unexpected(settings.error());
  std::lock_guard lock(EngineBinding::instance().mutex());
  return uri_for(pkcs11::generate_key_pair(impl_->token_access(), spec, label));
}

Result<std::string> Pkcs11KeyStore::import(const EVP_PKEY* key, std::string_view label) {
  if (auto settings = impl_->check_token_settings(); !settings) return std::unexpected(settings.error());
  std::lock_guard lock(EngineBinding::instance().mutex());
  return uri_for(pkcs11::store_key_pair(impl_->token_access(), key, label));
}

}  // namespace fca
