#include "fca/core/x509.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "legacy_public_key.hpp"

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

namespace {

bool only_whitespace(std::string_view rest) {
  return std::ranges::all_of(rest, [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// A library context with only the null provider: no decoder in it can read a public key, so OpenSSL
// 3.0 parses a request in it without building a decoder context for the key (a sixth of an
// issuance's CPU) and leaves the key undecoded.
OSSL_LIB_CTX* keyless_context() {
  static OSSL_LIB_CTX* const context = [] {
    OSSL_LIB_CTX* made = OSSL_LIB_CTX_new();
    if (made && !OSSL_PROVIDER_load(made, "null")) {
      OSSL_LIB_CTX_free(made);
      made = nullptr;
    }
    return made;
  }();
  return context;
}

// The request parsed with its EC or RSA key read by the key type's own decoder, or null (any other
// key type; any encoding the request with that key does not give back byte for byte, so that its
// signature is always checked over exactly what the client signed).
X509ReqPtr with_legacy_key(std::span<const unsigned char> der) {
  OSSL_LIB_CTX* context = keyless_context();
  if (!context) return nullptr;
  const unsigned char* p = der.data();
  X509ReqPtr req(reinterpret_cast<X509_REQ*>(
      ASN1_item_d2i_ex(nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(X509_REQ), context, nullptr)));
  if (!req || p != der.data() + der.size()) return nullptr;
  const PKeyPtr key = legacy_public_key(X509_REQ_get_X509_PUBKEY(req.get()));
  if (!key || X509_REQ_set_pubkey(req.get(), key.get()) != 1) return nullptr;
  unsigned char* encoded = nullptr;
  const int length = i2d_X509_REQ(req.get(), &encoded);
  const bool same = length > 0 && static_cast<std::size_t>(length) == der.size() &&
                    std::equal(der.begin(), der.end(), encoded);
  OPENSSL_free(encoded);
  if (!same) return nullptr;
  return req;
}

// One DER CertificationRequest, every byte of it: a second object or trailing bytes are refused, not ignored.
Result<X509ReqPtr> csr_from_der(std::span<const unsigned char> der) {
  ERR_set_mark();  // what the first attempt leaves on the error queue is not the caller's to see
  auto fast = with_legacy_key(der);
  ERR_pop_to_mark();
  if (fast) return fast;
  const unsigned char* p = der.data();
  X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req) return fail_openssl(Errc::invalid_input, "not a PKCS#10 certificate request (PEM or DER)");
  if (p != der.data() + der.size()) {
    return fail(Errc::invalid_input, "the CSR is followed by " + std::to_string(der.data() + der.size() - p) +
                                         " bytes of trailing data: refused");
  }
  return req;
}

Result<X509ReqPtr> csr_from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long length = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
    return fail_openssl(Errc::invalid_input, "not a PKCS#10 certificate request (PEM or DER)");
  }
  const std::string type = name;
  const bool has_header = header && *header;
  std::vector<unsigned char> der(data, data + length);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (type != "CERTIFICATE REQUEST" && type != "NEW CERTIFICATE REQUEST") {
    return fail(Errc::invalid_input, "the PEM block is '" + type + "', not a CERTIFICATE REQUEST");
  }
  if (has_header) return fail(Errc::invalid_input, "the CSR's PEM block carries headers (encrypted?): refused");
  char* rest = nullptr;
  const long rest_length = BIO_get_mem_data(bio.get(), &rest);
  const std::string_view after(rest, static_cast<std::size_t>(std::max(0L, rest_length)));
  if (!only_whitespace(after)) {
    return fail(Errc::invalid_input, after.find("-----BEGIN ") != std::string_view::npos
                                         ? "more than one PEM object after the CSR: send exactly one"
                                         : "the CSR is followed by trailing data: refused");
  }
  return csr_from_der(der);
}

// The digest of the CSR's self-signature; NID_undef for Ed25519 (which hashes internally).
Result<int> csr_signature_digest(const X509_REQ* req) {
  const int signature = X509_REQ_get_signature_nid(req);
  int digest = NID_undef;
  int key = NID_undef;
  if (signature == NID_rsassaPss) {
    const X509_ALGOR* algorithm = nullptr;
    X509_REQ_get0_signature(req, nullptr, &algorithm);
    const ASN1_OBJECT* oid = nullptr;
    int parameter_type = 0;
    const void* parameter = nullptr;
    X509_ALGOR_get0(&oid, &parameter_type, &parameter, algorithm);
    if (parameter_type != V_ASN1_SEQUENCE) return fail(Errc::invalid_input, "RSA-PSS CSR signature without parameters");
    std::unique_ptr<RSA_PSS_PARAMS, OsslDeleter<RSA_PSS_PARAMS_free>> pss(static_cast<RSA_PSS_PARAMS*>(
        ASN1_item_unpack(static_cast<const ASN1_STRING*>(parameter), ASN1_ITEM_rptr(RSA_PSS_PARAMS))));
    if (!pss) return fail_openssl(Errc::invalid_input, "unreadable RSA-PSS parameters in the CSR signature");
    // An absent hashAlgorithm is SHA-1 (RFC 4055).
    return pss->hashAlgorithm ? OBJ_obj2nid(pss->hashAlgorithm->algorithm) : NID_sha1;
  }
  if (OBJ_find_sigid_algs(signature, &digest, &key) != 1) {
    return fail(Errc::policy_refused, std::string("CSR signature algorithm ") + OBJ_nid2sn(signature) + " is not supported");
  }
  if (key == NID_ED25519) return NID_undef;
  return digest;
}

}  // namespace

