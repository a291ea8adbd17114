#include "fca/est/codec.hpp"

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include "fca/core/x509.hpp"
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>

namespace fca::est {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    return t;
  }();
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t accumulator = 0;
  int bits = 0;
  int padding = 0;
  for (const char c : text) {
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int value = table[static_cast<unsigned char>(c)];
    if (value < 0 || padding > 0) return std::nullopt;  // a foreign byte, or data after padding
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((accumulator >> bits) & 0xFF));
    }
  }
  // Leftover bits must be the zero fill of a final group (2 or 4 bits); 6 means a lone character.
  if (bits >= 6 || padding > 2) return std::nullopt;
  if ((accumulator & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string encode_base64_lines(std::span<const std::uint8_t> bytes) {
  std::string flat;
  flat.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    flat += kAlphabet[(n >> 18) & 63];
    flat += kAlphabet[(n >> 12) & 63];
    flat += kAlphabet[(n >> 6) & 63];
    flat += kAlphabet[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = bytes[i] << 16;
    if (rest == 2) n |= bytes[i + 1] << 8;
    flat += kAlphabet[(n >> 18) & 63];
    flat += kAlphabet[(n >> 12) & 63];
    flat += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    flat += '=';
  }
  std::string out;
  out.reserve(flat.size() + flat.size() / 64 * 2 + 2);
  for (std::size_t at = 0; at < flat.size(); at += 64) {
    out.append(flat, at, 64);
    out += "\r\n";
  }
  return out;
}

Result<std::vector<std::uint8_t>> csr_der_of_body(std::string_view body) {
  std::string_view text = trim(body);
  if (text.empty()) return fail(Errc::invalid_input, "the body holds no certificate request");
  if (text.starts_with("-----BEGIN ")) {
    const auto label_end = text.find("-----", 11);
    if (label_end == std::string_view::npos) return fail(Errc::invalid_input, "broken PEM armour");
    const std::string_view label = text.substr(11, label_end - 11);
    if (label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST") {
      return fail(Errc::invalid_input, "PEM armour is not a certificate request");
    }
    const std::string end_line = "-----END " + std::string(label) + "-----";
    const auto end = text.find(end_line, label_end + 5);
    if (end == std::string_view::npos) return fail(Errc::invalid_input, "PEM armour without its END line");
    if (!trim(text.substr(end + end_line.size())).empty()) {
      return fail(Errc::invalid_input, "more than one object in the body");
    }
    text = text.substr(label_end + 5, end - label_end - 5);
  }
  auto der = decode_base64(text);
  if (!der || der->empty()) return fail(Errc::invalid_input, "the body is not base64 (RFC 7030 §4.2.1)");
  return std::move(*der);
}

Result<std::vector<std::uint8_t>> certs_only_pkcs7(const std::vector<const X509*>& certificates) {
  std::unique_ptr<PKCS7, OsslDeleter<PKCS7_free>> p7(PKCS7_new());
  if (!p7 || PKCS7_set_type(p7.get(), NID_pkcs7_signed) != 1 || PKCS7_content_new(p7.get(), NID_pkcs7_data) != 1) {
    return fail_openssl(Errc::internal, "PKCS#7 certs-only");
  }
  // No encapsulated content at all (as `openssl crl2pkcs7` writes it), not an empty one.
  ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
  p7->d.sign->contents->d.data = nullptr;
  for (const X509* cert : certificates) {
    if (PKCS7_add_certificate(p7.get(), const_cast<X509*>(cert)) != 1) return fail_openssl(Errc::internal, "PKCS#7 add");
  }
  auto der = der_encode<PKCS7>(p7.get(), [](const PKCS7* p, unsigned char** out) { return i2d_PKCS7(p, out); });
  if (der.empty()) return fail_openssl(Errc::internal, "PKCS#7 encode");
  return der;
}

namespace {

void append_length(std::vector<std::uint8_t>& out, std::size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
    return;
  }
  std::vector<std::uint8_t> digits;
  for (; length > 0; length >>= 8) digits.insert(digits.begin(), static_cast<std::uint8_t>(length & 0xFF));
  out.push_back(static_cast<std::uint8_t>(0x80 | digits.size()));
  out.insert(out.end(), digits.begin(), digits.end());
}

std::vector<std::uint8_t> tlv(std::uint8_t tag, const std::vector<std::uint8_t>& content) {
  std::vector<std::uint8_t> out{tag};
  append_length(out, content.size());
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

std::vector<std::uint8_t> oid(const char* dotted) {
  std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>> object(OBJ_txt2obj(dotted, 1));
  return der_encode<ASN1_OBJECT>(object.get(), [](const ASN1_OBJECT* o, unsigned char** out) { return i2d_ASN1_OBJECT(o, out); });
}

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

constexpr std::uint8_t kSequence = 0x30;
constexpr std::uint8_t kSet = 0x31;

}  // namespace

std::vector<std::uint8_t> tls_csr_attributes(bool challenge_password) {
  const auto attribute = [](const char* type, std::initializer_list<std::vector<std::uint8_t>> values) {
    return tlv(kSequence, concat({oid(type), tlv(kSet, concat(values))}));
  };
  return tlv(kSequence, concat({
                            attribute("1.2.840.10045.2.1", {oid("1.2.840.10045.3.1.7")}),  // ecPublicKey: P-256
                            oid("1.2.840.113549.1.1.1"),                                    // rsaEncryption
                            oid("1.2.840.10045.4.3.2"),                                     // ecdsa-with-SHA256
                            oid("1.2.840.113549.1.1.11"),                                   // sha256WithRSAEncryption
                            attribute("1.2.840.113549.1.9.14",                              // extensionRequest
                                      {oid("2.5.29.37"), oid("2.5.29.17")}),                // extKeyUsage, subjectAltName
                            challenge_password ? oid("1.2.840.113549.1.9.7") : std::vector<std::uint8_t>{},
                        }));
}

std::optional<std::string> challenge_password(const X509_REQ* csr) {
  const int index = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
  if (index < 0) return std::nullopt;
  X509_ATTRIBUTE* attribute = X509_REQ_get_attr(csr, index);
  if (!attribute || X509_ATTRIBUTE_count(attribute) != 1) return std::nullopt;
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attribute, 0);
  if (!value) return std::nullopt;
  switch (value->type) {
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING: break;
    default: return std::nullopt;
  }
  const ASN1_STRING* text = value->value.asn1_string;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)), static_cast<std::size_t>(ASN1_STRING_length(text)));
}

