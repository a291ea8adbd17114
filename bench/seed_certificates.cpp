// A benchmark fixture: fills a throw-away instance's database with COUNT genuinely signed leaf
// certificates of its default (issuing) CA, revokes every REVOKE_EVERY-th of them, and makes its CRL
// current, so `serve` can be measured at scale (bench/run.sh, the 10^6 rows). Not a way to issue.
//
//   seed_certificates seed DIR COUNT REVOKE_EVERY SAMPLES OUT_DIR
//   seed_certificates crl DIR      rebuilds the default CA's full CRL (CrlService::regenerate), timed
//
// How it differs from issuance (CertificateAuthority::issue), and why:
// - One certificate is issued for real (profile nmos-node, a P-256 CSR): it is the template. Every
//   other one is that certificate with its own random serial (20 octets from the CSPRNG, as
//   random_serial draws them), CN and DNS SAN (node-N.seed.example.test) and validity window (notBefore
//   spread over the last 30 days, the template's lifetime), re-signed by the CA's key through
//   SigningKey::sign. All share the template's subject key (no key generation), so the extensions
//   (SKI, AKI, AIA, CDP, EKU, key usage) are the template's, which is right for the same key and CA.
// - No CSR is parsed, no policy decision made and no lint run per certificate.
// - The rows are written through Database::seed_certificates: the columns insert_certificate
//   writes (DER, SHA-256 fingerprint, SANs JSON, ...) but many per transaction and with ONE audit
//   entry per transaction ("certificate.seed", the count and first serial), not one per
//   certificate. Revocations go through Database::seed_status_changes: change_status's UPDATE per
//   certificate (the CRL revision triggers fire), one audit entry per transaction, no CRL rebuilt
//   and no OCSP cache touched per revocation; the CRL is rebuilt once at the end.
// Two threads build and sign; the main thread writes.
//
// OUT_DIR gets samples.txt (SAMPLES random seeded certificates, one line each: "good" or "revoked",
// the serial in hex, the RFC 5019 GET path of a nonce-less SHA-1 request for it) and spare.txt
// (serials of valid seeded certificates not among the samples, for revocations during the bench).
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "fca/core/x509.hpp"
#include "fca/service/credentials.hpp"
#include "instance.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kSigners = 2;
constexpr std::size_t kChunk = 2000;         // records a signer hands over at once
constexpr std::size_t kTransaction = 50000;  // rows per write transaction
constexpr std::size_t kSpares = 50;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

int failed(const std::string& what) {
  std::fprintf(stderr, "seed_certificates: %s\n", what.c_str());
  return 1;
}

struct Chunk {
  std::size_t first = 0;  // index of records[0]
  std::vector<fca::CertificateRecord> records;
};

// Signers push, the writer pops; bounded so signing never runs far ahead of the disk.
class ChunkQueue {
 public:
  void push(Chunk chunk) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return chunks_.size() < 8; });
    chunks_.push_back(std::move(chunk));
    ready_.notify_one();
  }
  std::optional<Chunk> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !chunks_.empty() || producers_ == 0; });
    if (chunks_.empty()) return std::nullopt;
    Chunk chunk = std::move(chunks_.front());
    chunks_.pop_front();
    room_.notify_one();
    return chunk;
  }
  void producer_done() {
    std::lock_guard lock(mutex_);
    --producers_;
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<Chunk> chunks_;
  int producers_ = kSigners;
};

std::string sha256_hex(const std::vector<std::uint8_t>& der) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha256(), nullptr);
  return fca::hex_upper(std::span<const std::uint8_t>(digest, length));
}

std::string name_of(std::size_t index) { return "node-" + std::to_string(index) + ".seed.example.test"; }

