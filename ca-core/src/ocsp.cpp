#include "fca/core/ocsp.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <optional>
#include <string_view>

#include "fca/core/ocsp_index.hpp"
#include "fca/core/x509.hpp"

namespace fca {
namespace {


constexpr int kCertIdDigests[] = {NID_sha1, NID_sha256, NID_sha384, NID_sha512};

std::vector<std::uint8_t> response_der(const OCSP_RESPONSE* response) { return der_encode(response, i2d_OCSP_RESPONSE); }

std::string serial_of(const OCSP_CERTID* id) {
  ASN1_INTEGER* serial = nullptr;
  OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, const_cast<OCSP_CERTID*>(id));
  return serial_hex(serial);
}

int digest_of(const OCSP_CERTID* id) {
  ASN1_OBJECT* md = nullptr;
  OCSP_id_get0_info(nullptr, &md, nullptr, nullptr, const_cast<OCSP_CERTID*>(id));
  return md ? OBJ_obj2nid(md) : NID_undef;
}

// RFC 8954: a nonce is 1 to 32 octets. Returns false for a request whose nonce is out of bounds.
bool nonce_acceptable(OCSP_REQUEST* request, std::size_t max_length, bool& has_nonce) {
  const int index = OCSP_REQUEST_get_ext_by_NID(request, NID_id_pkix_OCSP_Nonce, -1);
  has_nonce = index >= 0;
  if (!has_nonce) return true;
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(request, index));
  // The extension value is normally a DER OCTET STRING wrapping the nonce; some clients send it bare.
  const unsigned char* p = ASN1_STRING_get0_data(value);
  long inner_length = 0;
  int tag = 0, cls = 0;
  std::size_t nonce_length = static_cast<std::size_t>(ASN1_STRING_length(value));
  if (!(ASN1_get_object(&p, &inner_length, &tag, &cls, ASN1_STRING_length(value)) & 0x80) && tag == V_ASN1_OCTET_STRING) {
    nonce_length = static_cast<std::size_t>(inner_length);
  }
  ERR_clear_error();
  return nonce_length >= 1 && nonce_length <= max_length;
}

// One DER TLV header at `pos` in `der`: tag byte, content offset and length. Short tags and
// definite lengths only (anything else fails the DER check before this is used anyway).
struct Tlv {
  unsigned char tag = 0;
  std::size_t content = 0;
  std::size_t length = 0;
};
std::optional<Tlv> read_tlv(std::span<const std::uint8_t> der, std::size_t pos) {
  if (pos + 2 > der.size() || (der[pos] & 0x1F) == 0x1F) return std::nullopt;
  Tlv tlv{der[pos], pos + 2, der[pos + 1]};
  if (tlv.length & 0x80) {
    const std::size_t octets = tlv.length & 0x7F;
    if (octets == 0 || octets > 4 || pos + 2 + octets > der.size()) return std::nullopt;
    tlv.length = 0;
    for (std::size_t i = 0; i < octets; ++i) tlv.length = (tlv.length << 8) | der[pos + 2 + i];
    tlv.content += octets;
  }
  if (tlv.content + tlv.length > der.size()) return std::nullopt;
  return tlv;
}

// TBSRequest.version, read from the DER itself (OpenSSL has no accessor): 0 (v1) when absent.
std::optional<long> request_version(std::span<const std::uint8_t> der) {
  auto outer = read_tlv(der, 0);
  if (!outer || outer->tag != 0x30) return std::nullopt;
  auto tbs = read_tlv(der, outer->content);
  if (!tbs || tbs->tag != 0x30) return std::nullopt;
  if (tbs->length == 0) return std::nullopt;
  auto first = read_tlv(der, tbs->content);
  if (!first) return std::nullopt;
  if (first->tag != 0xA0) return 0;
  auto integer = read_tlv(der, first->content);
  if (!integer || integer->tag != 0x02 || integer->length == 0 || integer->length > 4) return std::nullopt;
  long version = (der[integer->content] & 0x80) ? -1 : 0;
  for (std::size_t i = 0; i < integer->length; ++i) version = (version << 8) | der[integer->content + i];
  return version;
}

