#pragma once
// Revocation faults to order, for interop labs (docs/lab.md): the OCSP responder and the CRL routes
// answer wrongly on purpose while a fault is active, so a tester can prove a client refuses each wrong
// answer. Faults are rows in the database (set and cleared by the CLI, audited) that expire by
// themselves; `serve` reads them per request, on a lab instance only, through LabFaultSource. A faulty
// answer is made here and never enters the OCSP index or the CRL store.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/authority.hpp"
#include "fca/core/clock.hpp"
#include "fca/core/crl.hpp"
#include "fca/core/error.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/core/repository.hpp"
#include "fca/core/signing.hpp"

namespace fca {

enum class LabFaultKind { ocsp, crl };

// The modes, by the names the CLI takes and the database stores.
//   ocsp: tryLater internalError unauthorized malformedRequest (OCSPResponseStatus answers), stale
//         (nextUpdate passed), wrong-key (a throw-away responder), no-ocsp-signing (a responder
//         certificate from the CA without id-kp-OCSPSigning), delay (delay_ms, then the true answer),
//         close (the connection is closed without an answer)
//   crl:  expired (nextUpdate passed), wrong-key (signed by a throw-away key), missing (404)
bool is_lab_fault_mode(LabFaultKind kind, std::string_view mode);
std::string_view lab_fault_modes(LabFaultKind kind);  // for messages: "tryLater, internalError, ..."
const char* to_string(LabFaultKind kind);

struct LabFault {
  std::int64_t id = 0;
  LabFaultKind kind = LabFaultKind::ocsp;
  std::string mode;
  std::optional<std::int64_t> issuer_id;  // only this CA's certificates (--ca); nullopt: every CA
  std::optional<std::string> serial;      // only this serial (uppercase hex, as stored); nullopt: any
  std::int64_t delay_ms = 0;              // mode delay
  std::string created_by;
  TimePoint created_at{};
  TimePoint expires_at{};
  bool active_at(TimePoint now) const { return now < expires_at; }
};

// The write side (the CLI): every change is audited in the same transaction.
class LabFaultRepository {
 public:
  virtual ~LabFaultRepository() = default;
  // Errc::not_found when the fault's issuer does not exist.
  virtual Result<std::int64_t> insert_lab_fault(const LabFault& fault, const AuditEvent& audit) = 0;
  // Every stored fault, expired ones included (they no longer apply), oldest first.
  virtual Result<std::vector<LabFault>> list_lab_faults() = 0;
  // Deletes one fault (Errc::not_found when there is none) or, with no id, all; returns how many.
  virtual Result<std::int64_t> delete_lab_faults(std::optional<std::int64_t> id, const AuditEvent& audit) = 0;
};

// The read side (serve, per request): must see another process's commit in the very next call, and
// should cost little when nothing changed (db/ reads PRAGMA data_version first).
class LabFaultSource {
 public:
  virtual ~LabFaultSource() = default;
  virtual Result<std::vector<LabFault>> active_faults(TimePoint now) = 0;
};

// What the OCSP front end does for a request while a fault applies to it.
struct LabOcspFaultAnswer {
  OcspAnswer answer;                  // never cacheable
  std::chrono::milliseconds delay{0};  // wait this long before answering
  bool close_connection = false;      // send nothing, close
};

// The OCSP faults of a lab instance. Thread-safe.
class LabOcspFaults {
 public:
  LabOcspFaults(std::shared_ptr<LabFaultSource> source, CaRepository& cas, CertificateAuthority& authority,
                OcspService& ocsp, const Clock& clock);
  ~LabOcspFaults();

  // The active fault that applies to this request (the newest of several), if any. Never signs.
  std::optional<LabFault> fault_for(std::span<const std::uint8_t> request_der);
  // The faulty answer for `fault`; may sign (or wait): for the worker pool.
  LabOcspFaultAnswer answer(const LabFault& fault, std::span<const std::uint8_t> request_der);

 private:
  struct Subject;  // the CA and serial a request names
  std::optional<Subject> subject_of(std::span<const std::uint8_t> request_der);
  Result<OcspAnswer> resign(std::span<const std::uint8_t> request_der, const LabFault& fault, const Subject& subject);
  Result<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> throwaway_signer();
  Result<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> no_ocsp_signing_signer(const CaRecord& ca);

  std::shared_ptr<LabFaultSource> source_;
  CaRepository& cas_;
  CertificateAuthority& authority_;
  OcspService& ocsp_;
  const Clock& clock_;
  std::mutex mutex_;  // guards the signers below, made on first use and kept for the process
  std::shared_ptr<SigningKey> throwaway_key_;
  X509Ptr throwaway_cert_;
  std::map<std::int64_t, std::pair<std::shared_ptr<SigningKey>, X509Ptr>> no_ocsp_signing_;
};

// What the CRL routes serve for a CA while a CRL fault applies to it.
struct LabCrlFaultAnswer {
  bool missing = false;            // answer 404
  std::vector<std::uint8_t> der;   // otherwise this CRL (DER) instead of the stored one
  TimePoint this_update{};
  TimePoint next_update{};
};

class LabCrlFaults {
 public:
  LabCrlFaults(std::shared_ptr<LabFaultSource> source, CrlService& crls, SigningKeys& keys, const Clock& clock);
  // nullopt when no fault applies to the CA; else the answer for it. May sign.
  std::optional<Result<LabCrlFaultAnswer>> answer_for(const CaRecord& ca);

 private:
  std::shared_ptr<LabFaultSource> source_;
  CrlService& crls_;
  SigningKeys& keys_;
  const Clock& clock_;
  std::mutex mutex_;
  std::shared_ptr<SigningKey> throwaway_key_;  // made on first use
};

}  // namespace fca
