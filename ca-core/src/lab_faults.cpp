#include "fca/core/lab_faults.hpp"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ranges>

#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"

namespace fca {
namespace {


constexpr std::array kOcspModes = {"tryLater", "internalError", "unauthorized", "malformedRequest", "stale",
                                   "wrong-key", "no-ocsp-signing", "delay",     "close"};
constexpr std::array kCrlModes = {"expired", "wrong-key", "missing"};

// How far in the past a stale OCSP answer's or an expired CRL's nextUpdate lies: well past any
// clock-skew allowance a client may have.
constexpr auto kExpiredBy = std::chrono::hours(1);

Asn1TimePtr asn1_time(TimePoint t) { return Asn1TimePtr(ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(t))); }

OcspRequestPtr parse_request(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  OcspRequestPtr request(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  if (!request || p != der.data() + der.size()) {
    ERR_clear_error();
    return nullptr;
  }
  return request;
}

OcspAnswer status_answer(int status, OcspOutcome outcome, TimePoint now, std::string reason) {
  OcspResponsePtr response(OCSP_response_create(status, nullptr));
  OcspAnswer answer;
  answer.outcome = outcome;
  answer.der = der_encode(response.get(), i2d_OCSP_RESPONSE);
  answer.produced_at = now;
  answer.reason = std::move(reason);
  return answer;
}

// A throw-away P-256 key of the lab's own, never stored: nothing it signs can be trusted.
Result<std::shared_ptr<SigningKey>> throwaway_key() {
  auto spec = KeySpec::parse("p256");
  if (!spec) return std::unexpected(spec.error());
  auto key = generate_key(*spec);
  if (!key) return std::unexpected(key.error());
  return std::make_shared<SigningKey>(std::move(*key));
}

Result<void> add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) return fail_openssl(Errc::internal, "cannot add extension");
  return {};
}

Result<X509NamePtr> name_of(const std::string& cn) {
  X509NamePtr name(X509_NAME_new());
  if (!name || !X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                           -1, -1, 0)) {
    return fail_openssl(Errc::internal, "cannot build a name");
  }
  return name;
}

}  // namespace

const char* to_string(LabFaultKind kind) { return kind == LabFaultKind::ocsp ? "ocsp" : "crl"; }

bool is_lab_fault_mode(LabFaultKind kind, std::string_view mode) {
  if (kind == LabFaultKind::ocsp) return std::ranges::find(kOcspModes, mode) != kOcspModes.end();
  return std::ranges::find(kCrlModes, mode) != kCrlModes.end();
}

std::string_view lab_fault_modes(LabFaultKind kind) {
  return kind == LabFaultKind::ocsp
             ? "tryLater, internalError, unauthorized, malformedRequest, stale, wrong-key, no-ocsp-signing, delay, close"
             : "expired, wrong-key, missing";
}

// ---- OCSP ----

struct LabOcspFaults::Subject {
  std::int64_t issuer_id = 0;
  std::string serial;
};

LabOcspFaults::LabOcspFaults(std::shared_ptr<LabFaultSource> source, CaRepository& cas, CertificateAuthority& authority,
                             OcspService& ocsp, const Clock& clock)
    : source_(std::move(source)), cas_(cas), authority_(authority), ocsp_(ocsp), clock_(clock) {}

LabOcspFaults::~LabOcspFaults() = default;

std::optional<LabOcspFaults::Subject> LabOcspFaults::subject_of(std::span<const std::uint8_t> request_der) {
  auto request = parse_request(request_der);
  if (!request || OCSP_request_onereq_count(request.get()) < 1) return std::nullopt;
  OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(request.get(), 0));
  ASN1_OBJECT* md = nullptr;
  ASN1_INTEGER* serial = nullptr;
  OCSP_id_get0_info(nullptr, &md, nullptr, &serial, id);
  const EVP_MD* digest = md ? EVP_get_digestbyobj(md) : nullptr;
  if (!digest) return std::nullopt;
  auto cas = cas_.list_cas();
  if (!cas) return std::nullopt;
  for (const auto& ca : *cas) {
    auto cert = parse_certificate(ca.certificate_pem);
    if (!cert) continue;
    OcspCertIdPtr ca_id(OCSP_cert_to_id(digest, nullptr, cert->get()));
    if (ca_id && OCSP_id_issuer_cmp(ca_id.get(), id) == 0) return Subject{ca.id, serial_hex(serial)};
  }
  return std::nullopt;
}

