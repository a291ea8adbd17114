// CRL building at scale (STANDARDS: one CA took seconds per revocation at 17k entries; CRL building
// must scale to 10^6). Builds and signs CRLs of growing size from synthetic entries and prints the
// time per entry as a ratio against the smallest size, measured in the same run.
//   usage: crl_bench [max_entries]   (default 1000000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "fca/core/crl.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"

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

}  // namespace

int main(int argc, char** argv) {
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