bool known_request_extension(int nid) {
  return nid == NID_id_pkix_OCSP_Nonce || nid == NID_id_pkix_OCSP_acceptableResponses;
}

// A critical extension this responder does not understand, or any extension twice (RFC 5280 4.2).
template <class Owner>
std::optional<std::string> extension_problem(Owner* owner, int (*count)(Owner*), X509_EXTENSION* (*get)(Owner*, int),
                                             bool (*known)(int), std::string_view where) {
  std::vector<int> seen;
  for (int i = 0; i < count(owner); ++i) {
    X509_EXTENSION* extension = get(owner, i);
    const ASN1_OBJECT* oid = X509_EXTENSION_get_object(extension);
    const int nid = OBJ_obj2nid(oid);
    char text[80] = {};
    OBJ_obj2txt(text, sizeof text, oid, 1);
    if (X509_EXTENSION_get_critical(extension) && !known(nid)) {
      return "critical " + std::string(where) + " extension " + text + " is not supported";
    }
    if (nid != NID_undef && std::ranges::find(seen, nid) != seen.end()) {
      return std::string(where) + " extension " + text + " appears twice";
    }
    seen.push_back(nid);
  }
  return std::nullopt;
}

int onereq_ext_count(OCSP_ONEREQ* one) { return OCSP_ONEREQ_get_ext_count(one); }
int request_ext_count(OCSP_REQUEST* request) { return OCSP_REQUEST_get_ext_count(request); }
bool no_single_extension_known(int) { return false; }

// Whatever RFC 6960 4.1 and this responder's policy refuse before any lookup; the reason, or nothing.
// Requests need no signature here. A signed one is accepted only when its signature verifies with the
// certificate it carries (the signer is trusted for nothing; an unverifiable signature is malformed).
std::optional<std::string> request_problem(OCSP_REQUEST* request, std::span<const std::uint8_t> der) {
  // DER only: a BER encoding (indefinite lengths, non-minimal lengths) re-encodes differently.
  if (der_encode(request, i2d_OCSP_REQUEST) != std::vector<std::uint8_t>(der.begin(), der.end())) {
    return "the request is not DER (BER or non-canonical encoding)";
  }
  const auto version = request_version(der);
  if (!version) return "the request's version cannot be read";
  if (*version != 0) return "request version " + std::to_string(*version) + " is not v1";
  if (auto problem = extension_problem(request, request_ext_count, OCSP_REQUEST_get_ext, known_request_extension, "request")) {
    return problem;
  }
  for (int i = 0; i < OCSP_request_onereq_count(request); ++i) {
    OCSP_ONEREQ* one = OCSP_request_onereq_get0(request, i);
    if (auto problem = extension_problem(one, onereq_ext_count, OCSP_ONEREQ_get_ext, no_single_extension_known,
                                         "single request")) {
      return problem;
    }
    ASN1_INTEGER* serial = nullptr;
    OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, OCSP_onereq_get0_id(one));
    // RFC 5280 4.1.2.2: no serial is longer than 20 octets, so none is looked up.
    if (!serial || ASN1_STRING_length(serial) > 20) return "a serial number longer than 20 octets";
  }
  if (OCSP_request_is_signed(request)) {
    X509StorePtr store(X509_STORE_new());
    const int verified = store ? OCSP_request_verify(request, nullptr, store.get(), OCSP_NOVERIFY) : 0;
    ERR_clear_error();
    if (verified != 1) return "the request is signed, and its signature does not verify with the certificate it carries";
  }
  return std::nullopt;
}

Asn1TimePtr asn1_time(TimePoint t) { return Asn1TimePtr(ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(t))); }

std::string random_suffix() {
  unsigned char bytes[4];
  RAND_bytes(bytes, sizeof bytes);
  return hex_upper(bytes);
}

OcspCertStatus status_of(const CertificateRecord& record) {
  return {record.status, record.revoked_at, record.revocation_reason, record.invalidity_date, record.issued_at};
}

