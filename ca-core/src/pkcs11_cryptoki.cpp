#include "pkcs11_cryptoki.hpp"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <utility>

// The GNU names keep the header's compatibility macros (#define value pValue, #define count ulCount, ...)
// out of this translation unit: they would rewrite std::expected::value() and friends.
#define CRYPTOKI_GNU 1
#include <p11-kit-1/p11-kit/pkcs11.h>

namespace fca::pkcs11 {
namespace {

std::string return_value_name(ck_rv_t rv) {
  switch (rv) {
#define FCA_CKR_NAME(name) \
  case name:               \
    return #name;
    FCA_CKR_NAME(CKR_OK)
    FCA_CKR_NAME(CKR_HOST_MEMORY)
    FCA_CKR_NAME(CKR_SLOT_ID_INVALID)
    FCA_CKR_NAME(CKR_GENERAL_ERROR)
    FCA_CKR_NAME(CKR_FUNCTION_FAILED)
    FCA_CKR_NAME(CKR_ARGUMENTS_BAD)
    FCA_CKR_NAME(CKR_ATTRIBUTE_READ_ONLY)
    FCA_CKR_NAME(CKR_ATTRIBUTE_TYPE_INVALID)
    FCA_CKR_NAME(CKR_ATTRIBUTE_VALUE_INVALID)
    FCA_CKR_NAME(CKR_DEVICE_ERROR)
    FCA_CKR_NAME(CKR_DEVICE_MEMORY)
    FCA_CKR_NAME(CKR_DEVICE_REMOVED)
    FCA_CKR_NAME(CKR_DOMAIN_PARAMS_INVALID)
    FCA_CKR_NAME(CKR_KEY_SIZE_RANGE)
    FCA_CKR_NAME(CKR_MECHANISM_INVALID)
    FCA_CKR_NAME(CKR_MECHANISM_PARAM_INVALID)
    FCA_CKR_NAME(CKR_PIN_INCORRECT)
    FCA_CKR_NAME(CKR_PIN_INVALID)
    FCA_CKR_NAME(CKR_PIN_LEN_RANGE)
    FCA_CKR_NAME(CKR_PIN_EXPIRED)
    FCA_CKR_NAME(CKR_PIN_LOCKED)
    FCA_CKR_NAME(CKR_SESSION_COUNT)
    FCA_CKR_NAME(CKR_SESSION_HANDLE_INVALID)
    FCA_CKR_NAME(CKR_SESSION_READ_ONLY)
    FCA_CKR_NAME(CKR_TEMPLATE_INCOMPLETE)
    FCA_CKR_NAME(CKR_TEMPLATE_INCONSISTENT)
    FCA_CKR_NAME(CKR_TOKEN_NOT_PRESENT)
    FCA_CKR_NAME(CKR_TOKEN_NOT_RECOGNIZED)
    FCA_CKR_NAME(CKR_TOKEN_WRITE_PROTECTED)
    FCA_CKR_NAME(CKR_USER_NOT_LOGGED_IN)
    FCA_CKR_NAME(CKR_USER_PIN_NOT_INITIALIZED)
    FCA_CKR_NAME(CKR_USER_TYPE_INVALID)
    FCA_CKR_NAME(CKR_CRYPTOKI_NOT_INITIALIZED)
#undef FCA_CKR_NAME
    default: {
      std::array<char, 32> text{};
      std::snprintf(text.data(), text.size(), "CKR 0x%lx", rv);
      return text.data();
    }
  }
}

std::unexpected<Error> token_failure(std::string_view what, ck_rv_t rv) {
  return fail(Errc::key_failure, std::string(what) + ": " + return_value_name(rv));
}

struct LibraryCloser {
  void operator()(void* library) const noexcept { ::dlclose(library); }
};
using LibraryHandle = std::unique_ptr<void, LibraryCloser>;

struct LoadedModule {
  LibraryHandle library;
  ck_function_list* functions = nullptr;
};

// Modules stay loaded and initialised until the process exits. libp11's engine uses the same module
// in this process (dlopen hands both of us the one instance), and PKCS#11 state is per process:
// a C_Finalize here would invalidate the engine's logged-in sessions and every key opened through it.
class ModuleRegistry {
 public:
  Result<ck_function_list*> functions(const std::string& path) {
    std::lock_guard lock(mutex_);
    if (auto found = modules_.find(path); found != modules_.end()) return found->second.functions;

    LibraryHandle library(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
    if (!library) {
      const char* reason = ::dlerror();
      return fail(Errc::key_failure, "cannot load PKCS#11 module " + path + ": " + (reason ? reason : "dlopen failed"));
    }
    using GetFunctionList = ck_rv_t (*)(ck_function_list**);
    auto get_function_list = reinterpret_cast<GetFunctionList>(::dlsym(library.get(), "C_GetFunctionList"));
    if (!get_function_list) return fail(Errc::key_failure, "not a PKCS#11 module (no C_GetFunctionList): " + path);
    ck_function_list* functions = nullptr;
    if (const ck_rv_t rv = get_function_list(&functions); rv != CKR_OK || !functions) {
      return token_failure("C_GetFunctionList of " + path, rv);
    }
    ck_c_initialize_args arguments{};
    arguments.flags = CKF_OS_LOCKING_OK;  // we call in from several threads
    // Already initialised means libp11 got there first in this process: the module is ready all the same.
    if (const ck_rv_t rv = functions->C_Initialize(&arguments); rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      return token_failure("C_Initialize of " + path, rv);
    }
    modules_.emplace(path, LoadedModule{std::move(library), functions});
    return functions;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, LoadedModule, std::less<>> modules_;
};

ModuleRegistry& module_registry() {
  // Deliberately never destroyed: see ModuleRegistry.
  static auto* registry = new ModuleRegistry;
  return *registry;
}

// Attribute values live as long as the template; key material is wiped when it goes.
class AttributeTemplate {
 public:
  AttributeTemplate() = default;
  AttributeTemplate(const AttributeTemplate&) = delete;
  AttributeTemplate& operator=(const AttributeTemplate&) = delete;
  ~AttributeTemplate() {
    for (auto& value : values_) OPENSSL_cleanse(value.data(), value.size());
  }

  AttributeTemplate& flag(ck_attribute_type_t type, bool on) {
    return bytes(type, std::array<unsigned char, 1>{static_cast<unsigned char>(on ? 1 : 0)});
  }
  AttributeTemplate& number(ck_attribute_type_t type, unsigned long number) {
    std::vector<unsigned char> value(sizeof number);
    std::memcpy(value.data(), &number, sizeof number);
    return add(type, std::move(value));
  }
  AttributeTemplate& bytes(ck_attribute_type_t type, std::span<const unsigned char> data) {
    return add(type, std::vector<unsigned char>(data.begin(), data.end()));
  }
  AttributeTemplate& text(ck_attribute_type_t type, std::string_view text) {
    return add(type, std::vector<unsigned char>(text.begin(), text.end()));
  }

  ck_attribute* data() { return attributes_.data(); }
  unsigned long size() const { return attributes_.size(); }

 private:
  AttributeTemplate& add(ck_attribute_type_t type, std::vector<unsigned char> value) {
    values_.push_back(std::move(value));  // moving a vector keeps its buffer, so earlier pointers stay valid
    auto& stored = values_.back();
    attributes_.push_back(ck_attribute{type, stored.data(), stored.size()});
    return *this;
  }
  std::vector<std::vector<unsigned char>> values_;
  std::vector<ck_attribute> attributes_;
};

std::string trimmed_label(const unsigned char (&padded)[32]) {
  std::string label(reinterpret_cast<const char*>(padded), sizeof padded);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) label.pop_back();
  return label;
}

// A read-write session logged in as the user. It is closed but never logged out: login state is shared
// by every session of the process, so C_Logout would also log out the engine's signing sessions.
class TokenSession {
 public:
  static Result<TokenSession> open(const TokenAccess& access) {
    if (access.module_path.empty()) return fail(Errc::key_failure, "no PKCS#11 module path is configured");
    if (access.token_label.empty()) return fail(Errc::key_failure, "no PKCS#11 token label is configured");
    auto functions = module_registry().functions(access.module_path);
    if (!functions) return std::unexpected(functions.error());
    auto slot = find_slot(*functions, access.token_label);
    if (!slot) return std::unexpected(slot.error());

    ck_session_handle_t handle = CK_INVALID_HANDLE;
    if (const ck_rv_t rv = (*functions)->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                                       &handle);
        rv != CKR_OK) {
      return token_failure("cannot open a session on token '" + access.token_label + "'", rv);
    }
    TokenSession session(*functions, handle, access.token_label);
    std::vector<unsigned char> pin(access.pin.begin(), access.pin.end());
    const ck_rv_t rv = (*functions)->C_Login(handle, CKU_USER, pin.data(), pin.size());
    OPENSSL_cleanse(pin.data(), pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      return token_failure("login to token '" + access.token_label + "' failed", rv);
    }
    return session;
  }

