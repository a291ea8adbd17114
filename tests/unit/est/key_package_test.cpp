// serverkeygen with the key encrypted to the client (RFC 7030 §4.4.1.2, §4.4.2; RFC 5958): what the
// CSR asks for, which key an identifier names, and the SignedData-in-EnvelopedData a client opens with
// its own key and verifies against the CA chain, read back here with OpenSSL's CMS API as a client would.
#include <catch2/catch.hpp>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"
#include "fca/est/codec.hpp"
#include "fca/service/credentials.hpp"

using namespace fca;

namespace {

using CmsPtr = std::unique_ptr<CMS_ContentInfo, OsslDeleter<CMS_ContentInfo_free>>;
using Bytes = std::vector<std::uint8_t>;

PKeyPtr key_of(const char* spec) {
  auto key = generate_key(*KeySpec::parse(spec));
  REQUIRE(key);
  return std::move(*key);
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  REQUIRE(ext);
  REQUIRE(X509_add_ext(cert, ext.get(), -1) == 1);
}

// A certificate for `key` under `issuer` (itself when null); a CA signs with digitalSignature as the
// instance's CAs do.
X509Ptr certificate(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca, bool with_ski = true) {
  static long serial = 1;
  X509Ptr cert(X509_new());
  REQUIRE(X509_set_version(cert.get(), 2) == 1);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  REQUIRE(X509_set_pubkey(cert.get(), key) == 1);
  if (with_ski) add_extension(cert.get(), issuer ? issuer : cert.get(), NID_subject_key_identifier, "hash");
  if (ca) {
    add_extension(cert.get(), issuer ? issuer : cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), issuer ? issuer : cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  }
  EVP_PKEY* signer = issuer_key ? issuer_key : key;
  REQUIRE(X509_sign(cert.get(), signer, EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256()) > 0);
  return cert;
}

Bytes ski_of(X509* cert) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
  REQUIRE(ski);
  return Bytes(ASN1_STRING_get0_data(ski), ASN1_STRING_get0_data(ski) + ASN1_STRING_length(ski));
}

// A signed CSR with `attributes` (OID, ASN.1 type, value), written and parsed back as a server reads it.
X509ReqPtr csr_with(const std::vector<std::tuple<const char*, int, Bytes>>& attributes) {
  auto key = key_of("p256");
  auto csr = service::build_csr(key.get(), "node.example.test", {SubjectAltName{SubjectAltName::Kind::dns, "node.example.test"}});
  REQUIRE(csr);
  for (const auto& [oid, type, value] : attributes) {
    std::unique_ptr<ASN1_OBJECT, OsslDeleter<ASN1_OBJECT_free>> object(OBJ_txt2obj(oid, 1));
    REQUIRE(X509_REQ_add1_attr_by_OBJ(csr->get(), object.get(), type, value.data(), static_cast<int>(value.size())) == 1);
  }
  REQUIRE(X509_REQ_sign(csr->get(), key.get(), EVP_sha256()) > 0);
  auto parsed = parse_csr(to_pem(csr->get()));
  REQUIRE(parsed);
  return std::move(*parsed);
}

// The PKCS#8 PrivateKeyInfo DER of `key`, what the service's key PEM holds.
Bytes pkcs8_of(EVP_PKEY* key) {
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, OsslDeleter<PKCS8_PRIV_KEY_INFO_free>> info(EVP_PKEY2PKCS8(key));
  REQUIRE(info);
  unsigned char* out = nullptr;
  const int length = i2d_PKCS8_PRIV_KEY_INFO(info.get(), &out);
  REQUIRE(length > 0);
  Bytes der(out, out + length);
  OPENSSL_free(out);
  return der;
}

constexpr const char* kAsymm = "1.2.840.113549.1.9.16.2.54";
constexpr const char* kSymm = "1.2.840.113549.1.9.16.2.37";

