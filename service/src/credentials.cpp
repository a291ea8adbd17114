#include "fca/service/credentials.hpp"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "fca/core/signing.hpp"

namespace fca::service {
namespace {

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

Result<GENERAL_NAME*> to_general_name(const SubjectAltName& san) {
  if (san.kind == SubjectAltName::Kind::ip) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(san.value.c_str());
    if (name == nullptr || address == nullptr) {
      GENERAL_NAME_free(name);
      ASN1_OCTET_STRING_free(address);
      return fail(Errc::invalid_input, "'" + san.value + "' is not an IP address");
    }
    GENERAL_NAME_set0_value(name, GEN_IPADD, address);
    return name;
  }
  int type = GEN_DNS;
  if (san.kind == SubjectAltName::Kind::email) type = GEN_EMAIL;
  if (san.kind == SubjectAltName::Kind::uri) type = GEN_URI;
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  if (name == nullptr || value == nullptr ||
      ASN1_STRING_set(value, san.value.data(), static_cast<int>(san.value.size())) != 1) {
    GENERAL_NAME_free(name);
    ASN1_IA5STRING_free(value);
    return fail_openssl(Errc::internal, "cannot encode a subject alternative name");
  }
  GENERAL_NAME_set0_value(name, type, value);
  return name;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

Result<SubjectAltName> parse_san(std::string_view text) {
  struct Prefix {
    std::string_view text;
    SubjectAltName::Kind kind;
  };
  constexpr Prefix prefixes[] = {{"DNS:", SubjectAltName::Kind::dns},
                                 {"IP:", SubjectAltName::Kind::ip},
                                 {"email:", SubjectAltName::Kind::email},
                                 {"URI:", SubjectAltName::Kind::uri}};
  for (const auto& prefix : prefixes) {
    if (starts_with_ignoring_case(text, prefix.text) && text.size() > prefix.text.size()) {
      return SubjectAltName{prefix.kind, std::string(text.substr(prefix.text.size()))};
    }
  }
  return fail(Errc::invalid_input,
              "'" + std::string(text) + "' is not a SAN (use DNS:name, IP:address, email:address or URI:uri)");
}

Result<X509ReqPtr> build_csr(EVP_PKEY* key, std::string_view common_name, const std::vector<SubjectAltName>& sans) {
  X509ReqPtr request(X509_REQ_new());
  if (!request || X509_REQ_set_version(request.get(), 0) != 1) return fail_openssl(Errc::internal, "X509_REQ_new");

  X509_NAME* subject = X509_REQ_get_subject_name(request.get());
  if (!common_name.empty() &&
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return fail_openssl(Errc::invalid_input, "cannot put the common name in the request");
  }
  if (X509_REQ_set_pubkey(request.get(), key) != 1) return fail_openssl(Errc::internal, "X509_REQ_set_pubkey");

  if (!sans.empty()) {
    GeneralNamesPtr names(GENERAL_NAMES_new());
    if (!names) return fail_openssl(Errc::internal, "GENERAL_NAMES_new");
    for (const auto& san : sans) {
      auto name = to_general_name(san);
      if (!name) return std::unexpected(name.error());
      if (sk_GENERAL_NAME_push(names.get(), *name) == 0) {
        GENERAL_NAME_free(*name);
        return fail_openssl(Errc::internal, "sk_GENERAL_NAME_push");
      }
    }
    X509ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* san_extension = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    if (!extensions || san_extension == nullptr || sk_X509_EXTENSION_push(extensions.get(), san_extension) == 0) {
      X509_EXTENSION_free(san_extension);
      return fail_openssl(Errc::internal, "cannot build the subjectAltName request extension");
    }
    if (X509_REQ_add_extensions(request.get(), extensions.get()) != 1) {
      return fail_openssl(Errc::internal, "X509_REQ_add_extensions");
    }
  }

  // The same signing path the CA uses, so every key type (Ed25519 included) gets the right digest.
  SigningKey signer(share(key));
  if (auto signed_request = signer.sign(request.get()); !signed_request) return std::unexpected(signed_request.error());
  return request;
}

GeneratedCredentials::GeneratedCredentials(IssuedCertificate issued_certificate, std::string key, std::vector<std::uint8_t> p12)
    : issued(std::move(issued_certificate)), key_pem(std::move(key)), pkcs12(std::move(p12)) {}

GeneratedCredentials::~GeneratedCredentials() {
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  OPENSSL_cleanse(pkcs12.data(), pkcs12.size());
}

Result<GeneratedCredentials> package_credentials(const EVP_PKEY* const_key, IssuedCertificate issued,
                                                 const std::optional<std::string>& password) {
  auto* key = const_cast<EVP_PKEY*>(const_key);
  std::string key_pem;
  if (password) {
    auto encrypted = encrypted_private_key_pem(key, *password);
    if (!encrypted) return std::unexpected(encrypted.error());
    key_pem = std::move(*encrypted);
  } else {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return fail_openssl(Errc::internal, "cannot encode the private key");
    }
    key_pem = bio_text(bio.get());
  }

  std::vector<std::uint8_t> p12_der;
  if (password) {
    X509StackPtr ca_certificates(sk_X509_new_null());
    if (!ca_certificates) return fail_openssl(Errc::internal, "sk_X509_new_null");
    for (const auto& ca : issued.chain) {
      X509Ptr copy = share(ca.get());
      if (sk_X509_push(ca_certificates.get(), copy.get()) == 0) return fail_openssl(Errc::internal, "sk_X509_push");
      (void)copy.release();
    }
    const std::string friendly_name = issued.record.common_name;
    // nid 0 keeps OpenSSL 3's defaults: AES-256-CBC under PBKDF2 for key and certificates.
    Pkcs12Ptr p12(PKCS12_create(password->c_str(), friendly_name.c_str(), key, issued.certificate.get(),
                                ca_certificates.get(), 0, 0, PKCS12_DEFAULT_ITER, PKCS12_DEFAULT_ITER, 0));
    if (!p12) return fail_openssl(Errc::internal, "PKCS12_create");
    p12_der = der_encode(p12.get(), i2d_PKCS12);
    if (p12_der.empty()) return fail_openssl(Errc::internal, "cannot encode the PKCS#12");
  }
  return GeneratedCredentials(std::move(issued), std::move(key_pem), std::move(p12_der));
}

}  // namespace fca::service