  TokenSession(TokenSession&& other) noexcept
      : functions_(std::exchange(other.functions_, nullptr)), handle_(other.handle_), token_(std::move(other.token_)) {}
  TokenSession& operator=(TokenSession&&) = delete;
  TokenSession(const TokenSession&) = delete;
  TokenSession& operator=(const TokenSession&) = delete;
  ~TokenSession() {
    if (functions_) functions_->C_CloseSession(handle_);
  }

  const std::string& token() const { return token_; }

  Result<bool> label_in_use(std::string_view label) {
    AttributeTemplate query;
    query.text(CKA_LABEL, label);
    if (const ck_rv_t rv = functions_->C_FindObjectsInit(handle_, query.data(), query.size()); rv != CKR_OK) {
      return token_failure("cannot search token '" + token_ + "'", rv);
    }
    ck_object_handle_t found = CK_INVALID_HANDLE;
    unsigned long found_count = 0;
    const ck_rv_t rv = functions_->C_FindObjects(handle_, &found, 1, &found_count);
    functions_->C_FindObjectsFinal(handle_);
    if (rv != CKR_OK) return token_failure("cannot search token '" + token_ + "'", rv);
    return found_count > 0;
  }

  Result<void> refuse_existing_label(std::string_view label) {
    auto in_use = label_in_use(label);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) {
      return fail(Errc::conflict, "token '" + token_ + "' already holds an object labelled '" + std::string(label) + "'");
    }
    return {};
  }

