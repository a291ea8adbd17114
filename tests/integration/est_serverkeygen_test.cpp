// EST serverkeygen with the key encrypted to the client (RFC 7030 §4.4.1.2, §4.4.2) against a real
// `facility-ca serve` made by `init --lab`: the client names its TLS client certificate's key in the
// CSR's AsymmetricDecryptKeyIdentifier, then opens the answer with `openssl cms` alone, as docs/est.md
// shows. openssl's CLI cannot put an OCTET STRING attribute into a CSR, so the test builds that CSR
// with OpenSSL's API, as a client's library would.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est_client.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/ossl.hpp"

using namespace fca::test;

namespace {

constexpr const char* kAsymmetricDecryptKeyId = "1.2.840.113549.1.9.16.2.54";
constexpr const char* kDecryptKeyId = "1.2.840.113549.1.9.16.2.37";

// The subject key identifier of a certificate as a client reads it: `openssl x509 -ext`.
std::vector<std::uint8_t> subject_key_identifier(const std::filesystem::path& cert) {
  auto printed = run("openssl x509 -noout -ext subjectKeyIdentifier -in " + shell_quote(cert.string()));
  REQUIRE(printed.exit_code == 0);
  const auto colon = printed.output.find(':');
  REQUIRE(colon != std::string::npos);
  std::string hex;
  for (const char c : printed.output.substr(colon + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += c;
  }
  REQUIRE(hex.size() >= 2);
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// A P-256 CSR for `cn` (also its DNS SAN) carrying `attribute` = OCTET STRING `value`, as PEM in `out`.
void write_csr(const std::filesystem::path& out, const std::string& cn, const char* attribute,
               const std::vector<std::uint8_t>& value) {
  auto key = fca::generate_key(*fca::KeySpec::parse("p256"));
  REQUIRE(key);
  fca::X509ReqPtr csr(X509_REQ_new());
  REQUIRE(csr);
  REQUIRE(X509_REQ_set_version(csr.get(), 0) == 1);
  REQUIRE(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr.get()), "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1);
  REQUIRE(X509_REQ_set_pubkey(csr.get(), key->get()) == 1);
  fca::X509ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
  const std::string san = "DNS:" + cn;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  REQUIRE(ext);
  sk_X509_EXTENSION_push(extensions.get(), ext);
  REQUIRE(X509_REQ_add_extensions(csr.get(), extensions.get()) == 1);
  if (attribute) {
    REQUIRE(X509_REQ_add1_attr_by_txt(csr.get(), attribute, V_ASN1_OCTET_STRING, value.data(),
                                      static_cast<int>(value.size())) == 1);
  }
  REQUIRE(X509_REQ_sign(csr.get(), key->get(), EVP_sha256()) > 0);
  fca::BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509_REQ(bio.get(), csr.get()) == 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  write_file(out, std::string(data, static_cast<std::size_t>(length)));
}

// docs/est.md, "The key encrypted to the device": open the key part with the device's key, verify the
// signature against the root, take the PKCS#8 key out of the AsymmetricKeyPackage.
const char* kOpenKeyPart = R"sh(set -e
der_header() { tag=$1; n=$2
  if [ "$n" -lt 128 ]; then set -- "$tag" "$n"
  elif [ "$n" -lt 256 ]; then set -- "$tag" 129 "$n"
  elif [ "$n" -lt 65536 ]; then set -- "$tag" 130 $((n / 256)) $((n % 256))
  else set -- "$tag" 131 $((n / 65536)) $((n / 256 % 256)) $((n % 256)); fi
  for b in "$@"; do printf "\\$(printf %03o "$b")"; done; }
openssl base64 -d -in part1 -out key.p7
openssl cms -decrypt -inform DER -in key.p7 -recip "$DEVICE_CERT" -inkey "$DEVICE_KEY" -binary -out signed.der
{ der_header 160 "$(wc -c < signed.der)"; cat signed.der; } > explicit.der
{ der_header 48 $((11 + $(wc -c < explicit.der))); printf '\006\011\052\206\110\206\367\015\001\007\002'; cat explicit.der; } > signed.p7
openssl cms -verify -inform DER -in signed.p7 -CAfile "$ROOT" -binary -out package.der
offset=$(openssl asn1parse -inform DER -in package.der | awk -F: '/d=1/ {print $1 + 0; exit}')
tail -c +$((offset + 1)) package.der | openssl pkey -inform DER -out node.key.pem
)sh";

}  // namespace

TEST_CASE("EST: serverkeygen encrypts the key to the TLS client certificate's key the CSR names (RFC 7030 §4.4.2)",
          "[serve][est]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device_cert = lab(server, "device.crt.pem");
  const auto device_key = lab(server, "device.key.pem");
  const auto device = EstClient::identity(device_cert, device_key);

  const auto csr = server.file("node3.csr");
  write_csr(csr, "node3.localhost", kAsymmetricDecryptKeyId, subject_key_identifier(device_cert));
  const auto rows_before = certificate_rows(server);
  auto answer = est.post(device, "serverkeygen", csr);
  INFO(answer.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(answer.status == 200);
  CHECK(certificate_rows(server) == rows_before + 1);
  const auto type = std::string(answer.header("Content-Type"));
  REQUIRE(type.starts_with("multipart/mixed; boundary="));
  const std::string boundary = type.substr(type.find('=') + 1);
  const auto parts = server.file("encrypted-parts");
  std::filesystem::create_directories(parts);
  REQUIRE(run("cd " + shell_quote(parts.string()) + " && tr -d '\\r' < " + shell_quote(answer.body_file.string()) +
              " | awk -v b=" + shell_quote("--" + boundary) +
              " '$0==b || $0==b\"--\" {n++; body=0; next} body {print > (\"part\" n)} /^$/ {body=1} "
              "/^Content/ {print > (\"headers\" n)}'")
              .exit_code == 0);
  const auto key_headers = read_file(parts / "headers1");
  CHECK(contains(key_headers, "Content-Type: application/pkcs7-mime; smime-type=server-generated-key\n"));
  CHECK(contains(key_headers, "Content-Transfer-Encoding: base64\n"));
  CHECK(contains(read_file(parts / "headers2"), "Content-Type: application/pkcs7-mime; smime-type=certs-only\n"));
  // No plaintext key anywhere in the answer: the key part is not PKCS#8.
  CHECK(run("openssl base64 -d -in " + shell_quote((parts / "part1").string()) + " | openssl pkey -inform DER -noout 2>&1")
            .exit_code != 0);

  const std::string environment = "DEVICE_CERT=" + shell_quote(device_cert.string()) + " DEVICE_KEY=" +
                                  shell_quote(device_key.string()) + " ROOT=" + shell_quote(server.pki().root_pem().string());
  auto opened = run("cd " + shell_quote(parts.string()) + " && " + environment + " sh -c " + shell_quote(kOpenKeyPart) + " 2>&1");
  INFO(opened.output);
  REQUIRE(opened.exit_code == 0);
  // What the decryption gave is a SignedData of the key package type, signed by the issuing CA.
  auto printed = run("cd " + shell_quote(parts.string()) + " && openssl cms -cmsout -print -inform DER -in signed.p7 2>&1");
  INFO(printed.output);
  CHECK(contains(printed.output, "eContentType: undefined (2.16.840.1.101.2.1.2.78.5)"));
  CHECK(contains(run("cd " + shell_quote(parts.string()) + " && openssl cms -verify -inform DER -in signed.p7 -noout -CAfile " +
                     shell_quote(server.pki().root_pem().string()) + " -signer signer.pem 2>&1 && openssl x509 -noout -subject -in signer.pem")
                     .output,
                 "Issuing"));
  // A client that trusts another root refuses the signature.
  CHECK(run("cd " + shell_quote(parts.string()) + " && openssl cms -verify -inform DER -in signed.p7 -noout -CAfile " +
            shell_quote(lab(server, "manufacturer-root.pem").string()) + " 2>&1")
            .exit_code != 0);
  // Another key cannot open it.
  const auto stranger_key = server.file("stranger.key");
  REQUIRE(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + shell_quote(stranger_key.string())).exit_code == 0);
  CHECK(run("cd " + shell_quote(parts.string()) + " && openssl cms -decrypt -inform DER -in key.p7 -inkey " +
            shell_quote(stranger_key.string()) + " -binary -out /dev/null 2>&1")
            .exit_code != 0);

  const auto cert_file = server.file("node3.pem");
  REQUIRE(run("openssl base64 -d -in " + shell_quote((parts / "part2").string()) +
              " | openssl pkcs7 -inform DER -print_certs -out " + shell_quote(cert_file.string()))
              .exit_code == 0);
  est.check_issued(cert_file);
  // The key the client opened is the issued certificate's.
  const auto key_file = parts / "node.key.pem";
  const auto key_public = run("openssl pkey -pubout -in " + shell_quote(key_file.string()));
  REQUIRE(key_public.exit_code == 0);
  CHECK(key_public.output == run("openssl x509 -pubkey -noout -in " + shell_quote(cert_file.string())).output);

  // The audit entry says how the key went out.
  auto decisions = audit_entries(server, "est.serverkeygen");
  REQUIRE_FALSE(decisions.empty());
  const auto& detail = decisions.back()["detail"];
  CHECK(detail["result"] == "issued");
  CHECK(detail["key_encryption"] == "asymmetric");
}

TEST_CASE("EST: serverkeygen refuses a key it cannot encrypt to, before anything is issued", "[serve][est]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device_cert = lab(server, "device.crt.pem");
  const auto device = EstClient::identity(device_cert, lab(server, "device.key.pem"));
  auto other_key = subject_key_identifier(device_cert);
  other_key.back() ^= 0x01;

  struct Case {
    const char* what;
    const char* attribute;
    std::vector<std::uint8_t> value;
    const char* logged;
  };
  const std::vector<Case> cases = {
      {"an identifier that names another key", kAsymmetricDecryptKeyId, other_key,
       "400 the CSR's AsymmetricDecryptKeyIdentifier (" },
      {"a symmetric key-encryption key", kDecryptKeyId, subject_key_identifier(device_cert),
       "400 the CSR asks for the key encrypted under a pre-shared symmetric key"},
  };
  const auto before = certificate_rows(server);
  for (const auto& c : cases) {
    const auto csr = server.file(std::string("refused-") + (c.attribute == kDecryptKeyId ? "symmetric" : "other") + ".csr");
    write_csr(csr, "node4.localhost", c.attribute, c.value);
    auto answer = est.post(device, "serverkeygen", csr);
    INFO(c.what << ": " << answer.describe() << "\nserver stderr:\n" << server.log());
    CHECK(answer.status == 400);
    CHECK(answer.header("Content-Type").starts_with("text/plain"));
    CHECK_FALSE(contains(answer.body, "MII"));  // no key, no certificate
    CHECK(contains(server.log(), c.logged));
  }
  CHECK(contains(server.log(), "names a key this server does not have"));
  CHECK(contains(server.log(), "this server holds no such key"));
  CHECK(certificate_rows(server) == before);
  // Both refusals are audited as such.
  auto decisions = audit_entries(server, "est.serverkeygen");
  REQUIRE(decisions.size() >= 2);
  for (std::size_t i = decisions.size() - 2; i < decisions.size(); ++i) {
    const auto& detail = decisions[i]["detail"];
    CHECK(detail["result"] == "refused");
    CHECK(detail["status"] == 400);
  }
}