namespace {

constexpr const char* kDecryptKeyId = "1.2.840.113549.1.9.16.2.37";       // id-aa-decryptKeyID (RFC 4108)
constexpr const char* kAsymmDecryptKeyId = "1.2.840.113549.1.9.16.2.54";  // id-aa-asymmDecryptKeyID (RFC 7030)
constexpr const char* kAsymmetricKeyPackage = "2.16.840.1.101.2.1.2.78.5";  // id-ct-KP-aKeyPackage (RFC 5958)

using ObjectPtr = std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>>;

// A CMS structure whose content may hold the generated key: wiped before it is freed.
struct CleansingCmsFree {
  void operator()(CMS_ContentInfo* cms) const {
    if (ASN1_OCTET_STRING** content = CMS_get0_content(cms); content && *content) {
      OPENSSL_cleanse((*content)->data, static_cast<std::size_t>((*content)->length));
    }
    CMS_ContentInfo_free(cms);
  }
};
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CleansingCmsFree>;

Result<std::optional<std::vector<std::uint8_t>>> octet_string_attribute(const X509_REQ* csr, const char* oid,
                                                                          std::string_view name) {
  ObjectPtr type(OBJ_txt2obj(oid, 1));
  if (!type) return fail_openssl(Errc::internal, "OID " + std::string(oid));
  const int index = X509_REQ_get_attr_by_OBJ(csr, type.get(), -1);
  if (index < 0) return std::nullopt;
  if (X509_REQ_get_attr_by_OBJ(csr, type.get(), index) >= 0) {
    return fail(Errc::invalid_input, "the CSR carries " + std::string(name) + " twice");
  }
  X509_ATTRIBUTE* attribute = X509_REQ_get_attr(csr, index);
  const ASN1_TYPE* value = attribute && X509_ATTRIBUTE_count(attribute) == 1 ? X509_ATTRIBUTE_get0_type(attribute, 0) : nullptr;
  if (!value || value->type != V_ASN1_OCTET_STRING || ASN1_STRING_length(value->value.octet_string) <= 0) {
    return fail(Errc::invalid_input, "the CSR's " + std::string(name) + " is not one OCTET STRING (RFC 7030 §4.4.1)");
  }
  const ASN1_OCTET_STRING* octets = value->value.octet_string;
  const unsigned char* data = ASN1_STRING_get0_data(octets);
  return std::vector<std::uint8_t>(data, data + ASN1_STRING_length(octets));
}

// The content of the DER TLV at the start of `der` (definite lengths only, as DER has), or std::nullopt.
std::optional<std::span<const std::uint8_t>> tlv_content(std::span<const std::uint8_t> der, std::uint8_t tag) {
  if (der.size() < 2 || der[0] != tag) return std::nullopt;
  std::size_t length = der[1];
  std::size_t header = 2;
  if (length & 0x80) {
    const std::size_t digits = length & 0x7F;
    if (digits == 0 || digits > 4 || der.size() < 2 + digits) return std::nullopt;
    length = 0;
    for (std::size_t i = 0; i < digits; ++i) length = (length << 8) | der[2 + i];
    header += digits;
  }
  if (der.size() - header < length) return std::nullopt;
  return der.subspan(header, length);
}

std::size_t tlv_size(std::span<const std::uint8_t> der) {
  const auto content = tlv_content(der, der.empty() ? 0 : der[0]);
  return content ? static_cast<std::size_t>(content->data() + content->size() - der.data()) : 0;
}

}  // namespace