  Result<void> generate_key_pair(ck_mechanism_type_t mechanism_type, AttributeTemplate& public_key,
                                 AttributeTemplate& private_key) {
    ck_mechanism mechanism{mechanism_type, nullptr, 0};
    ck_object_handle_t public_handle = CK_INVALID_HANDLE;
    ck_object_handle_t private_handle = CK_INVALID_HANDLE;
    if (const ck_rv_t rv = functions_->C_GenerateKeyPair(handle_, &mechanism, public_key.data(), public_key.size(),
                                                          private_key.data(), private_key.size(), &public_handle,
                                                          &private_handle);
        rv != CKR_OK) {
      return token_failure("key generation on token '" + token_ + "' failed", rv);
    }
    return {};
  }

  Result<ck_object_handle_t> create_object(AttributeTemplate& attributes, std::string_view what) {
    ck_object_handle_t object = CK_INVALID_HANDLE;
    if (const ck_rv_t rv = functions_->C_CreateObject(handle_, attributes.data(), attributes.size(), &object);
        rv != CKR_OK) {
      return token_failure("cannot store the " + std::string(what) + " on token '" + token_ + "'", rv);
    }
    return object;
  }

  void destroy_object(ck_object_handle_t object) { functions_->C_DestroyObject(handle_, object); }

 private:
  TokenSession(ck_function_list* functions, ck_session_handle_t handle, std::string token)
      : functions_(functions), handle_(handle), token_(std::move(token)) {}