std::optional<LabFault> LabOcspFaults::fault_for(std::span<const std::uint8_t> request_der) {
  auto faults = source_->active_faults(clock_.now());
  if (!faults || faults->empty()) return std::nullopt;
  std::optional<std::optional<Subject>> subject;  // read once, only when a fault names a CA or serial
  for (const auto& fault : std::views::reverse(*faults)) {
    if (fault.kind != LabFaultKind::ocsp) continue;
    if (fault.issuer_id || fault.serial) {
      if (!subject) subject = subject_of(request_der);
      if (!*subject) continue;
      if (fault.issuer_id && (**subject).issuer_id != *fault.issuer_id) continue;
      if (fault.serial && (**subject).serial != *fault.serial) continue;
    }
    return fault;
  }
  return std::nullopt;
}

LabOcspFaultAnswer LabOcspFaults::answer(const LabFault& fault, std::span<const std::uint8_t> request_der) {
  const auto now = clock_.now();
  const std::string reason = "lab fault " + std::to_string(fault.id) + " (" + fault.mode + ")";
  LabOcspFaultAnswer out;
  const auto& mode = fault.mode;
  if (mode == "tryLater") {
    out.answer = status_answer(OCSP_RESPONSE_STATUS_TRYLATER, OcspOutcome::internal_error, now, reason);
  } else if (mode == "internalError") {
    out.answer = status_answer(OCSP_RESPONSE_STATUS_INTERNALERROR, OcspOutcome::internal_error, now, reason);
  } else if (mode == "unauthorized") {
    out.answer = status_answer(OCSP_RESPONSE_STATUS_UNAUTHORIZED, OcspOutcome::unauthorized, now, reason);
  } else if (mode == "malformedRequest") {
    out.answer = status_answer(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, OcspOutcome::malformed_request, now, reason);
  } else if (mode == "close") {
    out.close_connection = true;
  } else if (mode == "delay") {
    out.delay = std::chrono::milliseconds(fault.delay_ms);
    out.answer = ocsp_.respond(request_der);
  } else {
    auto subject = subject_of(request_der);
    if (!subject) {
      out.answer = ocsp_.respond(request_der);  // not one of ours: the true refusal
    } else if (auto resigned = resign(request_der, fault, *subject)) {
      out.answer = std::move(*resigned);
    } else {
      out.answer = status_answer(OCSP_RESPONSE_STATUS_INTERNALERROR, OcspOutcome::internal_error, now,
                                 reason + ": " + resigned.error().message);
    }
  }
  out.answer.cacheable = false;
  out.answer.headers.reset();
  return out;
}