Result<X509ReqPtr> parse_csr(std::string_view data) {
  if (data.empty()) return fail(Errc::invalid_input, "empty CSR");
  // "CERTIFICATE REQUEST" and "NEW CERTIFICATE REQUEST" armour are both accepted.
  auto req = looks_like_pem(data)
                 ? csr_from_pem(data)
                 : csr_from_der(std::span(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
  if (!req) return req;
  auto digest = csr_signature_digest(req->get());
  if (!digest) return std::unexpected(digest.error());
  if (auto ok = approve_csr_signature_digest(*digest); !ok) return std::unexpected(ok.error());
  return req;
}

Result<void> approve_csr_signature_digest(int digest_nid) {
  switch (digest_nid) {
    case NID_undef:  // Ed25519
    case NID_sha256:
    case NID_sha384:
    case NID_sha512:
    case NID_sha3_256:
    case NID_sha3_384:
    case NID_sha3_512: return {};
    default:
      return fail(Errc::policy_refused, std::string("the CSR is signed with ") +
                                            (digest_nid == NID_undef ? "an unknown digest" : OBJ_nid2sn(digest_nid)) +
                                            ": SHA-256 or stronger is required");
  }
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
  // An extension request or SAN extension that is present but does not decode becomes one
  // Kind::other entry, so policy refuses the request instead of issuing it without those names.
  const SubjectAltName unreadable{SubjectAltName::Kind::other, "unreadable subjectAltName extension"};
  X509ExtensionStackPtr extensions(X509_REQ_get_extensions(const_cast<X509_REQ*>(req)));
  if (!extensions) {
    const bool requested = X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
                           X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0;
    ERR_clear_error();
    if (requested) return {unreadable};
    return {};
  }
  int critical = -1;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(extensions.get(), NID_subject_alt_name, &critical, nullptr)));
  ERR_clear_error();
  if (!names) {
    if (critical == -1) return {};  // no SAN extension
    if (critical == -2) return {{SubjectAltName::Kind::other, "more than one subjectAltName extension"}};
    return {unreadable};
  }
  auto out = from_general_names(names.get());
  if (out.empty()) return {{SubjectAltName::Kind::other, "empty subjectAltName extension"}};
  return out;
}

bool is_ca_certificate(const X509* cert) { return X509_check_ca(const_cast<X509*>(cert)) > 0 && (X509_get_extension_flags(const_cast<X509*>(cert)) & EXFLAG_CA); }

bool signed_by(const X509* cert, const X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  const bool ok = key && X509_verify(const_cast<X509*>(cert), key) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace fca