  static Result<ck_slot_id_t> find_slot(ck_function_list* functions, const std::string& token_label) {
    unsigned long slot_count = 0;
    if (const ck_rv_t rv = functions->C_GetSlotList(1, nullptr, &slot_count); rv != CKR_OK) {
      return token_failure("cannot list PKCS#11 slots", rv);
    }
    std::vector<ck_slot_id_t> slots(slot_count);
    if (const ck_rv_t rv = functions->C_GetSlotList(1, slots.data(), &slot_count); rv != CKR_OK) {
      return token_failure("cannot list PKCS#11 slots", rv);
    }
    slots.resize(slot_count);
    for (const ck_slot_id_t slot : slots) {
      ck_token_info info{};
      if (functions->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      if ((info.flags & CKF_TOKEN_INITIALIZED) && trimmed_label(info.label) == token_label) return slot;
    }
    return fail(Errc::key_failure, "no initialised PKCS#11 token labelled '" + token_label + "'");
  }

  ck_function_list* functions_;
  ck_session_handle_t handle_;
  std::string token_;
};

Result<std::vector<unsigned char>> random_object_id() {
  std::vector<unsigned char> id(16);
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) return fail_openssl(Errc::internal, "RAND_bytes");
  return id;
}

// DER of the named curve's OID: the CKA_EC_PARAMS of an EC key.
Result<std::vector<unsigned char>> curve_parameters(int curve_nid) {
  const ASN1_OBJECT* oid = OBJ_nid2obj(curve_nid);
  if (!oid) return fail(Errc::invalid_input, "unknown curve");
  const int length = i2d_ASN1_OBJECT(oid, nullptr);
  if (length <= 0) return fail_openssl(Errc::internal, "i2d_ASN1_OBJECT");
  std::vector<unsigned char> der(static_cast<std::size_t>(length));
  unsigned char* out = der.data();
  i2d_ASN1_OBJECT(oid, &out);
  return der;
}

std::unexpected<Error> ed25519_refused() {
  return fail(Errc::key_failure,
              "Ed25519 keys cannot be kept on a PKCS#11 token here: the libp11 0.4.12 engine cannot sign with them; "
              "use p256, p384 or rsa2048+ for a token key, or a file: key for Ed25519");
}

void add_common_attributes(AttributeTemplate& attributes, std::string_view label, std::span<const unsigned char> id) {
  attributes.flag(CKA_TOKEN, true).text(CKA_LABEL, label).bytes(CKA_ID, id);
}

void add_private_key_protection(AttributeTemplate& private_key) {
  private_key.flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, true).flag(CKA_EXTRACTABLE, false).flag(CKA_SIGN, true);
}

using EcGroupPtr = std::unique_ptr<EC_GROUP, OsslDeleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, OsslDeleter<EC_POINT_free>>;

std::vector<unsigned char> unsigned_big_endian(const BIGNUM* number, int width = 0) {
  const int length = width > 0 ? width : BN_num_bytes(number);
  std::vector<unsigned char> bytes(static_cast<std::size_t>(length));
  BN_bn2binpad(number, bytes.data(), length);
  return bytes;
}

Result<BignumPtr> bignum_parameter(const EVP_PKEY* key, const char* name) {
  BIGNUM* number = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &number) != 1) {
    return fail(Errc::invalid_input, std::string("the key has no ") + name + " (is it a private key?)");
  }
  return BignumPtr(number);
}

