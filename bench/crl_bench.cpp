// CRL building at scale (STANDARDS: one CA took seconds per revocation at 17k entries; CRL building
// must scale to 10^6). Builds and signs CRLs of growing size from synthetic entries and prints the
// time per entry as a ratio against the smallest size, measured in the same run.
//   usage: crl_bench [max_entries]   (default 1000000)
//
// With --delta N: a real database (a temporary directory) with N revoked certificates and a full CRL
// of them, then one revocation through CertificateAuthority::revoke with the revocation hook every
// process wires (the delta CRL only). Prints the revocation call's time, the delta CRL's time inside
// it, and checks the delta: one entry (the certificate revoked), deltaCRLIndicator = the base's number.
//   usage: crl_bench --delta [revoked_entries]   (default 100000)
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "fca/core/authority.hpp"
#include "fca/core/crl.hpp"
#include "fca/core/key_store.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"
#include "fca/db/database.hpp"

using namespace fca;

namespace {

X509Ptr self_signed(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Bench CA"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ski = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_key_identifier, "hash");
  X509_add_ext(cert.get(), ski, -1);
  X509_EXTENSION_free(ski);
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

std::vector<RevokedEntry> entries(std::size_t count, std::mt19937_64& rng) {
  std::vector<RevokedEntry> out(count);
  const auto now = std::chrono::system_clock::now();
  for (auto& entry : out) {
    std::uint8_t bytes[20];
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    bytes[0] = static_cast<std::uint8_t>((bytes[0] & 0x7F) | 0x40);
    entry.serial = hex_upper(bytes);
    entry.revoked_at = now - std::chrono::seconds(rng() % 1000000);
    entry.reason = (rng() % 2) ? RevocationReason::key_compromise : RevocationReason::unspecified;
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Copies of the root's one certificate row (the issuing CA's) under fresh serials, as `status`: the
// shape of real rows without issuing each one.
bool seed(const std::filesystem::path& file, std::int64_t first, std::int64_t count, const char* status) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) return false;
  sqlite3_busy_timeout(db, 10000);
  const std::string sql =
      "WITH RECURSIVE n(i) AS (SELECT " + std::to_string(first) + " UNION ALL SELECT i + 1 FROM n WHERE i < " +
      std::to_string(first + count - 1) +
      ") INSERT INTO certificates (issuer_id, serial, subject, common_name, sans, profile, key_type, not_before, "
      "not_after, status, revoked_at, revocation_reason, der, fingerprint_sha256, requester, issued_at) "
      "SELECT c.issuer_id, printf('4%039X', n.i), c.subject, c.common_name, c.sans, c.profile, c.key_type, c.not_before, "
      "c.not_after, '" + std::string(status) + "', CASE WHEN '" + status + "' = 'valid' THEN NULL ELSE c.issued_at END, "
      "CASE WHEN '" + status + "' = 'valid' THEN NULL ELSE 1 END, c.der, printf('%064X', n.i), c.requester, c.issued_at "
      "FROM n, (SELECT * FROM certificates ORDER BY id LIMIT 1) AS c";
  char* error = nullptr;
  const bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK;
  if (!ok) std::fprintf(stderr, "seeding: %s\n", error ? error : "?");
  sqlite3_free(error);
  sqlite3_close(db);
  return ok;
}

int delta_bench(std::int64_t revoked) {
  char pattern[] = "/tmp/crl-bench-XXXXXX";
  if (!mkdtemp(pattern)) return 1;
  const std::filesystem::path dir(pattern);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};