// The true answer's statuses, signed again: with times in the past (stale), or by a signer that is
// not the responder (wrong-key, no-ocsp-signing).
Result<OcspAnswer> LabOcspFaults::resign(std::span<const std::uint8_t> request_der, const LabFault& fault,
                                         const Subject& subject) {
  auto truth = ocsp_.respond(request_der);
  if (truth.outcome != OcspOutcome::successful) return truth;
  const unsigned char* p = truth.der.data();
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(truth.der.size())));
  OcspBasicPtr basic(response ? OCSP_response_get1_basic(response.get()) : nullptr);
  if (!basic) return fail_openssl(Errc::internal, "cannot read the responder's own answer");

  const auto now = clock_.now();
  const bool stale = fault.mode == "stale";
  const auto validity = ocsp_.settings().validity;
  auto stale_this = asn1_time(now - kExpiredBy - validity);
  auto stale_next = asn1_time(now - kExpiredBy);
  OcspBasicPtr altered(OCSP_BASICRESP_new());
  if (!altered) return fail_openssl(Errc::internal, "cannot build OCSP response");
  for (int i = 0; i < OCSP_resp_count(basic.get()); ++i) {
    OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), i);
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
    const int status = OCSP_single_get0_status(single, &reason, &revoked, &this_update, &next_update);
    auto* id = const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(single));
    if (!OCSP_basic_add1_status(altered.get(), id, status, reason, revoked, stale ? stale_this.get() : this_update,
                                stale ? stale_next.get() : next_update)) {
      return fail_openssl(Errc::internal, "cannot add OCSP single response");
    }
  }
  if (auto request = parse_request(request_der)) OCSP_copy_nonce(altered.get(), request.get());

  Result<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> signer = fail(Errc::internal, "no signer");
  if (stale) {
    auto own = ocsp_.responder_signer(subject.issuer_id);
    if (!own) return fail(Errc::internal, "no responder for the CA");
    signer = std::move(*own);
  } else if (fault.mode == "wrong-key") {
    signer = throwaway_signer();
  } else {
    auto ca = cas_.find_ca(subject.issuer_id);
    if (!ca) return std::unexpected(ca.error());
    signer = no_ocsp_signing_signer(*ca);
  }
  if (!signer) return std::unexpected(signer.error());
  if (auto ok = signer->first->sign(altered.get(), signer->second.get(), nullptr, OCSP_RESPID_KEY); !ok) {
    return std::unexpected(ok.error());
  }
  OcspResponsePtr out(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, altered.get()));
  if (!out) return fail_openssl(Errc::internal, "cannot encode OCSP response");
  OcspAnswer answer;
  answer.outcome = OcspOutcome::successful;
  answer.der = der_encode(out.get(), i2d_OCSP_RESPONSE);
  answer.produced_at = now;
  answer.this_update = stale ? now - kExpiredBy - validity : truth.this_update.value_or(now);
  answer.next_update = stale ? now - kExpiredBy : truth.next_update.value_or(now);
  return answer;
}

Result<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> LabOcspFaults::throwaway_signer() {
  std::lock_guard lock(mutex_);
  if (!throwaway_key_) {
    auto key = throwaway_key();
    if (!key) return std::unexpected(key.error());
    X509Ptr cert(X509_new());
    auto name = name_of("LAB throw-away OCSP responder (trusted by no one)");
    if (!cert || !name) return fail_openssl(Errc::internal, "cannot build the throw-away responder certificate");
    std::array<unsigned char, 16> serial{};
    RAND_bytes(serial.data(), serial.size());
    serial[0] &= 0x7F;
    std::unique_ptr<BIGNUM, OsslDeleter<BN_free>> bn(BN_bin2bn(serial.data(), serial.size(), nullptr));
    const auto now = clock_.now();
    auto from = asn1_time(now - std::chrono::hours(1));
    auto until = asn1_time(now + std::chrono::hours(24 * 30));
    if (!X509_set_version(cert.get(), X509_VERSION_3) || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
        !X509_set_subject_name(cert.get(), name->get()) || !X509_set_issuer_name(cert.get(), name->get()) ||
        !X509_set1_notBefore(cert.get(), from.get()) || !X509_set1_notAfter(cert.get(), until.get()) ||
        !X509_set_pubkey(cert.get(), const_cast<EVP_PKEY*>((*key)->key()))) {
      return fail_openssl(Errc::internal, "cannot build the throw-away responder certificate");
    }
    if (auto ok = add_extension(cert.get(), cert.get(), NID_ext_key_usage, "OCSPSigning"); !ok) return std::unexpected(ok.error());
    if (auto ok = (*key)->sign(cert.get()); !ok) return std::unexpected(ok.error());
    throwaway_key_ = *key;
    throwaway_cert_ = std::move(cert);
  }
  X509_up_ref(throwaway_cert_.get());
  return std::make_pair(throwaway_key_, X509Ptr(throwaway_cert_.get()));
}