// Without a storage-side source: the repository answers, and since it cannot say cheaply whether
// anything changed, every revision is new and every indexed answer re-reads its status.
class RepositoryStatusSource final : public OcspStatusSource {
 public:
  explicit RepositoryStatusSource(CertificateRepository& certificates) : certificates_(certificates) {}
  Result<std::int64_t> revocation_revision(std::int64_t) override { return ++counter_; }
  Result<std::optional<OcspCertStatus>> certificate_status(std::int64_t issuer_id, std::string_view serial) override {
    auto record = certificates_.find_certificate(issuer_id, serial);
    if (record) return std::optional<OcspCertStatus>(status_of(*record));
    if (record.error().code == Errc::not_found) return std::optional<OcspCertStatus>();
    return std::unexpected(record.error());
  }

 private:
  CertificateRepository& certificates_;
  std::atomic<std::int64_t> counter_{0};
};

std::shared_ptr<const OcspAnswerHeaders> headers_for(const OcspAnswer& answer) {
  auto headers = std::make_shared<OcspAnswerHeaders>();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(answer.der.data(), answer.der.size(), md, &len, EVP_sha256(), nullptr);
  headers->etag = "\"" + hex_upper(std::span<const std::uint8_t>(md, len)) + "\"";
  headers->last_modified = http_date(answer.this_update.value_or(answer.produced_at));
  if (answer.next_update) headers->expires = http_date(*answer.next_update);
  return headers;
}

}  // namespace

struct OcspService::Responder {
  CaRecord ca;
  X509Ptr ca_cert;
  X509Ptr signer_cert;
  std::shared_ptr<SigningKey> signer_key;
  std::map<int, OcspCertIdPtr> issuer_ids;  // by digest NID: the CertID fields that name this issuer
  std::string ca_serial;                    // the CA's own serial, in its parent's register
};

OcspService::OcspService(CaRepository& cas, CertificateRepository& certificates, OcspSignerRepository& signers,
                         CertificateAuthority& authority, SigningKeys& keys, const Clock& clock, OcspSettings settings)
    : cas_(cas),
      certificates_(certificates),
      signers_(signers),
      authority_(authority),
      keys_(keys),
      clock_(clock),
      settings_(settings),
      source_(std::make_shared<RepositoryStatusSource>(certificates)),
      index_(std::make_unique<OcspIndex>(settings.max_cache_entries)) {}

OcspService::~OcspService() = default;

void OcspService::use_status_source(std::shared_ptr<OcspStatusSource> source) {
  if (source) source_ = std::move(source);
  index_->clear();  // entries stamped by the previous source's revisions mean nothing to this one
}

OcspAnswer OcspService::error_answer(OcspOutcome outcome, std::string reason) {
  const int status = outcome == OcspOutcome::malformed_request ? OCSP_RESPONSE_STATUS_MALFORMEDREQUEST
                     : outcome == OcspOutcome::unauthorized    ? OCSP_RESPONSE_STATUS_UNAUTHORIZED
                                                               : OCSP_RESPONSE_STATUS_INTERNALERROR;
  OcspResponsePtr response(OCSP_response_create(status, nullptr));
  OcspAnswer answer;
  answer.outcome = outcome;
  answer.der = response_der(response.get());
  answer.produced_at = clock_.now();
  answer.reason = std::move(reason);
  return answer;
}