// The template with certificate `index`'s serial, names and validity, signed; its row.
fca::Result<fca::CertificateRecord> make_certificate(X509* cert, std::size_t index, const fca::CertificateRecord& like,
                                                     fca::SigningKey& key, std::time_t now,
                                                     std::chrono::seconds lifetime) {
  auto serial = fca::random_serial();
  if (!serial) return std::unexpected(serial.error());
  X509_set_serialNumber(cert, serial->get());

  const std::string name = name_of(index);
  fca::X509NamePtr subject(X509_NAME_new());
  X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.data()), static_cast<int>(name.size()), -1, 0);
  X509_set_subject_name(cert, subject.get());

  GENERAL_NAMES* names = GENERAL_NAMES_new();
  GENERAL_NAME* dns = GENERAL_NAME_new();
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  ASN1_STRING_set(text, name.data(), static_cast<int>(name.size()));
  GENERAL_NAME_set0_value(dns, GEN_DNS, text);
  sk_GENERAL_NAME_push(names, dns);
  const int at = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  X509_EXTENSION* old = at >= 0 ? X509_delete_ext(cert, at) : nullptr;
  const int critical = old != nullptr && X509_EXTENSION_get_critical(old);
  X509_EXTENSION_free(old);
  X509_EXTENSION* extension = X509V3_EXT_i2d(NID_subject_alt_name, critical, names);
  GENERAL_NAMES_free(names);
  if (extension == nullptr || X509_add_ext(cert, extension, at) != 1) {
    X509_EXTENSION_free(extension);
    return fca::fail(fca::Errc::internal, "cannot set the subjectAltName");
  }
  X509_EXTENSION_free(extension);

  // notBefore spread over the last 30 days, a few minutes back at the newest (clock skew).
  const std::time_t not_before = now - 300 - static_cast<std::time_t>((index * 2593) % (30 * 86400));
  ASN1_TIME_set(X509_getm_notBefore(cert), not_before);
  ASN1_TIME_set(X509_getm_notAfter(cert), not_before + lifetime.count());
  if (auto signed_ = key.sign(cert); !signed_) return std::unexpected(signed_.error());

  fca::CertificateRecord record;
  record.issuer_id = like.issuer_id;
  record.serial = fca::serial_hex(cert);
  record.subject = fca::name_to_string(X509_get_subject_name(cert));
  record.common_name = name;
  record.sans = {"DNS:" + name};
  record.profile = like.profile;
  record.key_type = like.key_type;
  record.not_before = fca::not_before(cert);
  record.not_after = fca::not_after(cert);
  record.der = fca::to_der(cert);
  record.fingerprint_sha256 = sha256_hex(record.der);
  record.requester = "bench:seed";
  record.issued_at = fca::from_unix(now);
  return record;
}

std::string get_path(const X509* issuer, const std::string& serial_hex) {
  BIGNUM* number = nullptr;
  BN_hex2bn(&number, serial_hex.c_str());
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(number, nullptr);
  BN_free(number);
  OCSP_CERTID* id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer), serial);
  ASN1_INTEGER_free(serial);
  OCSP_REQUEST* request = OCSP_REQUEST_new();
  OCSP_request_add0_id(request, id);
  unsigned char* der = nullptr;
  const int length = i2d_OCSP_REQUEST(request, &der);
  OCSP_REQUEST_free(request);
  std::string base64(4 * ((length + 2) / 3) + 1, '\0');
  base64.resize(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), der, length));
  OPENSSL_free(der);
  std::string path = "/ocsp/";
  for (char c : base64) {
    if (c == '/') path += "%2F";
    else if (c == '+') path += "%2B";
    else if (c == '=') path += "%3D";
    else path += c;
  }
  return path;
}

fca::Result<std::unique_ptr<fca::app::Instance>> open_instance(const std::filesystem::path& directory) {
  auto config = fca::app::load_config(directory / "config.json");
  if (!config) return fca::fail(fca::Errc::invalid_input, config.error().message);
  auto logger = std::make_shared<spdlog::logger>("seed", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::warn);
  return fca::app::Instance::open(directory, std::move(*config), logger);
}

// The default CA's full CRL rebuilt from the database, as a revocation does it today.
int build_crl(fca::app::Instance& instance, const char* label) {
  auto ca = instance.authority().find_ca(std::nullopt);
  if (!ca) return failed(ca.error().message);
  const auto start = Clock::now();
  auto crl = instance.crls().regenerate(*ca, "bench:seed");
  const double elapsed = seconds_since(start);
  if (!crl) return failed("CRL: " + crl.error().message);
  std::printf("%s: CRL of CA '%s' built and stored in %.0f ms: %lld entries, number %lld, %zu bytes\n", label,
              ca->name.c_str(), elapsed * 1000, static_cast<long long>(crl->entries), static_cast<long long>(crl->number),
              crl->der.size());
  return 0;
}