Result<KeyEncryptionRequest> key_encryption_request(const X509_REQ* csr) {
  auto symmetric = octet_string_attribute(csr, kDecryptKeyId, "DecryptKeyIdentifier");
  if (!symmetric) return std::unexpected(symmetric.error());
  auto asymmetric = octet_string_attribute(csr, kAsymmDecryptKeyId, "AsymmetricDecryptKeyIdentifier");
  if (!asymmetric) return std::unexpected(asymmetric.error());
  if (*symmetric && *asymmetric) {
    return fail(Errc::invalid_input, "the CSR asks for both symmetric and asymmetric encryption of the key");
  }
  if (*symmetric) return KeyEncryptionRequest{KeyEncryptionRequest::Kind::symmetric, std::move(**symmetric)};
  if (*asymmetric) return KeyEncryptionRequest{KeyEncryptionRequest::Kind::asymmetric, std::move(**asymmetric)};
  return KeyEncryptionRequest{};
}

bool identifies_key_of(std::span<const std::uint8_t> identifier, const X509* certificate) {
  if (identifier.empty() || !certificate) return false;
  const auto same = [&](const unsigned char* data, std::size_t length) {
    return length == identifier.size() && std::equal(identifier.begin(), identifier.end(), data);
  };
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(certificate))) {
    return same(ASN1_STRING_get0_data(ski), static_cast<std::size_t>(ASN1_STRING_length(ski)));
  }
  const ASN1_BIT_STRING* public_key = X509_get0_pubkey_bitstr(certificate);
  if (!public_key) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_Digest(ASN1_STRING_get0_data(public_key), static_cast<std::size_t>(ASN1_STRING_length(public_key)), digest,
                 &digest_length, EVP_sha1(), nullptr) != 1) {
    return false;
  }
  return same(digest, digest_length);
}