Result<X509Ptr> OcspService::issue_signer(const CaRecord& ca, std::shared_ptr<SigningKey>& key_out,
                                          std::string& key_uri_out) {
  // Before a key is made: a CA that may not issue (a rolled-over generation for years) would leave
  // an orphaned key in the store at every scheduler pass.
  if (auto standing = authority_.check_can_issue(ca); !standing) return std::unexpected(standing.error());
  auto ca_cert = parse_certificate(ca.certificate_pem);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto ca_key = describe_key(X509_get0_pubkey(ca_cert->get()));
  if (!ca_key) return std::unexpected(ca_key.error());
  // The responder key is of the CA's kind, so clients that accept the CA accept its responder.
  KeySpec spec{ca_key->algorithm, ca_key->algorithm == KeyAlgorithm::rsa ? std::max(2048, ca_key->bits) : 0,
               ca_key->algorithm == KeyAlgorithm::ec ? (ca_key->curve == "P-384" ? "P-384" : "P-256") : ""};
  const std::string label = "ocsp-" + ca.name + "-" + std::to_string(to_unix(clock_.now())) + "-" + random_suffix();
  auto uri = keys_.store().generate(spec, label);
  if (!uri) return std::unexpected(uri.error());
  auto key = keys_.get(*uri);
  if (!key) return std::unexpected(key.error());

  X509ReqPtr req(X509_REQ_new());
  X509NamePtr subject(X509_NAME_new());
  const std::string cn = common_name(X509_get_subject_name(ca_cert->get())) + " OCSP Responder";
  if (!req || !subject ||
      !X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) ||
      !X509_REQ_set_subject_name(req.get(), subject.get()) || !X509_REQ_set_pubkey(req.get(), const_cast<EVP_PKEY*>((*key)->key()))) {
    return fail_openssl(Errc::internal, "cannot build the OCSP responder request");
  }
  if (auto ok = (*key)->sign(req.get()); !ok) return std::unexpected(ok.error());

  IssueRequest issue{to_pem(req.get()), "ocsp-signer", "system", ca.name, settings_.signer_validity_days};
  auto issued = authority_.issue(issue);
  if (!issued) return std::unexpected(issued.error());

  OcspSignerRecord record{ca.id, issued->record.serial, *uri, issued->pem(), issued->record.not_after};
  const AuditEvent audit{"system", "ocsp.signer", "ca:" + ca.name, "{\"serial\":\"" + record.serial + "\"}", clock_.now()};
  if (auto stored = signers_.store_ocsp_signer(record, audit); !stored) return std::unexpected(stored.error());
  key_out = *key;
  key_uri_out = *uri;
  return std::move(issued->certificate);
}

Result<int> OcspService::ensure_signers() {
  auto cas = cas_.list_cas();
  if (!cas) return std::unexpected(cas.error());
  std::vector<std::shared_ptr<const Responder>> fresh;
  int issued = 0;
  const auto now = clock_.now();
  PassFailures failures;
  // One CA's responder, issuing or renewing its certificate when due.
  auto prepare = [&](const CaRecord& ca) -> Result<std::shared_ptr<Responder>> {
    auto responder = std::make_shared<Responder>();
    responder->ca = ca;
    auto ca_cert = parse_certificate(ca.certificate_pem);
    if (!ca_cert) return std::unexpected(ca_cert.error());
    responder->ca_cert = std::move(*ca_cert);
    responder->ca_serial = serial_hex(responder->ca_cert.get());
    for (int nid : kCertIdDigests) {
      responder->issuer_ids.emplace(nid, OcspCertIdPtr(OCSP_cert_to_id(EVP_get_digestbynid(nid), nullptr, responder->ca_cert.get())));
    }

    if (settings_.sign_with_ca_key) {
      auto key = keys_.get(ca.key_uri);
      if (!key) return std::unexpected(key.error());
      responder->signer_key = *key;
      responder->signer_cert = share(responder->ca_cert.get());
      return responder;
    }
    auto current = signers_.current_ocsp_signer(ca.id);
    if (!current && current.error().code != Errc::not_found) return std::unexpected(current.error());
    bool usable = current && current->not_after - now > std::chrono::days(settings_.renew_signer_before_days);
    if (usable) {
      auto status = certificates_.find_certificate(ca.id, current->serial);
      usable = status && status->status == CertificateStatus::valid;
    }
    if (usable) {
      auto key = keys_.get(current->key_uri);
      auto cert = parse_certificate(current->certificate_pem);
      usable = key && cert;
      if (usable) {
        responder->signer_key = *key;
        responder->signer_cert = std::move(*cert);
      }
    }
    if (!usable) {
      std::string uri;
      auto cert = issue_signer(ca, responder->signer_key, uri);
      if (cert) {
        responder->signer_cert = std::move(*cert);
        ++issued;
      } else if (cert.error().code == Errc::policy_refused) {
        // The CA may not issue (revoked, held, expired): it signs its own answers, which then say so.
        auto key = keys_.get(ca.key_uri);
        if (!key) return std::unexpected(key.error());
        responder->signer_key = *key;
        responder->signer_cert = share(responder->ca_cert.get());
      } else {
        return std::unexpected(cert.error());
      }
    }
    return responder;
  };
  for (const auto& ca : *cas) {
    if (ca.state != CaState::active) continue;
    auto responder = prepare(ca);
    std::lock_guard lock(mutex_);
    if (responder) {
      signer_status_.succeeded(ca.id, ca.name, now);
      fresh.push_back(std::move(*responder));
      continue;
    }
    // The others go on; this CA keeps the responder it had, if any, until its key works again.
    signer_status_.failed(ca.id, ca.name, now, responder.error().message);
    failures.add(ca.name, responder.error());
    for (const auto& previous : responders_) {
      if (previous->ca.id == ca.id) fresh.push_back(previous);
    }
  }
  bool changed = issued > 0;
  {
    std::lock_guard lock(mutex_);
    if (fresh.size() != responders_.size()) changed = true;
    for (std::size_t i = 0; !changed && i < fresh.size(); ++i) {
      changed = fresh[i]->ca.id != responders_[i]->ca.id ||
                X509_cmp(fresh[i]->signer_cert.get(), responders_[i]->signer_cert.get()) != 0;
    }
    responders_ = std::move(fresh);
  }
  // Indexed answers are served without asking for the responder: when the set of CAs or a signer
  // changed, they are all made again by the responders now in place.
  if (changed) index_->clear();
  if (!failures.empty()) return failures.error("OCSP responder set-up");
  return issued;
}