int seed(fca::app::Instance& instance, std::size_t count, std::size_t revoke_every, std::size_t samples,
         const std::filesystem::path& out) {
  auto& database = instance.database();
  auto key = fca::generate_key(*fca::KeySpec::parse("p256"));
  if (!key) return failed(key.error().message);
  auto csr = fca::service::build_csr(key->get(), "seed-template.seed.example.test",
                                     {fca::SubjectAltName{fca::SubjectAltName::Kind::dns, "seed-template.seed.example.test"}});
  if (!csr) return failed(csr.error().message);
  auto issued = instance.authority().issue(fca::IssueRequest{
      .csr = fca::to_pem(csr->get()), .profile = "nmos-node", .requester = "bench:seed", .ca = {}, .validity_days = {}});
  if (!issued) return failed("template: " + issued.error().message);
  const auto& like = issued->record;
  auto ca = database.find_ca(like.issuer_id);
  if (!ca) return failed(ca.error().message);
  auto ca_key = instance.signing_keys().get(ca->key_uri);
  if (!ca_key) return failed(ca_key.error().message);
  auto issuer = fca::parse_certificate(ca->certificate_pem);
  if (!issuer) return failed(issuer.error().message);
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(like.not_after - like.not_before);
  const std::time_t now = std::time(nullptr);

  const auto start = Clock::now();
  ChunkQueue queue;
  std::atomic<bool> stop{false};
  std::vector<std::string> errors(kSigners);
  std::vector<std::thread> signers;
  for (int t = 0; t < kSigners; ++t) {
    signers.emplace_back([&, t] {
      fca::X509Ptr cert(X509_dup(issued->certificate.get()));
      for (std::size_t first = t * kChunk; first < count && !stop; first += kSigners * kChunk) {
        Chunk chunk{first, {}};
        chunk.records.reserve(kChunk);
        for (std::size_t i = first; i < std::min(count, first + kChunk); ++i) {
          auto record = make_certificate(cert.get(), i, like, **ca_key, now, lifetime);
          if (!record) {
            errors[t] = record.error().message;
            stop = true;
            break;
          }
          chunk.records.push_back(std::move(*record));
        }
        queue.push(std::move(chunk));
      }
      queue.producer_done();
    });
  }

  // The writer: rows in transactions of kTransaction, in index order of arrival (any order will do).
  std::vector<std::string> serials(count);
  std::vector<fca::CertificateRecord> batch;
  std::size_t written = 0;
  std::string write_error;
  bool checked_fingerprint = false;
  Clock::duration writing{};  // inside seed_certificates: what the writer adds to the signers' time
  const auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    const fca::AuditEvent audit{"bench:seed", "certificate.seed", "ca:" + ca->name,
                                "{\"count\":" + std::to_string(batch.size()) + ",\"first\":\"" + batch.front().serial + "\"}",
                                fca::from_unix(std::time(nullptr))};
    const auto write_start = Clock::now();
    auto stored = database.seed_certificates(batch, audit);
    writing += Clock::now() - write_start;
    if (!stored) {
      write_error = stored.error().message;
      return false;
    }
    written += batch.size();
    batch.clear();
    return true;
  };
  while (auto chunk = queue.pop()) {
    if (!write_error.empty()) continue;  // drain, so the signers can finish
    for (std::size_t i = 0; i < chunk->records.size(); ++i) {
      auto& record = chunk->records[i];
      if (!checked_fingerprint) {
        // The fingerprint is hashed from the DER here; the core's function must agree.
        auto parsed = fca::parse_certificate(std::string_view(reinterpret_cast<const char*>(record.der.data()), record.der.size()));
        if (!parsed || fca::sha256_fingerprint(parsed->get()) != record.fingerprint_sha256 ||
            !fca::signed_by(parsed->get(), issuer->get())) {
          write_error = "the first seeded certificate does not parse, match its fingerprint or verify";
          stop = true;
          break;
        }
        checked_fingerprint = true;
      }
      serials[chunk->first + i] = record.serial;
      batch.push_back(std::move(record));
    }
    if (batch.size() >= kTransaction && !flush()) stop = true;
  }
  for (auto& signer : signers) signer.join();
  for (const auto& error : errors) {
    if (!error.empty()) return failed("signing: " + error);
  }
  if (write_error.empty()) flush();
  if (!write_error.empty()) return failed("writing: " + write_error);
  const double insert_seconds = seconds_since(start);

  // Every REVOKE_EVERY-th certificate revoked (reasons rotating), through the status update path.
  const auto revoke_start = Clock::now();
  const fca::RevocationReason reasons[] = {fca::RevocationReason::key_compromise, fca::RevocationReason::superseded,
                                           fca::RevocationReason::affiliation_changed,
                                           fca::RevocationReason::cessation_of_operation};
  std::size_t revoked = 0;
  for (int r = 0; r < 4; ++r) {
    std::vector<std::string> chosen;
    for (std::size_t i = static_cast<std::size_t>(r) * revoke_every; i < count; i += 4 * revoke_every) {
      chosen.push_back(serials[i]);
    }
    for (std::size_t from = 0; from < chosen.size(); from += kTransaction) {
      const auto part = std::span<const std::string>(chosen).subspan(from, std::min(kTransaction, chosen.size() - from));
      const fca::StatusChange change{fca::CertificateStatus::valid, fca::CertificateStatus::revoked,
                                     fca::from_unix(now - 60), reasons[r], std::nullopt};
      const fca::AuditEvent audit{"bench:seed", "certificate.seed-revoke", "ca:" + ca->name,
                                  "{\"count\":" + std::to_string(part.size()) + ",\"reason\":\"" +
                                      fca::to_string(reasons[r]) + "\"}",
                                  fca::from_unix(std::time(nullptr))};
      auto changed = database.seed_status_changes(like.issuer_id, part, change, audit);
      if (!changed) return failed("revoking: " + changed.error().message);
      revoked += static_cast<std::size_t>(*changed);
    }
  }
  const double revoke_seconds = seconds_since(revoke_start);
  std::printf("seeded %zu certificates in %.1f s (%.0f/s, %d signing threads, transactions of %zu, writer busy %.1f s); "
              "revoked %zu in %.1f s\n",
              written, insert_seconds, static_cast<double>(written) / insert_seconds, kSigners, kTransaction,
              std::chrono::duration<double>(writing).count(), revoked, revoke_seconds);
  if (int crl = build_crl(instance, "seed"); crl != 0) return crl;

  // Samples for the load (random, so spread over the whole table) and spares for revocations.
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 random(std::random_device{}());
  std::shuffle(order.begin(), order.end(), random);
  std::ofstream sample_file(out / "samples.txt");
  const std::size_t taken = std::min(samples, count / 2);  // the rest holds the spares
  for (std::size_t k = 0; k < taken; ++k) {
    const std::size_t i = order[k];
    sample_file << (i % revoke_every == 0 ? "revoked " : "good ") << serials[i] << ' ' << get_path(issuer->get(), serials[i])
                << '\n';
  }
  std::ofstream spare_file(out / "spare.txt");
  std::size_t spares = 0;
  for (std::size_t k = taken; k < count && spares < kSpares; ++k) {
    if (order[k] % revoke_every == 0) continue;
    spare_file << serials[order[k]] << ' ' << get_path(issuer->get(), serials[order[k]]) << '\n';
    ++spares;
  }
  if (!sample_file.flush() || !spare_file.flush()) return failed("cannot write " + out.string());
  std::printf("wrote %zu samples and %zu spare serials to %s; total %.1f s\n", taken, spares, out.c_str(),
              seconds_since(start));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "seed" && argc == 7) || (mode == "crl" && argc == 3))) {
    std::fprintf(stderr,
                 "usage: seed_certificates seed DIR COUNT REVOKE_EVERY SAMPLES OUT_DIR\n"
                 "       seed_certificates crl DIR\n");
    return 2;
  }
  auto instance = open_instance(argv[2]);
  if (!instance) return failed(instance.error().message);
  if (mode == "crl") return build_crl(**instance, "crl");
  const long long count = std::atoll(argv[3]);
  const long long revoke_every = std::atoll(argv[4]);
  const long long samples = std::atoll(argv[5]);
  if (count < 1 || revoke_every < 1 || samples < 0) return failed("COUNT and REVOKE_EVERY must be positive");
  return seed(**instance, static_cast<std::size_t>(count), static_cast<std::size_t>(revoke_every),
              static_cast<std::size_t>(samples), argv[6]);
}