Result<std::vector<std::uint8_t>> signed_key_package(std::span<const std::uint8_t> pkcs8, const X509* signer,
                                                     EVP_PKEY* signer_key, const std::vector<const X509*>& chain) {
  if (pkcs8.empty() || !signer || !signer_key) return fail(Errc::internal, "a key package needs a key and a signer");
  // AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey; a PKCS#8 PrivateKeyInfo is a
  // version-1 OneAsymmetricKey (RFC 5958 §2).
  std::vector<std::uint8_t> package = tlv(kSequence, std::vector<std::uint8_t>(pkcs8.begin(), pkcs8.end()));
  const CleanseOnExit wipe_package{package};

  X509StackPtr certificates(sk_X509_new_null());
  if (!certificates) return fail_openssl(Errc::internal, "certificate stack");
  for (const X509* cert : chain) {
    if (X509_up_ref(const_cast<X509*>(cert)) != 1) return fail_openssl(Errc::internal, "certificate reference");
    if (sk_X509_push(certificates.get(), const_cast<X509*>(cert)) <= 0) {
      X509_free(const_cast<X509*>(cert));
      return fail_openssl(Errc::internal, "certificate stack");
    }
  }
  // Partial first: the eContentType must be set before the signature covers it (signed attributes).
  constexpr unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  CmsPtr cms(CMS_sign(const_cast<X509*>(signer), signer_key, certificates.get(), nullptr, flags));
  if (!cms) return fail_openssl(Errc::key_failure, "CMS SignedData of the key package");
  ObjectPtr content_type(OBJ_txt2obj(kAsymmetricKeyPackage, 1));
  if (!content_type || CMS_set1_eContentType(cms.get(), content_type.get()) != 1) {
    return fail_openssl(Errc::internal, "CMS eContentType id-ct-KP-aKeyPackage");
  }
  BioPtr content(BIO_new_mem_buf(package.data(), static_cast<int>(package.size())));
  if (!content || CMS_final(cms.get(), content.get(), nullptr, CMS_BINARY) != 1) {
    return fail_openssl(Errc::key_failure, "CMS signature over the key package");
  }
  auto info = der_encode<CMS_ContentInfo>(cms.get(), [](const CMS_ContentInfo* c, unsigned char** out) {
    return i2d_CMS_ContentInfo(c, out);
  });
  const CleanseOnExit wipe_info{info};
  if (info.empty()) return fail_openssl(Errc::internal, "CMS SignedData encode");
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }: nested CMS content
  // is the SignedData itself (RFC 5652 §6.1: the content of the type the EncryptedContentInfo names).
  const auto outer = tlv_content(info, kSequence);
  if (!outer) return fail(Errc::internal, "CMS SignedData encoding");
  const std::size_t oid_size = tlv_size(*outer);
  const auto explicit_content = oid_size == 0 ? std::nullopt : tlv_content(outer->subspan(oid_size), 0xA0);
  if (!explicit_content || tlv_size(*explicit_content) != explicit_content->size()) {
    return fail(Errc::internal, "CMS SignedData encoding");
  }
  return std::vector<std::uint8_t>(explicit_content->begin(), explicit_content->end());
}