std::shared_ptr<const OcspService::Responder> OcspService::find_responder(OCSP_CERTID* id) {
  const int nid = digest_of(id);
  std::lock_guard lock(mutex_);
  for (const auto& responder : responders_) {
    auto found = responder->issuer_ids.find(nid);
    if (found != responder->issuer_ids.end() && found->second && OCSP_id_issuer_cmp(found->second.get(), id) == 0) {
      return responder;
    }
  }
  return nullptr;
}

std::shared_ptr<const OcspService::Responder> OcspService::responder_of(std::int64_t issuer_id) {
  std::lock_guard lock(mutex_);
  for (const auto& responder : responders_) {
    if (responder->ca.id == issuer_id) return responder;
  }
  return nullptr;
}

Result<OcspStamp> OcspService::stamp_of(std::int64_t issuer_id, std::optional<std::int64_t> parent_id) {
  OcspStamp stamp;
  auto issuer = source_->revocation_revision(issuer_id);
  if (!issuer) return std::unexpected(issuer.error());
  stamp.issuer = *issuer;
  stamp.parent = 0;
  if (parent_id) {
    auto parent = source_->revocation_revision(*parent_id);
    if (!parent) return std::unexpected(parent.error());
    stamp.parent = *parent;
  }
  return stamp;
}

// RFC 6960 §2.7: once a CA's key is known compromised (its own certificate revoked for keyCompromise
// or cACompromise), everything it issued is answered revoked, as of the CA's revocation time, with
// reason cACompromise: the CA's key is what failed, and that is what cACompromise says about the
// certificates below it. The CA's row is read with the certificate's, so a revocation of the CA by
// another process is in the very next answer too.
Result<std::optional<OcspCertStatus>> OcspService::effective_status(std::int64_t issuer_id,
                                                                    std::optional<std::int64_t> parent_id,
                                                                    const std::string& ca_serial,
                                                                    const std::string& serial) {
  auto own = source_->certificate_status(issuer_id, serial);
  if (!own || !*own || (*own)->status == CertificateStatus::revoked || !parent_id) return own;
  auto ca_row = source_->certificate_status(*parent_id, ca_serial);
  if (!ca_row) return std::unexpected(ca_row.error());
  if (*ca_row && (*ca_row)->status == CertificateStatus::revoked &&
      ((*ca_row)->reason == RevocationReason::key_compromise || (*ca_row)->reason == RevocationReason::ca_compromise)) {
    (*own)->status = CertificateStatus::revoked;
    (*own)->revoked_at = (*ca_row)->revoked_at;
    (*own)->reason = RevocationReason::ca_compromise;
    (*own)->invalidity_date = (*ca_row)->invalidity_date;
  }
  return own;
}

