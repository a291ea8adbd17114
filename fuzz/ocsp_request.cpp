// A DER OCSPRequest into OcspService::respond, against a real instance (SQLite database, file key
// store, a root and an issuing CA, one issued certificate) made once per process in a temporary
// directory. The seeds cannot know this run's CA, so every input that parses is also answered a
// second time with its issuer hashes replaced by the issuing CA's: that reaches the lookup, cache and
// signing paths, while the raw input exercises the parser and the request checks.
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>

#include "fca/core/authority.hpp"
#include "fca/core/key_store.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"
#include "fca/db/database.hpp"

namespace {

using namespace fca;

struct Instance {
  std::filesystem::path dir;
  std::unique_ptr<db::Database> database;
  KeyStoreRouter key_store;
  std::unique_ptr<SigningKeys> keys;
  ManualClock clock{std::chrono::system_clock::now()};
  std::unique_ptr<CertificateAuthority> authority;
  std::unique_ptr<OcspService> ocsp;
  X509Ptr issuing;

  Instance() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fca-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) std::abort();
    dir = pattern;
    database = std::move(*db::Database::open(dir / "ca.db"));
    key_store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{dir / "keys", "fuzz passphrase", false}), true);
    keys = std::make_unique<SigningKeys>(key_store);
    CaSettings settings;
    settings.urls.base = "http://127.0.0.1:8080";
    authority = std::make_unique<CertificateAuthority>(*database, *database, *keys, clock, settings);
    if (!authority->create_ca({"root", "Fuzz Root", *KeySpec::parse("p256"), 3650, std::nullopt, std::nullopt, false, "fuzz"}) ||
        !authority->create_ca({"issuing", "Fuzz Issuing", *KeySpec::parse("p256"), 3650, "root", 0, true, "fuzz"})) {
      std::abort();
    }
    issuing = std::move(*parse_certificate(database->find_ca("issuing")->certificate_pem));
    ocsp = std::make_unique<OcspService>(*database, *database, *database, *authority, *keys, clock, OcspSettings{});
    if (!ocsp->ensure_signers()) std::abort();
  }
  ~Instance() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Instance& instance() {
  static Instance one;
  return one;
}


// The request with every CertID naming the issuing CA (in the CertID's own hash algorithm).
std::vector<std::uint8_t> aimed_at_issuing(std::span<const std::uint8_t> der, const X509* issuing) {
  const unsigned char* p = der.data();
  OcspRequestPtr request(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  if (!request) return {};
  for (int i = 0; i < OCSP_request_onereq_count(request.get()); ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(request.get(), i));
    ASN1_OCTET_STRING *name_hash = nullptr, *key_hash = nullptr;
    ASN1_OBJECT* md = nullptr;
    OCSP_id_get0_info(&name_hash, &md, &key_hash, nullptr, id);
    const EVP_MD* digest = md ? EVP_get_digestbyobj(md) : nullptr;
    if (!digest) continue;
    OcspCertIdPtr real(OCSP_cert_to_id(digest, nullptr, issuing));
    if (!real) continue;
    ASN1_OCTET_STRING *real_name = nullptr, *real_key = nullptr;
    OCSP_id_get0_info(&real_name, nullptr, &real_key, nullptr, real.get());
    ASN1_OCTET_STRING_set(name_hash, ASN1_STRING_get0_data(real_name), ASN1_STRING_length(real_name));
    ASN1_OCTET_STRING_set(key_hash, ASN1_STRING_get0_data(real_key), ASN1_STRING_length(real_key));
  }
  return der_encode(request.get(), i2d_OCSP_REQUEST);
}

void expect_complete_response(const OcspAnswer& answer) {
  // Whatever the request, the answer is a complete OCSPResponse.
  const unsigned char* p = answer.der.data();
  std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE_free>> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
  if (!response) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& ca = instance();
  const std::span<const std::uint8_t> input(data, size);
  expect_complete_response(ca.ocsp->respond(input));
  const auto aimed = aimed_at_issuing(input, ca.issuing.get());
  if (!aimed.empty()) expect_complete_response(ca.ocsp->respond(aimed));
  ERR_clear_error();
  return 0;
}