bool can_envelope_to(const EVP_PKEY* key) {
  return key && (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA || EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
}

Result<std::vector<std::uint8_t>> enveloped_key_package(std::span<const std::uint8_t> signed_data, const X509* recipient,
                                                        std::span<const std::uint8_t> recipient_key_identifier) {
  if (signed_data.empty() || !recipient) return fail(Errc::internal, "an enveloped key package needs content and a recipient");
  const EVP_PKEY* recipient_key = X509_get0_pubkey(recipient);
  if (!can_envelope_to(recipient_key)) {
    return fail(Errc::invalid_input, "the key the client named is neither RSA nor EC: the server cannot encrypt to it");
  }
  const bool rsa = EVP_PKEY_get_base_id(recipient_key) == EVP_PKEY_RSA;
  // The recipient as the client named it (its SKI) where the certificate carries that SKI.
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(recipient));
  const bool by_key_id = ski && !recipient_key_identifier.empty() &&
                         static_cast<std::size_t>(ASN1_STRING_length(ski)) == recipient_key_identifier.size() &&
                         std::equal(recipient_key_identifier.begin(), recipient_key_identifier.end(), ASN1_STRING_get0_data(ski));

  CmsPtr cms(CMS_encrypt(nullptr, nullptr, EVP_aes_256_cbc(), CMS_BINARY | CMS_PARTIAL));
  if (!cms) return fail_openssl(Errc::internal, "CMS EnvelopedData");
  const unsigned int recipient_flags = (by_key_id ? CMS_USE_KEYID : 0u) | (rsa ? CMS_KEY_PARAM : 0u);
  CMS_RecipientInfo* info = CMS_add1_recipient_cert(cms.get(), const_cast<X509*>(recipient), recipient_flags);
  if (!info) return fail_openssl(Errc::internal, "CMS recipient");
  if (rsa) {
    EVP_PKEY_CTX* context = CMS_RecipientInfo_get0_pkey_ctx(info);
    if (!context || EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) <= 0) {
      return fail_openssl(Errc::internal, "CMS RSAES-OAEP key transport");
    }
  }
  if (CMS_set1_eContentType(cms.get(), OBJ_nid2obj(NID_pkcs7_signed)) != 1) {
    return fail_openssl(Errc::internal, "CMS encrypted content type id-signedData");
  }
  BioPtr content(BIO_new_mem_buf(signed_data.data(), static_cast<int>(signed_data.size())));
  if (!content || CMS_final(cms.get(), content.get(), nullptr, CMS_BINARY) != 1) {
    return fail_openssl(Errc::internal, "CMS encryption of the key package");
  }
  auto der = der_encode<CMS_ContentInfo>(cms.get(), [](const CMS_ContentInfo* c, unsigned char** out) {
    return i2d_CMS_ContentInfo(c, out);
  });
  if (der.empty()) return fail_openssl(Errc::internal, "CMS EnvelopedData encode");
  return der;
}

std::string multipart_mixed(std::string_view boundary, const std::vector<MultipartPart>& parts) {
  std::string out;
  for (const auto& part : parts) {
    out += "--";
    out += boundary;
    out += "\r\nContent-Type: " + part.content_type + "\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    out += part.body;
    if (!out.ends_with("\r\n")) out += "\r\n";
  }
  out += "--";
  out += boundary;
  out += "--\r\n";
  return out;
}

std::optional<std::vector<ParsedPart>> parse_multipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty()) return std::nullopt;
  const std::string delimiter = "--" + std::string(boundary);
  std::vector<ParsedPart> parts;
  auto at = body.find(delimiter);
  if (at == std::string_view::npos) return std::nullopt;
  for (;;) {
    at += delimiter.size();
    if (body.substr(at).starts_with("--")) return parts;  // the closing delimiter
    const auto line_end = body.find("\r\n", at);
    if (line_end == std::string_view::npos) return std::nullopt;
    const auto headers_end = body.find("\r\n\r\n", line_end);
    if (headers_end == std::string_view::npos) return std::nullopt;
    ParsedPart part;
    std::string_view headers = body.substr(line_end + 2, headers_end + 2 - (line_end + 2));
    while (!headers.empty()) {
      const auto eol = headers.find("\r\n");
      if (eol == std::string_view::npos) return std::nullopt;
      const std::string_view line = headers.substr(0, eol);
      headers.remove_prefix(eol + 2);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return std::nullopt;
      part.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
    }
    const auto next = body.find("\r\n" + delimiter, headers_end + 4);
    if (next == std::string_view::npos) return std::nullopt;
    part.body = std::string(body.substr(headers_end + 4, next - (headers_end + 4)));
    parts.push_back(std::move(part));
    at = next + 2;
  }
}

}  // namespace fca::est