Result<OcspAnswer> OcspService::sign_answer(const Responder& responder, const std::vector<OCSP_CERTID*>& ids,
                                            const std::vector<const OcspCertStatus*>& statuses, OCSP_REQUEST* nonce_from) {
  const auto now = clock_.now();
  const auto this_update = std::chrono::time_point_cast<std::chrono::seconds>(now - settings_.backdate);
  const auto next_update = std::chrono::time_point_cast<std::chrono::seconds>(now + settings_.validity);
  auto this_time = asn1_time(this_update);
  auto next_time = asn1_time(next_update);

  OcspBasicPtr basic(OCSP_BASICRESP_new());
  if (!basic) return fail_openssl(Errc::internal, "cannot build OCSP response");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const OcspCertStatus* record = statuses[i];
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    Asn1TimePtr revoked_time;
    if (record) {
      if (record->status == CertificateStatus::valid) {
        status = V_OCSP_CERTSTATUS_GOOD;
      } else {
        status = V_OCSP_CERTSTATUS_REVOKED;
        revoked_time = asn1_time(record->revoked_at.value_or(record->issued_at));
        reason = static_cast<int>(record->reason.value_or(RevocationReason::unspecified));
      }
    }
    // add1_status copies the CertID as requested, so the answer names the client's hash algorithm.
    OCSP_SINGLERESP* single =
        OCSP_basic_add1_status(basic.get(), ids[i], status, reason, revoked_time.get(), this_time.get(), next_time.get());
    if (!single) return fail_openssl(Errc::internal, "cannot add OCSP single response");
    if (record && record->status != CertificateStatus::valid && record->invalidity_date) {
      std::unique_ptr<ASN1_GENERALIZEDTIME, OsslDeleter<ASN1_GENERALIZEDTIME_free>> date(
          ASN1_GENERALIZEDTIME_set(nullptr, std::chrono::system_clock::to_time_t(*record->invalidity_date)));
      OCSP_SINGLERESP_add1_ext_i2d(single, NID_invalidity_date, date.get(), 0, 0);
    }
  }
  if (nonce_from && OCSP_copy_nonce(basic.get(), nonce_from) != 1) return fail_openssl(Errc::internal, "cannot copy nonce");
  if (auto ok = responder.signer_key->sign(basic.get(), responder.signer_cert.get(), nullptr, OCSP_RESPID_KEY); !ok) {
    return std::unexpected(ok.error());
  }
  OcspResponsePtr response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  if (!response) return fail_openssl(Errc::internal, "cannot encode OCSP response");

  OcspAnswer answer;
  answer.outcome = OcspOutcome::successful;
  answer.der = response_der(response.get());
  answer.cacheable = nonce_from == nullptr;
  answer.produced_at = now;
  answer.this_update = this_update;
  answer.next_update = next_update;
  return answer;
}