Bytes tlv(std::uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  if (content.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(content.size()));
  } else {
    Bytes digits;
    for (std::size_t n = content.size(); n > 0; n >>= 8) digits.insert(digits.begin(), static_cast<std::uint8_t>(n & 0xFF));
    out.push_back(static_cast<std::uint8_t>(0x80 | digits.size()));
    out.insert(out.end(), digits.begin(), digits.end());
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

// What a client does: decrypt with its key, wrap the nested SignedData in a ContentInfo, verify it
// against the root, and take the one key out of the AsymmetricKeyPackage.
struct Opened {
  CmsPtr envelope;
  PKeyPtr key;
};
Opened open_package(const Bytes& enveloped, EVP_PKEY* recipient_key, X509* recipient, X509* root) {
  const unsigned char* p = enveloped.data();
  CmsPtr envelope(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(enveloped.size())));
  REQUIRE(envelope);
  REQUIRE(OBJ_obj2nid(CMS_get0_type(envelope.get())) == NID_pkcs7_enveloped);
  CHECK(OBJ_obj2nid(CMS_get0_eContentType(envelope.get())) == NID_pkcs7_signed);
  BioPtr decrypted(BIO_new(BIO_s_mem()));
  REQUIRE(CMS_decrypt(envelope.get(), recipient_key, recipient, nullptr, decrypted.get(), CMS_BINARY) == 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(decrypted.get(), &data);
  const Bytes signed_data(data, data + length);
  REQUIRE(!signed_data.empty());
  CHECK(signed_data[0] == 0x30);  // the SignedData itself, not a ContentInfo around it

  Bytes oid_signed_data{0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02};
  Bytes info = oid_signed_data;
  const Bytes explicit_content = tlv(0xA0, signed_data);
  info.insert(info.end(), explicit_content.begin(), explicit_content.end());
  info = tlv(0x30, info);
  p = info.data();
  CmsPtr signed_cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(info.size())));
  REQUIRE(signed_cms);
  char text[80];
  OBJ_obj2txt(text, sizeof text, CMS_get0_eContentType(signed_cms.get()), 1);
  CHECK(std::string(text) == "2.16.840.1.101.2.1.2.78.5");
  X509StorePtr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), root) == 1);
  BioPtr content(BIO_new(BIO_s_mem()));
  REQUIRE(CMS_verify(signed_cms.get(), nullptr, store.get(), nullptr, content.get(), CMS_BINARY) == 1);
  const long package_length = BIO_get_mem_data(content.get(), &data);
  const Bytes package(data, data + package_length);
  // AsymmetricKeyPackage: SEQUENCE OF exactly one OneAsymmetricKey.
  p = package.data();
  long inner_length = 0;
  int tag = 0, cls = 0;
  REQUIRE((ASN1_get_object(&p, &inner_length, &tag, &cls, static_cast<long>(package.size())) & 0x80) == 0);
  CHECK(tag == V_ASN1_SEQUENCE);
  const unsigned char* end = p + inner_length;
  PKeyPtr key(d2i_AutoPrivateKey(nullptr, &p, inner_length));
  REQUIRE(key);
  CHECK(p == end);
  return {std::move(envelope), std::move(key)};
}

}  // namespace

TEST_CASE("est key package: the CSR's key-encryption attributes", "[est][codec][keygen]") {
  const Bytes id{0x01, 0x02, 0x03, 0x04};
  Bytes octets = tlv(V_ASN1_OCTET_STRING, id);

  auto none = est::key_encryption_request(csr_with({}).get());
  REQUIRE(none);
  CHECK(none->kind == est::KeyEncryptionRequest::Kind::none);

  auto asymmetric = est::key_encryption_request(csr_with({{kAsymm, V_ASN1_OCTET_STRING, id}}).get());
  REQUIRE(asymmetric);
  CHECK(asymmetric->kind == est::KeyEncryptionRequest::Kind::asymmetric);
  CHECK(asymmetric->key_identifier == id);

  auto symmetric = est::key_encryption_request(csr_with({{kSymm, V_ASN1_OCTET_STRING, id}}).get());
  REQUIRE(symmetric);
  CHECK(symmetric->kind == est::KeyEncryptionRequest::Kind::symmetric);
  CHECK(symmetric->key_identifier == id);

  auto both = est::key_encryption_request(csr_with({{kSymm, V_ASN1_OCTET_STRING, id}, {kAsymm, V_ASN1_OCTET_STRING, id}}).get());
  REQUIRE_FALSE(both);
  CHECK(both.error().code == Errc::invalid_input);

  const Bytes text{'a', 'b'};
  auto not_octets = est::key_encryption_request(csr_with({{kAsymm, V_ASN1_UTF8STRING, text}}).get());
  REQUIRE_FALSE(not_octets);
  CHECK(not_octets.error().code == Errc::invalid_input);
  CHECK(not_octets.error().message.find("OCTET STRING") != std::string::npos);

  auto empty = est::key_encryption_request(csr_with({{kAsymm, V_ASN1_OCTET_STRING, {}}}).get());
  CHECK_FALSE(empty);
}