// The two objects C_CreateObject makes for a software RSA key.
Result<void> describe_rsa(const EVP_PKEY* key, AttributeTemplate& private_key, AttributeTemplate& public_key) {
  static constexpr std::array<std::pair<const char*, ck_attribute_type_t>, 8> components{{
      {OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS},
      {OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT},
      {OSSL_PKEY_PARAM_RSA_D, CKA_PRIVATE_EXPONENT},
      {OSSL_PKEY_PARAM_RSA_FACTOR1, CKA_PRIME_1},
      {OSSL_PKEY_PARAM_RSA_FACTOR2, CKA_PRIME_2},
      {OSSL_PKEY_PARAM_RSA_EXPONENT1, CKA_EXPONENT_1},
      {OSSL_PKEY_PARAM_RSA_EXPONENT2, CKA_EXPONENT_2},
      {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, CKA_COEFFICIENT},
  }};
  for (const auto& [name, attribute] : components) {
    auto number = bignum_parameter(key, name);
    if (!number) return std::unexpected(number.error());
    auto bytes = unsigned_big_endian(number->get());
    private_key.bytes(attribute, bytes);
    if (attribute == CKA_MODULUS || attribute == CKA_PUBLIC_EXPONENT) public_key.bytes(attribute, bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
  }
  private_key.number(CKA_KEY_TYPE, CKK_RSA);
  public_key.number(CKA_KEY_TYPE, CKK_RSA);
  return {};
}

Result<void> describe_ec(const EVP_PKEY* key, AttributeTemplate& private_key, AttributeTemplate& public_key) {
  std::array<char, 64> group_name{};
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group_name.data(), group_name.size(), nullptr) !=
      1) {
    return fail(Errc::invalid_input, "EC key without a named curve");
  }
  const int nid = OBJ_sn2nid(group_name.data());
  if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1) {
    return fail(Errc::invalid_input, std::string("unsupported curve for a token key: ") + group_name.data());
  }
  auto parameters = curve_parameters(nid);
  if (!parameters) return std::unexpected(parameters.error());

  auto scalar = bignum_parameter(key, OSSL_PKEY_PARAM_PRIV_KEY);
  if (!scalar) return std::unexpected(scalar.error());
  auto value = unsigned_big_endian(scalar->get(), (EVP_PKEY_get_bits(key) + 7) / 8);

  // CKA_EC_POINT is the DER OCTET STRING of the uncompressed point, whatever form the PEM carried.
  std::array<unsigned char, 256> encoded{};
  std::size_t encoded_length = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size(), &encoded_length) !=
      1) {
    return fail_openssl(Errc::invalid_input, "EC public key");
  }
  EcGroupPtr group(EC_GROUP_new_by_curve_name(nid));
  EcPointPtr point(group ? EC_POINT_new(group.get()) : nullptr);
  if (!point || EC_POINT_oct2point(group.get(), point.get(), encoded.data(), encoded_length, nullptr) != 1) {
    return fail_openssl(Errc::invalid_input, "EC public key");
  }
  encoded_length = EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, encoded.data(),
                                      encoded.size(), nullptr);
  Asn1OctetStringPtr octets(ASN1_OCTET_STRING_new());
  if (!octets || encoded_length == 0 ||
      ASN1_OCTET_STRING_set(octets.get(), encoded.data(), static_cast<int>(encoded_length)) != 1) {
    return fail_openssl(Errc::internal, "EC point encoding");
  }
  const int der_length = i2d_ASN1_OCTET_STRING(octets.get(), nullptr);
  std::vector<unsigned char> point_der(static_cast<std::size_t>(der_length > 0 ? der_length : 0));
  unsigned char* out = point_der.data();
  if (der_length <= 0 || i2d_ASN1_OCTET_STRING(octets.get(), &out) != der_length) {
    return fail_openssl(Errc::internal, "EC point encoding");
  }

  private_key.number(CKA_KEY_TYPE, CKK_EC).bytes(CKA_EC_PARAMS, *parameters).bytes(CKA_VALUE, value);
  OPENSSL_cleanse(value.data(), value.size());
  public_key.number(CKA_KEY_TYPE, CKK_EC).bytes(CKA_EC_PARAMS, *parameters).bytes(CKA_EC_POINT, point_der);
  return {};
}

}  // namespace

Result<void> load_module(const std::string& module_path) {
  auto functions = module_registry().functions(module_path);
  if (!functions) return std::unexpected(functions.error());
  return {};
}

