#include "softhsm_fixture.hpp"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace fca::test {
namespace {

void must_succeed(const CommandResult& result, const std::string& what) {
  if (result.exit_code != 0) throw std::runtime_error(what + " failed: " + result.output);
}

struct SoftHsmSetup {
  TempDir temp;
  SoftHsm softhsm;

  SoftHsmSetup() {
    softhsm.directory = temp.path();
    softhsm.config = temp / "softhsm2.conf";
    std::filesystem::create_directory(temp / "tokens");
    write_file(softhsm.config, "directories.tokendir = " + (temp / "tokens").string() +
                                   "\nobjectstore.backend = file\nlog.level = ERROR\n");
    ::setenv("SOFTHSM2_CONF", softhsm.config.c_str(), 1);
    for (const char* label : {keys_token, import_token, pin_value_token, pin_source_token, errors_token, ca_token}) {
      must_succeed(run(std::string("softhsm2-util --init-token --free --label ") + label + " --pin " + user_pin +
                       " --so-pin " + so_pin),
                   std::string("softhsm2-util --init-token ") + label);
    }
    for (const char* label : {pin_value_token, pin_source_token}) {
      must_succeed(pkcs11_tool(std::string("--token-label ") + label + " --login --pin " + user_pin +
                               " --keypairgen --key-type EC:prime256v1 --label probe-key --id 0102"),
                   "pkcs11-tool --keypairgen");
    }
  }
};

}  // namespace

const SoftHsm& softhsm() {
  static SoftHsmSetup setup;
  return setup.softhsm;
}

Pkcs11KeyStoreOptions store_options(const std::string& token, bool with_pin) {
  softhsm();
  Pkcs11KeyStoreOptions options;
  options.module_path = softhsm_module;
  options.token_label = token;
  if (with_pin) options.pin = user_pin;
  return options;
}

CommandResult pkcs11_tool(const std::string& arguments) {
  return run(std::string("pkcs11-tool --module ") + softhsm_module + " " + arguments);
}

namespace {

std::vector<unsigned char> from_hex(std::string_view hex) {
  std::vector<unsigned char> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<unsigned char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

std::string listed_field(const std::string& block, const std::string& field) {
  const auto at = block.find(field + ":");
  if (at == std::string::npos) throw std::runtime_error("pkcs11-tool listing without " + field);
  const auto start = block.find_first_not_of(' ', at + field.size() + 1);
  return block.substr(start, block.find('\n', start) - start);
}

// pkcs11-tool 0.23 cannot export a P-384 public key ("cannot create EVP_PKEY"), but it lists the
// object's CKA_EC_PARAMS and CKA_EC_POINT, which is all an EC public key is.
PKeyPtr listed_ec_public_key(const std::string& token, const std::string& label) {
  auto listing = pkcs11_tool("--token-label " + shell_quote(token) + " --list-objects --type pubkey");
  must_succeed(listing, "pkcs11-tool --list-objects");
  const auto label_at = listing.output.find("label:      " + label + "\n");
  if (label_at == std::string::npos) throw std::runtime_error("no public key labelled " + label);
  const auto block_start = listing.output.rfind("Public Key Object;", label_at);
  const std::string block = listing.output.substr(block_start, label_at - block_start);

  const auto parameters = from_hex(listed_field(block, "EC_PARAMS"));
  const unsigned char* cursor = parameters.data();
  std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>> curve(
      d2i_ASN1_OBJECT(nullptr, &cursor, static_cast<long>(parameters.size())));
  const auto point_der = from_hex(listed_field(block, "EC_POINT"));
  cursor = point_der.data();
  Asn1OctetStringPtr point(d2i_ASN1_OCTET_STRING(nullptr, &cursor, static_cast<long>(point_der.size())));
  if (!curve || !point) throw std::runtime_error("cannot decode the EC public key of " + label);

  std::string group = OBJ_nid2sn(OBJ_obj2nid(curve.get()));
  std::vector<unsigned char> public_point(ASN1_STRING_get0_data(point.get()),
                                          ASN1_STRING_get0_data(point.get()) + ASN1_STRING_length(point.get()));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, public_point.data(), public_point.size()),
      OSSL_PARAM_construct_end(),
  };
  PKeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    throw std::runtime_error("cannot build the EC public key of " + label);
  }
  return PKeyPtr(key);
}

}  // namespace

PKeyPtr token_public_key(const std::string& token, const std::string& label) {
  static int exported_count = 0;  // labels may hold '/' and spaces: not file names
  const auto file = softhsm().directory / ("public-key-" + std::to_string(++exported_count) + ".der");
  auto exported = pkcs11_tool("--token-label " + shell_quote(token) + " --read-object --type pubkey --label " +
                              shell_quote(label) + " --output-file " + shell_quote(file.string()));
  if (exported.exit_code != 0 && exported.output.find("cannot create EVP_PKEY") != std::string::npos) {
    return listed_ec_public_key(token, label);
  }
  must_succeed(exported, "pkcs11-tool --read-object");
  const std::string der = read_file(file);
  const auto* data = reinterpret_cast<const unsigned char*>(der.data());
  PKeyPtr key(d2i_PUBKEY(nullptr, &data, static_cast<long>(der.size())));
  if (!key) throw std::runtime_error("pkcs11-tool did not write a SubjectPublicKeyInfo for " + label);
  return key;
}

X509Ptr self_signed_certificate(EVP_PKEY* key, const std::string& common_name) {
  X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 4711);
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(certificate.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
  X509_set_pubkey(certificate.get(), key);
  X509V3_CTX context;
  X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
  for (const auto& [extension_name, value] : {std::pair{"basicConstraints", "critical,CA:TRUE"},
                                               std::pair{"keyUsage", "critical,keyCertSign,cRLSign"}}) {
    X509ExtensionPtr extension(X509V3_EXT_conf(nullptr, &context, extension_name, value));
    if (!extension) throw std::runtime_error("X509V3_EXT_conf");
    X509_add_ext(certificate.get(), extension.get(), -1);
  }
  const EVP_MD* digest = EVP_PKEY_get_bits(key) == 384 ? EVP_sha384() : EVP_sha256();
  MdCtxPtr md_context(EVP_MD_CTX_new());
  if (EVP_DigestSignInit(md_context.get(), nullptr, digest, nullptr, key) != 1 ||
      X509_sign_ctx(certificate.get(), md_context.get()) <= 0) {
    return nullptr;
  }
  return certificate;
}

std::string to_pem(const X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), certificate);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

CommandResult openssl_verify_self_signed(const X509* certificate, const std::filesystem::path& work_directory) {
  const auto file = work_directory / "self-signed.pem";
  write_file(file, to_pem(certificate));
  return run("openssl verify -CAfile " + shell_quote(file.string()) + " " + shell_quote(file.string()));
}

}  // namespace fca::test