std::optional<OcspAnswer> OcspService::answer(std::span<const std::uint8_t> request_der, bool may_sign) {
  if (request_der.empty()) return error_answer(OcspOutcome::malformed_request, "empty request");
  const unsigned char* p = request_der.data();
  OcspRequestPtr request(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  if (!request || p != request_der.data() + request_der.size()) {
    ERR_clear_error();
    return error_answer(OcspOutcome::malformed_request, "not a DER OCSPRequest");
  }
  const int count = OCSP_request_onereq_count(request.get());
  if (count <= 0) return error_answer(OcspOutcome::malformed_request, "request names no certificate");
  if (auto problem = request_problem(request.get(), request_der)) {
    return error_answer(OcspOutcome::malformed_request, std::move(*problem));
  }
  bool has_nonce = false;
  if (!nonce_acceptable(request.get(), settings_.max_nonce_length, has_nonce)) {
    return error_answer(OcspOutcome::malformed_request, "nonce length outside 1.." + std::to_string(settings_.max_nonce_length));
  }

  // The lock guards only the responder list and the cache: lookups and signatures run unlocked, so
  // one slow answer (a PKCS#11 signature, a busy database) does not hold up the others.
  std::vector<OCSP_CERTID*> ids;
  std::shared_ptr<const Responder> responder;
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(request.get(), i));
    auto r = find_responder(id);
    // One response has one signer: every CertID must name the same issuer, one this instance serves.
    if (!r || (responder && r != responder)) return error_answer(OcspOutcome::unauthorized, "issuer not served here");
    responder = std::move(r);
    ids.push_back(id);
  }

  if (!may_sign) return std::nullopt;  // an indexed answer would have been found by respond_cached

  // Only a nonce-less single request whose CertID re-encodes to the very bytes it was sent as goes
  // into the index: the answer echoes the CertID as OpenSSL encodes it, and a hit is found by the
  // request's bytes.
  std::optional<std::span<const std::uint8_t>> cert_id;
  std::optional<OcspStamp> stamp;
  if (!has_nonce && ids.size() == 1) {
    cert_id = single_cert_id(request_der);
    if (cert_id && der_encode(ids[0], i2d_OCSP_CERTID) != std::vector<std::uint8_t>(cert_id->begin(), cert_id->end())) {
      cert_id.reset();
    }
    // The revisions are read before the statuses, so an entry is never stamped newer than what it says.
    if (cert_id) {
      if (auto read = stamp_of(responder->ca.id, responder->ca.parent_id)) stamp = *read;
    }
  }

  std::vector<std::optional<OcspCertStatus>> found(ids.size());
  std::vector<const OcspCertStatus*> statuses(ids.size(), nullptr);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string serial = serial_of(ids[i]);
    if (serial.empty()) continue;  // a negative serial was never issued here
    auto status = effective_status(responder->ca.id, responder->ca.parent_id, responder->ca_serial, serial);
    if (!status) return error_answer(OcspOutcome::internal_error, status.error().message);
    found[i] = std::move(*status);
    if (found[i]) statuses[i] = &*found[i];
  }

  auto answer = sign_answer(*responder, ids, statuses, has_nonce ? request.get() : nullptr);
  if (!answer) return error_answer(OcspOutcome::internal_error, answer.error().message);
  // Unknown serials are never indexed: a scan of made-up serials must not fill the index.
  if (cert_id && stamp && statuses[0]) {
    auto ready = std::make_shared<OcspReadyAnswer>();
    ready->cert_id.assign(cert_id->begin(), cert_id->end());
    ready->issuer_id = responder->ca.id;
    ready->parent_id = responder->ca.parent_id;
    ready->ca_serial = responder->ca_serial;
    ready->serial = serial_of(ids[0]);
    ready->status = *statuses[0];
    ready->answer = *answer;
    ready->answer.headers = headers_for(ready->answer);
    answer->headers = ready->answer.headers;
    index_->put(std::move(ready), *stamp);
  }
  return std::move(*answer);
}

std::optional<OcspAnswer> OcspService::serve_indexed(const std::shared_ptr<const OcspReadyAnswer>& ready,
                                                     const OcspStamp& stamp) {
  if (*ready->answer.next_update - clock_.now() <= settings_.refresh_before) return std::nullopt;
  auto now_stamp = stamp_of(ready->issuer_id, ready->parent_id);
  if (!now_stamp) return std::nullopt;  // the full path reports it
  if (*now_stamp != stamp) {
    // Something under this issuer changed: this entry is checked (not re-signed unless it changed).
    auto status = effective_status(ready->issuer_id, ready->parent_id, ready->ca_serial, ready->serial);
    if (!status) return std::nullopt;
    if (!*status) {
      index_->remove(ready);
      return std::nullopt;
    }
    if (**status != ready->status) return std::nullopt;  // re-signed by respond(), which replaces it
    index_->restamp(ready, *now_stamp);
  }
  return ready->answer;
}

OcspAnswer OcspService::respond(std::span<const std::uint8_t> request_der) {
  if (auto cert_id = single_cert_id(request_der)) {
    if (auto hit = index_->find(*cert_id)) {
      if (auto indexed = serve_indexed(hit->ready, hit->stamp)) return std::move(*indexed);
    }
  }
  return *answer(request_der, true);
}