Result<TokenObject> generate_key_pair(const TokenAccess& access, const KeySpec& spec, std::string_view label) {
  if (label.empty()) return fail(Errc::invalid_input, "a token key needs a label");
  AttributeTemplate public_key;
  AttributeTemplate private_key;
  ck_mechanism_type_t mechanism = 0;
  switch (spec.algorithm) {
    case KeyAlgorithm::ed25519:
      return ed25519_refused();
    case KeyAlgorithm::rsa: {
      if (spec.rsa_bits != 2048 && spec.rsa_bits != 3072 && spec.rsa_bits != 4096) {
        return fail(Errc::invalid_input, "RSA token keys are 2048, 3072 or 4096 bits, not " +
                                             std::to_string(spec.rsa_bits));
      }
      static constexpr std::array<unsigned char, 3> f4{0x01, 0x00, 0x01};
      mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      public_key.number(CKA_MODULUS_BITS, static_cast<unsigned long>(spec.rsa_bits)).bytes(CKA_PUBLIC_EXPONENT, f4);
      break;
    }
    case KeyAlgorithm::ec: {
      int nid = NID_undef;
      if (spec.curve == "P-256") nid = NID_X9_62_prime256v1;
      if (spec.curve == "P-384") nid = NID_secp384r1;
      if (nid == NID_undef) return fail(Errc::invalid_input, "EC token keys are P-256 or P-384, not '" + spec.curve + "'");
      auto parameters = curve_parameters(nid);
      if (!parameters) return std::unexpected(parameters.error());
      mechanism = CKM_EC_KEY_PAIR_GEN;
      public_key.bytes(CKA_EC_PARAMS, *parameters);
      break;
    }
  }

  auto session = TokenSession::open(access);
  if (!session) return std::unexpected(session.error());
  if (auto refused = session->refuse_existing_label(label); !refused) return std::unexpected(refused.error());
  auto id = random_object_id();
  if (!id) return std::unexpected(id.error());

  add_common_attributes(public_key, label, *id);
  public_key.flag(CKA_PRIVATE, false).flag(CKA_VERIFY, true);
  add_common_attributes(private_key, label, *id);
  add_private_key_protection(private_key);
  if (auto generated = session->generate_key_pair(mechanism, public_key, private_key); !generated) {
    return std::unexpected(generated.error());
  }
  return TokenObject{session->token(), std::string(label), std::move(*id)};
}

Result<TokenObject> store_key_pair(const TokenAccess& access, const EVP_PKEY* key, std::string_view label) {
  if (!key) return fail(Errc::invalid_input, "no key to store");
  if (label.empty()) return fail(Errc::invalid_input, "a token key needs a label");
  AttributeTemplate private_key;
  AttributeTemplate public_key;
  private_key.number(CKA_CLASS, CKO_PRIVATE_KEY);
  public_key.number(CKA_CLASS, CKO_PUBLIC_KEY);
  Result<void> described;
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) {
    return ed25519_refused();
  } else if (EVP_PKEY_is_a(key, "RSA")) {
    described = describe_rsa(key, private_key, public_key);
  } else if (EVP_PKEY_is_a(key, "EC")) {
    described = describe_ec(key, private_key, public_key);
  } else {
    return fail(Errc::invalid_input, std::string("a token key is RSA or EC, not ") + EVP_PKEY_get0_type_name(key));
  }
  if (!described) return std::unexpected(described.error());

  auto session = TokenSession::open(access);
  if (!session) return std::unexpected(session.error());
  if (auto refused = session->refuse_existing_label(label); !refused) return std::unexpected(refused.error());
  auto id = random_object_id();
  if (!id) return std::unexpected(id.error());

  add_common_attributes(private_key, label, *id);
  add_private_key_protection(private_key);
  add_common_attributes(public_key, label, *id);
  public_key.flag(CKA_PRIVATE, false).flag(CKA_VERIFY, true);

  auto private_object = session->create_object(private_key, "private key");
  if (!private_object) return std::unexpected(private_object.error());
  // libp11 reads an EC key's public point from the public object; without it the key is half usable.
  if (auto public_object = session->create_object(public_key, "public key"); !public_object) {
    session->destroy_object(*private_object);
    return std::unexpected(public_object.error());
  }
  return TokenObject{session->token(), std::string(label), std::move(*id)};
}

}  // namespace fca::pkcs11