// A certificate from the CA itself, issued through the ordinary path (stored and audited, requester
// system:lab) with the client profile: everything a responder certificate has but id-kp-OCSPSigning.
Result<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> LabOcspFaults::no_ocsp_signing_signer(const CaRecord& ca) {
  std::lock_guard lock(mutex_);
  auto found = no_ocsp_signing_.find(ca.id);
  if (found == no_ocsp_signing_.end() || not_after(found->second.second.get()) <= clock_.now()) {
    auto key = throwaway_key();
    if (!key) return std::unexpected(key.error());
    X509ReqPtr req(X509_REQ_new());
    auto name = name_of("no-ocsp-signing.lab.invalid");
    if (!req || !name || !X509_REQ_set_subject_name(req.get(), name->get()) ||
        !X509_REQ_set_pubkey(req.get(), const_cast<EVP_PKEY*>((*key)->key()))) {
      return fail_openssl(Errc::internal, "cannot build the no-ocsp-signing request");
    }
    if (auto ok = (*key)->sign(req.get()); !ok) return std::unexpected(ok.error());
    auto issued = authority_.issue(IssueRequest{to_pem(req.get()), "client", "system:lab", ca.name, 7});
    if (!issued) return std::unexpected(issued.error());
    found = no_ocsp_signing_.insert_or_assign(ca.id, std::make_pair(*key, std::move(issued->certificate))).first;
  }
  X509_up_ref(found->second.second.get());
  return std::make_pair(found->second.first, X509Ptr(found->second.second.get()));
}

// ---- CRL ----

LabCrlFaults::LabCrlFaults(std::shared_ptr<LabFaultSource> source, CrlService& crls, SigningKeys& keys, const Clock& clock)
    : source_(std::move(source)), crls_(crls), keys_(keys), clock_(clock) {}

std::optional<Result<LabCrlFaultAnswer>> LabCrlFaults::answer_for(const CaRecord& ca) {
  const auto now = clock_.now();
  auto faults = source_->active_faults(now);
  if (!faults || faults->empty()) return std::nullopt;
  const LabFault* fault = nullptr;
  for (const auto& f : std::views::reverse(*faults)) {
    if (f.kind == LabFaultKind::crl && f.issuer_id == ca.id) {
      fault = &f;
      break;
    }
  }
  if (!fault) return std::nullopt;
  LabCrlFaultAnswer answer;
  if (fault->mode == "missing") {
    answer.missing = true;
    return answer;
  }
  auto current = crls_.current(ca);
  if (!current) return std::unexpected(current.error());
  const unsigned char* p = current->der.data();
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(current->der.size())));
  if (!crl) return fail_openssl(Errc::internal, "stored CRL does not parse");
  answer.this_update = current->this_update;
  answer.next_update = current->next_update;
  std::shared_ptr<SigningKey> key;
  if (fault->mode == "expired") {
    answer.this_update = now - kExpiredBy - crls_.settings().validity;
    answer.next_update = now - kExpiredBy;
    auto this_time = asn1_time(answer.this_update);
    auto next_time = asn1_time(answer.next_update);
    if (!X509_CRL_set1_lastUpdate(crl.get(), this_time.get()) || !X509_CRL_set1_nextUpdate(crl.get(), next_time.get())) {
      return fail_openssl(Errc::internal, "cannot set the CRL's times");
    }
    auto ca_key = keys_.get(ca.key_uri);
    if (!ca_key) return std::unexpected(ca_key.error());
    key = *ca_key;
  } else {
    std::lock_guard lock(mutex_);
    if (!throwaway_key_) {
      auto made = throwaway_key();
      if (!made) return std::unexpected(made.error());
      throwaway_key_ = *made;
    }
    key = throwaway_key_;
  }
  if (auto ok = key->sign(crl.get()); !ok) return std::unexpected(ok.error());
  answer.der = der_encode(crl.get(), i2d_X509_CRL);
  return answer;
}

}  // namespace fca