std::optional<OcspAnswer> OcspService::respond_cached(std::span<const std::uint8_t> request_der) {
  if (auto cert_id = single_cert_id(request_der)) {
    if (auto hit = index_->find(*cert_id)) return serve_indexed(hit->ready, hit->stamp);
  }
  return answer(request_der, false);
}

Result<int> OcspService::refresh_cache() {
  const auto now = clock_.now();
  auto due = index_->select([&](const OcspReadyAnswer& ready) {
    return *ready.answer.next_update - now <= settings_.refresh_before;
  });
  // Re-signing runs unlocked: requests keep being answered meanwhile (the due ones by respond()). A
  // CA whose answers cannot be signed is recorded and skipped; its old entries stay until they can.
  int refreshed = 0;
  PassFailures failures;
  std::set<std::int64_t> failed_cas;
  std::set<std::int64_t> refreshed_cas;
  std::map<std::int64_t, std::string> names;
  for (const auto& old : due) {
    if (failed_cas.contains(old->issuer_id)) continue;
    auto responder = responder_of(old->issuer_id);
    if (!responder) continue;
    names[responder->ca.id] = responder->ca.name;
    auto refreshed_one = [&]() -> Result<bool> {
      auto stamp = stamp_of(old->issuer_id, old->parent_id);
      if (!stamp) return std::unexpected(stamp.error());
      auto status = effective_status(old->issuer_id, old->parent_id, old->ca_serial, old->serial);
      if (!status) return std::unexpected(status.error());
      if (!*status) {
        index_->remove(old);
        return false;
      }
      const unsigned char* p = old->cert_id.data();
      OcspCertIdPtr id(d2i_OCSP_CERTID(nullptr, &p, static_cast<long>(old->cert_id.size())));
      if (!id) return fail_openssl(Errc::internal, "cannot decode an indexed CertID");
      auto answer = sign_answer(*responder, {id.get()}, {&**status}, nullptr);
      if (!answer) return std::unexpected(answer.error());
      auto fresh = std::make_shared<OcspReadyAnswer>(*old);
      fresh->status = **status;
      fresh->answer = std::move(*answer);
      fresh->answer.headers = headers_for(fresh->answer);
      // A request meanwhile replaced or dropped the entry: that one stands.
      return index_->replace(old, std::move(fresh), *stamp);
    }();
    const auto& ca = responder->ca;
    if (!refreshed_one) {
      failed_cas.insert(ca.id);
      failures.add(ca.name, refreshed_one.error());
      std::lock_guard lock(mutex_);
      cache_status_.failed(ca.id, ca.name, now, refreshed_one.error().message);
      continue;
    }
    refreshed_cas.insert(ca.id);
    if (*refreshed_one) ++refreshed;
  }
  {
    std::lock_guard lock(mutex_);
    for (std::int64_t id : refreshed_cas) {
      if (!failed_cas.contains(id)) cache_status_.succeeded(id, names[id], now);
    }
  }
  if (!failures.empty()) return failures.error("OCSP cache refresh");
  return refreshed;
}

std::map<std::int64_t, CaRefreshStatus> OcspService::signer_status() {
  std::lock_guard lock(mutex_);
  return signer_status_.by_ca();
}

std::map<std::int64_t, CaRefreshStatus> OcspService::cache_status() {
  std::lock_guard lock(mutex_);
  return cache_status_.by_ca();
}

void OcspService::status_changed(const CertificateRecord& certificate) {
  // The revision check finds this too; dropping the entries at once spares the first request the check.
  index_->erase_if([&](const OcspReadyAnswer& ready) {
    return ready.issuer_id == certificate.issuer_id && ready.serial == certificate.serial;
  });
}

std::size_t OcspService::cached_answers() { return index_->size(); }

std::optional<std::pair<std::shared_ptr<SigningKey>, X509Ptr>> OcspService::responder_signer(std::int64_t issuer_id) {
  auto responder = responder_of(issuer_id);
  if (!responder || !responder->signer_key || !responder->signer_cert) return std::nullopt;
  X509_up_ref(responder->signer_cert.get());
  return std::make_pair(responder->signer_key, X509Ptr(responder->signer_cert.get()));
}

}  // namespace fca
