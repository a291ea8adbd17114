#include "fca/core/key_store.hpp"

namespace fca {

void KeyStoreRouter::add(std::unique_ptr<KeyStore> store, bool make_default) {
  auto* raw = store.get();
  stores_[std::string(store->scheme())] = std::move(store);
  if (make_default || !default_) default_ = raw;
}

Result<PKeyPtr> KeyStoreRouter::open(std::string_view uri) {
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos) return fail(Errc::invalid_input, "key URI without a scheme");
  const auto found = stores_.find(uri.substr(0, colon));
  if (found == stores_.end()) {
    return fail(Errc::key_failure, "no key store configured for '" + std::string(uri.substr(0, colon)) + ":' keys");
  }
  return found->second->open(uri);
}

Result<std::string> KeyStoreRouter::generate(const KeySpec& spec, std::string_view label) {
  if (!default_) return fail(Errc::key_failure, "no key store configured");
  return default_->generate(spec, label);
}

Result<std::string> KeyStoreRouter::import(const EVP_PKEY* key, std::string_view label) {
  if (!default_) return fail(Errc::key_failure, "no key store configured");
  return default_->import(key, label);
}

bool KeyStoreRouter::signs_one_at_a_time(std::string_view uri) const {
  const auto* store = store_for(uri);
  return store == nullptr || store->signs_one_at_a_time(uri);
}

const KeyStore* KeyStoreRouter::store_for(std::string_view uri) const {
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos) return nullptr;
  const auto found = stores_.find(uri.substr(0, colon));
  return found == stores_.end() ? nullptr : found->second.get();
}

std::string_view KeyStoreRouter::scheme() const { return default_ ? default_->scheme() : std::string_view{}; }

}  // namespace fca