  auto opened = db::Database::open(dir / "ca.db");
  if (!opened) return std::fprintf(stderr, "%s\n", opened.error().message.c_str()), 1;
  auto& database = **opened;
  KeyStoreRouter store;
  store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{dir / "keys", "bench passphrase", false}), true);
  SigningKeys keys(store);
  SystemClock clock;
  CaSettings settings;
  settings.urls.base = "http://127.0.0.1:8080";
  CertificateAuthority authority(database, database, keys, clock, settings);
  if (!authority.create_ca({"root", "Bench Root CA", *KeySpec::parse("p256"), 3650, std::nullopt, std::nullopt, false, "bench"}) ||
      !authority.create_ca({"issuing", "Bench Issuing CA", *KeySpec::parse("p256"), 3000, "root", 0, true, "bench"})) {
    return std::fprintf(stderr, "cannot make the CAs\n"), 1;
  }
  auto seeding = std::chrono::steady_clock::now();
  if (!seed(dir / "ca.db", 1, revoked, "revoked") || !seed(dir / "ca.db", revoked + 1, 1, "valid")) return 1;
  const double seed_ms = ms_since(seeding);
  auto root = database.find_ca("root");
  if (!root) return 1;

  CrlService crls(database, database, keys, clock, CrlSettings{}, settings.urls);
  auto full_start = std::chrono::steady_clock::now();
  auto base = crls.regenerate(*root, "bench");
  const double full_ms = ms_since(full_start);
  if (!base) return std::fprintf(stderr, "full CRL: %s\n", base.error().message.c_str()), 1;

  double delta_ms = 0;
  std::optional<CrlRecord> delta;
  authority.on_status_changed([&](const CaRecord& ca, const CertificateRecord&) {
    auto start = std::chrono::steady_clock::now();
    auto made = crls.regenerate_delta(ca, "bench");
    delta_ms = ms_since(start);
    if (made) delta = *made;
  });
  char target[64];
  std::snprintf(target, sizeof target, "4%039llX", static_cast<unsigned long long>(revoked + 1));
  auto revoke_start = std::chrono::steady_clock::now();
  auto done = authority.revoke({target, std::string("root"), RevocationReason::key_compromise, std::nullopt, "bench"});
  const double revoke_ms = ms_since(revoke_start);
  if (!done) return std::fprintf(stderr, "revoke: %s\n", done.error().message.c_str()), 1;

  // The delta's content, read back from its DER.
  bool content_ok = false;
  long long indicator = -1;
  int count = -1;
  if (delta) {
    const unsigned char* p = delta->der.data();
    X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(delta->der.size())));
    if (parsed) {
      int critical = 0;
      if (auto* base_number = static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(parsed.get(), NID_delta_crl, &critical, nullptr))) {
        std::int64_t value = 0;
        ASN1_INTEGER_get_int64(&value, base_number);
        indicator = critical == 1 ? value : -1;
        ASN1_INTEGER_free(base_number);
      }
      const auto* list = X509_CRL_get_REVOKED(parsed.get());
      count = sk_X509_REVOKED_num(list);
      content_ok = count == 1 && indicator == base->number &&
                   serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(list, 0))) == target;
    }
  }
  std::printf("%-34s %12lld\n", "revoked_entries", static_cast<long long>(revoked));
  std::printf("%-34s %12.1f\n", "seed_ms", seed_ms);
  std::printf("%-34s %12.1f  (%lld entries, %zu bytes)\n", "full_crl_from_database_ms", full_ms,
              static_cast<long long>(base->entries), base->der.size());
  std::printf("%-34s %12.1f\n", "revocation_call_ms", revoke_ms);
  std::printf("%-34s %12.1f\n", "delta_after_one_revocation_ms", delta_ms);
  std::printf("%-34s %12s  (entries %d, deltaCRLIndicator %lld, base %lld)\n", "delta_content",
              content_ok ? "ok" : "WRONG", count, indicator, static_cast<long long>(base->number));
  return content_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--delta") == 0) {
    return delta_bench(argc > 2 ? std::strtoll(argv[2], nullptr, 10) : 100000);
  }
  const std::size_t max_entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  auto key = generate_key(*KeySpec::parse("p256"));
  if (!key) return 1;
  auto ca = self_signed(key->get());
  SigningKey signer(share(key->get()));
  std::mt19937_64 rng(42);

  std::printf("%12s %12s %14s %14s %10s\n", "entries", "build_ms", "us_per_entry", "der_bytes", "ratio");
  double baseline = 0;
  for (std::size_t n = 1000; n <= max_entries; n *= 10) {
    auto list = entries(n, rng);
    const auto start = std::chrono::steady_clock::now();
    auto crl = build_crl(ca.get(), signer, list, 1, std::chrono::system_clock::now(),
                         std::chrono::system_clock::now() + std::chrono::hours(24),
                         CrlScope{"http://127.0.0.1/crl/bench.crl", "http://127.0.0.1/crl/bench-delta.crl", std::nullopt});
    const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!crl) {
      std::fprintf(stderr, "build failed: %s\n", crl.error().message.c_str());
      return 1;
    }
    const double per_entry = elapsed * 1000.0 / static_cast<double>(n);
    if (baseline == 0) baseline = per_entry;
    std::printf("%12zu %12.1f %14.3f %14zu %10.2f\n", n, elapsed, per_entry, to_der(crl->get()).size(), per_entry / baseline);
  }
  std::printf("ratio: time per entry relative to the 1000-entry CRL (1.00 = linear scaling)\n");
  return 0;
}