TEST_CASE("est key package: an identifier names a certificate's key by its SKI, or the SHA-1 of its key without one",
          "[est][codec][keygen]") {
  auto key = key_of("p256");
  auto with_ski = certificate("with-ski", key.get(), nullptr, nullptr, false);
  const Bytes ski = ski_of(with_ski.get());
  CHECK(est::identifies_key_of(ski, with_ski.get()));
  Bytes other = ski;
  other.back() ^= 1;
  CHECK_FALSE(est::identifies_key_of(other, with_ski.get()));
  CHECK_FALSE(est::identifies_key_of({}, with_ski.get()));

  auto without_ski = certificate("without-ski", key.get(), nullptr, nullptr, false, false);
  REQUIRE(X509_get0_subject_key_id(without_ski.get()) == nullptr);
  // The same key: OpenSSL's "hash" SKI is method 1, so the same bytes name it.
  CHECK(est::identifies_key_of(ski, without_ski.get()));
  CHECK_FALSE(est::identifies_key_of(other, without_ski.get()));
}

TEST_CASE("est key package: signed by the CA, enveloped to the client's RSA or EC key, opened and verified by the client",
          "[est][codec][keygen]") {
  auto root_key = key_of("p256");
  auto root = certificate("Root", root_key.get(), nullptr, nullptr, true);
  auto issuing_key = key_of("rsa2048");
  auto issuing = certificate("Issuing", issuing_key.get(), root.get(), root_key.get(), true);

  for (const char* client_spec : {"rsa2048", "p256"}) {
    for (const bool client_has_ski : {true, false}) {
      INFO(client_spec << (client_has_ski ? " with SKI" : " without SKI"));
      auto client_key = key_of(client_spec);
      auto client = certificate("device", client_key.get(), root.get(), root_key.get(), false, client_has_ski);
      // The identifier as a client computes it: SHA-1 of its public key, the SKI its certificate carries.
      auto probe = certificate("probe", client_key.get(), nullptr, nullptr, false);
      const Bytes identifier = ski_of(probe.get());
      REQUIRE(est::identifies_key_of(identifier, client.get()));

      auto generated = key_of("p256");
      auto pkcs8 = pkcs8_of(generated.get());

      auto signed_data = est::signed_key_package(pkcs8, issuing.get(), issuing_key.get(), {root.get()});
      REQUIRE(signed_data);
      auto enveloped = est::enveloped_key_package(*signed_data, client.get(), identifier);
      REQUIRE(enveloped);

      auto opened = open_package(*enveloped, client_key.get(), client.get(), root.get());
      CHECK(EVP_PKEY_eq(opened.key.get(), generated.get()) == 1);

      // The recipient as the client named it: by its SKI where its certificate has one.
      STACK_OF(CMS_RecipientInfo)* recipients = CMS_get0_RecipientInfos(opened.envelope.get());
      REQUIRE(sk_CMS_RecipientInfo_num(recipients) == 1);
      CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(recipients, 0);
      if (std::string(client_spec) == "rsa2048") {
        REQUIRE(CMS_RecipientInfo_type(info) == CMS_RECIPINFO_TRANS);
        ASN1_OCTET_STRING* keyid = nullptr;
        X509_NAME* issuer = nullptr;
        ASN1_INTEGER* serial = nullptr;
        REQUIRE(CMS_RecipientInfo_ktri_get0_signer_id(info, &keyid, &issuer, &serial) == 1);
        if (client_has_ski) {
          REQUIRE(keyid);
          CHECK(Bytes(ASN1_STRING_get0_data(keyid), ASN1_STRING_get0_data(keyid) + ASN1_STRING_length(keyid)) == identifier);
        } else {
          CHECK(keyid == nullptr);
          CHECK(X509_NAME_cmp(issuer, X509_get_subject_name(root.get())) == 0);
        }
        X509_ALGOR* algorithm = nullptr;
        REQUIRE(CMS_RecipientInfo_ktri_get0_algs(info, nullptr, nullptr, &algorithm) == 1);
        CHECK(OBJ_obj2nid(algorithm->algorithm) == NID_rsaesOaep);
      } else {
        CHECK(CMS_RecipientInfo_type(info) == CMS_RECIPINFO_AGREE);
      }

      // Anyone else's key opens nothing.
      auto stranger_key = key_of(client_spec);
      auto stranger = certificate("device", stranger_key.get(), root.get(), root_key.get(), false, client_has_ski);
      const unsigned char* p = enveloped->data();
      CmsPtr again(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(enveloped->size())));
      REQUIRE(again);
      BioPtr sink(BIO_new(BIO_s_mem()));
      CHECK(CMS_decrypt(again.get(), stranger_key.get(), stranger.get(), nullptr, sink.get(), CMS_BINARY) != 1);
      ERR_clear_error();
    }
  }
}

