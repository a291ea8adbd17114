#include "fca/core/x509.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace fca {
namespace {

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

bool looks_like_pem(std::string_view data) { return data.find("-----BEGIN ") != std::string_view::npos; }

TimePoint asn1_time_to_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

SubjectAltName from_general_name(const GENERAL_NAME* name) {
  SubjectAltName san;
  switch (name->type) {
    case GEN_DNS:
      san.kind = SubjectAltName::Kind::dns;
      san.value.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
      break;
    case GEN_EMAIL:
      san.kind = SubjectAltName::Kind::email;
      san.value.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.rfc822Name)),
                       static_cast<std::size_t>(ASN1_STRING_length(name->d.rfc822Name)));
      break;
    case GEN_URI:
      san.kind = SubjectAltName::Kind::uri;
      san.value.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                       static_cast<std::size_t>(ASN1_STRING_length(name->d.uniformResourceIdentifier)));
      break;
    case GEN_IPADD: {
      san.kind = SubjectAltName::Kind::ip;
      const auto len = ASN1_STRING_length(name->d.iPAddress);
      const auto* bytes = ASN1_STRING_get0_data(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      if (len == 4) {
        inet_ntop(AF_INET, bytes, text, sizeof text);
      } else if (len == 16) {
        inet_ntop(AF_INET6, bytes, text, sizeof text);
      } else {
        std::snprintf(text, sizeof text, "invalid(%d bytes)", len);
      }
      san.value = text;
      break;
    }
    default:
      san.kind = SubjectAltName::Kind::other;
      san.value = "type " + std::to_string(name->type);
  }
  return san;
}

std::vector<SubjectAltName> from_general_names(const GENERAL_NAMES* names) {
  std::vector<SubjectAltName> out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) out.push_back(from_general_name(sk_GENERAL_NAME_value(names, i)));
  return out;
}

}  // namespace

std::string to_string(const SubjectAltName& san) {
  switch (san.kind) {
    case SubjectAltName::Kind::dns: return "DNS:" + san.value;
    case SubjectAltName::Kind::ip: return "IP:" + san.value;
    case SubjectAltName::Kind::email: return "email:" + san.value;
    case SubjectAltName::Kind::uri: return "URI:" + san.value;
    case SubjectAltName::Kind::other: return "other:" + san.value;
  }
  return san.value;
}

Result<X509Ptr> parse_certificate(std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  X509Ptr cert(looks_like_pem(data) ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                                    : d2i_X509_bio(bio.get(), nullptr));
  if (!cert) return fail_openssl(Errc::invalid_input, "not an X.509 certificate (PEM or DER)");
  return cert;
}

Result<std::vector<X509Ptr>> parse_certificates(std::string_view pem) {
  if (!looks_like_pem(pem)) {
    auto one = parse_certificate(pem);
    if (!one) return std::unexpected(one.error());
    std::vector<X509Ptr> out;
    out.push_back(std::move(*one));
    return out;
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) return fail(Errc::invalid_input, "no PEM certificate found");
  return out;
}

Result<X509ReqPtr> parse_csr(std::string_view data) {
  if (data.empty()) return fail(Errc::invalid_input, "empty CSR");
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  // PEM_read_bio_X509_REQ accepts both "CERTIFICATE REQUEST" and "NEW CERTIFICATE REQUEST".
  X509ReqPtr req(looks_like_pem(data) ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr)
                                      : d2i_X509_REQ_bio(bio.get(), nullptr));
  if (!req) return fail_openssl(Errc::invalid_input, "not a PKCS#10 certificate request (PEM or DER)");
  return req;
}

std::string to_pem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert));
  return bio_string(bio.get());
}

std::vector<std::uint8_t> to_der(const X509* cert) { return der_encode(cert, i2d_X509); }

std::string to_pem(const X509_REQ* req) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), const_cast<X509_REQ*>(req));
  return bio_string(bio.get());
}

std::string to_pem(const X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), const_cast<X509_CRL*>(crl));
  return bio_string(bio.get());
}

std::vector<std::uint8_t> to_der(const X509_CRL* crl) { return der_encode(crl, i2d_X509_CRL); }

std::string hex_upper(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  return out;
}

std::string serial_hex(const X509* cert) { return serial_hex(X509_get0_serialNumber(cert)); }

std::string serial_hex(const ASN1_INTEGER* serial) {
  if (!serial || ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) return {};
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), bytes.data());
  if (bytes.empty()) return "00";
  return hex_upper(bytes);
}

std::string name_to_string(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_string(bio.get());
}

std::string common_name(const X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string sha256_fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return hex_upper(std::span<const std::uint8_t>(md, len));
}

TimePoint not_before(const X509* cert) { return asn1_time_to_point(X509_get0_notBefore(cert)); }
TimePoint not_after(const X509* cert) { return asn1_time_to_point(X509_get0_notAfter(cert)); }

std::vector<SubjectAltName> subject_alt_names(const X509* cert) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  return from_general_names(names.get());
}

std::vector<SubjectAltName> requested_subject_alt_names(const X509_REQ* req) {
  X509ExtensionStackPtr extensions(X509_REQ_get_extensions(const_cast<X509_REQ*>(req)));
  if (!extensions) return {};
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(extensions.get(), NID_subject_alt_name, nullptr, nullptr)));
  return from_general_names(names.get());
}

bool is_ca_certificate(const X509* cert) { return X509_check_ca(const_cast<X509*>(cert)) > 0 && (X509_get_extension_flags(const_cast<X509*>(cert)) & EXFLAG_CA); }

bool signed_by(const X509* cert, const X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  const bool ok = key && X509_verify(const_cast<X509*>(cert), key) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace fca