TEST_CASE("est key package: a signature that does not chain to the client's root is refused by the client",
          "[est][codec][keygen]") {
  auto root_key = key_of("p256");
  auto root = certificate("Root", root_key.get(), nullptr, nullptr, true);
  auto other_key = key_of("p256");
  auto other_root = certificate("Other Root", other_key.get(), nullptr, nullptr, true);
  auto client_key = key_of("p256");
  auto client = certificate("device", client_key.get(), root.get(), root_key.get(), false);
  auto generated = key_of("p256");
  auto pkcs8 = pkcs8_of(generated.get());
  // Signed by a CA under another root.
  auto signed_data = est::signed_key_package(pkcs8, other_root.get(), other_key.get(), {});
  REQUIRE(signed_data);
  auto enveloped = est::enveloped_key_package(*signed_data, client.get(), ski_of(client.get()));
  REQUIRE(enveloped);
  const unsigned char* p = enveloped->data();
  CmsPtr envelope(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(enveloped->size())));
  REQUIRE(envelope);
  BioPtr decrypted(BIO_new(BIO_s_mem()));
  REQUIRE(CMS_decrypt(envelope.get(), client_key.get(), client.get(), nullptr, decrypted.get(), CMS_BINARY) == 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(decrypted.get(), &data);
  Bytes info{0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02};
  const Bytes explicit_content = tlv(0xA0, Bytes(data, data + length));
  info.insert(info.end(), explicit_content.begin(), explicit_content.end());
  info = tlv(0x30, info);
  p = info.data();
  CmsPtr signed_cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(info.size())));
  REQUIRE(signed_cms);
  X509StorePtr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), root.get()) == 1);
  BioPtr content(BIO_new(BIO_s_mem()));
  CHECK(CMS_verify(signed_cms.get(), nullptr, store.get(), nullptr, content.get(), CMS_BINARY) != 1);
  ERR_clear_error();
}

TEST_CASE("est key package: no envelope to a key that cannot be encrypted to", "[est][codec][keygen]") {
  auto ed_key = key_of("ed25519");
  auto ed = certificate("ed-device", ed_key.get(), nullptr, nullptr, false);
  CHECK_FALSE(est::can_envelope_to(ed_key.get()));
  CHECK(est::can_envelope_to(key_of("p256").get()));
  CHECK(est::can_envelope_to(key_of("rsa2048").get()));
  const Bytes content{0x30, 0x00};
  auto refused = est::enveloped_key_package(content, ed.get(), ski_of(ed.get()));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_input);
}
