#pragma once
// The certificate authority: CA lifecycle (create, import, CSR for an external root) and
// certificate lifecycle (issue, revoke, hold, release, renew). Free of HTTP and SQL.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/ossl.hpp"
#include "fca/core/repository.hpp"
#include "fca/core/settings.hpp"
#include "fca/core/signing.hpp"

namespace fca {

struct CreateCaRequest {
  std::string name;               // instance-unique id, [a-z0-9-], used in URLs
  std::string common_name;
  KeySpec key;
  int validity_days = 3650;
  std::optional<std::string> parent;  // CA in this instance that signs it; none: self-signed root
  std::optional<int> path_length;
  bool make_default = false;
  std::string requester;
};

struct ExternalCaCsrRequest {
  std::string name;
  std::string common_name;
  KeySpec key;
  std::string requester;
};

struct ImportCaRequest {
  std::string name;
  std::string certificate_pem;    // the CA certificate, optionally followed by its chain
  std::string private_key_pem;
  std::string passphrase;         // of the PEM key, when encrypted
  bool make_default = false;
  std::string requester;
};

// A new key and certificate for a CA under its name (docs/operations.md "CA rollover"). The CA's
// record gives up its name and becomes the previous generation (<name>-gen<N>); it issues no more,
// but keeps answering OCSP and publishing its CRL at the URLs its certificates carry.
struct RolloverCaRequest {
  std::string name;
  std::optional<KeySpec> key;        // none: the same type as the current key
  std::optional<int> validity_days;  // none: as long as the current certificate's lifetime
  std::string requester;
};

struct CaRollover {
  CaRecord previous;  // renamed, its successor set
  CaRecord current;   // the new generation, under the name
};

struct IssueRequest {
  std::string csr;                      // PEM or DER
  std::string profile;
  std::string requester;
  std::optional<std::string> ca;        // default issuing CA when empty
  std::optional<int> validity_days;     // the profile's default when empty; above its maximum: refused
};

struct IssuedCertificate {
  CertificateRecord record;
  X509Ptr certificate;
  std::vector<X509Ptr> chain;  // issuing CA first, up to and including the root
  std::string pem() const;            // the certificate alone
  std::string chain_pem() const;      // the certificate, then the chain
};

struct RevokeRequest {
  std::string serial;                   // hex, any case, colons allowed
  std::optional<std::string> ca;        // needed only when the serial is not unique across CAs
  RevocationReason reason = RevocationReason::unspecified;
  std::optional<TimePoint> invalidity_date;
  std::string requester;
};

// The lab kit's deviations (docs/lab.md): an explicit validity window (back-dated or in the future),
// SHA-1, any key, names exactly as given (none, a wildcard, an IP), no AIA and no CDP, an issuer that
// has expired or is revoked. Only Service::lab_issue and Service::lab_create_ca call the lab_* members,
// after Service::require_lab_instance; issue() and policy never reach them. Every result is marked
// lab-made in its row and its audit entry (detail "lab": true and the kind), and the audit entry and
// issued_at record the real time it was made, whatever the validity window says.
struct LabIssueRequest {
  std::string kind;                    // the lab kind ("expired", ...), recorded in the audit entry
  std::optional<std::string> ca;       // the issuer (the default CA when empty); unused when self_signed
  bool self_signed = false;            // signed with its own key: no issuer, so no row (audit only)
  std::string common_name;
  std::vector<SubjectAltName> sans;    // exactly these, no policy; empty: a CN-only certificate
  std::string profile;                 // a leaf profile: its EKUs and key usage
  TimePoint not_before{};
  TimePoint not_after{};
  bool sha1 = false;                   // sign with SHA-1 instead of the key's own digest
  bool without_aia = false;            // no OCSP URL, no caIssuers, no CRL distribution point
  const EVP_PKEY* subject_key = nullptr;
  std::string requester;
};

struct LabCaRequest {
  std::string name;
  std::string common_name;
  std::string kind;                    // the lab kind it serves, recorded in the audit entries
  KeySpec key;
  std::optional<std::string> parent;   // none: a root of its own
  std::optional<int> path_length;
  TimePoint not_before{};
  TimePoint not_after{};
  std::string requester;
};

class CertificateAuthority {
 public:
  CertificateAuthority(CaRepository& cas, CertificateRepository& certificates, SigningKeys& keys, const Clock& clock,
                       CaSettings settings);

  // --- CA lifecycle
  Result<CaRecord> create_ca(const CreateCaRequest& request);
  // Makes the key and a CSR for an external root; the CA stays pending until import_signed_ca.
  Result<CaRecord> create_external_ca_csr(const ExternalCaCsrRequest& request);
  // Completes a pending CA: the certificate (PEM, with its chain after it) must match the key,
  // be CA:TRUE and carry keyCertSign.
  Result<CaRecord> import_signed_ca(std::string_view name, std::string_view certificate_chain_pem,
                                    std::string_view requester);
  // Brings an existing CA certificate and its key in; the key is stored through the key store.
  Result<CaRecord> import_ca(const ImportCaRequest& request);
  // A root gets a new self-signed certificate with the same subject and the two RFC 4210 link
  // certificates (OldWithNew: the old key signed by the new one; NewWithOld: the new key signed by the
  // new one), valid no longer than the old certificate; a CA below another CA of this instance gets a
  // new certificate from its parent's current generation. Pending CAs and CAs under an external root
  // are refused (policy_refused), as is a CA that may not issue (the issuer-status gate).
  Result<CaRollover> rollover_ca(const RolloverCaRequest& request);
  // The generation that holds `ca`'s name now (`ca` itself unless it was rolled over).
  Result<CaRecord> current_generation(const CaRecord& ca);
  Result<void> set_default_ca(std::string_view name, std::string_view requester);
  // The CA's certificate followed by every certificate above it (issuing CA first).
  Result<std::vector<X509Ptr>> chain(const CaRecord& ca);
  Result<CaRecord> find_ca(std::optional<std::string_view> name);  // the default CA when empty
  // The CA's own certificate as a row in its parent's register; none for roots, CAs below an external
  // root and CAs imported under a parent that never registered them.
  Result<std::optional<CertificateRecord>> ca_certificate_record(const CaRecord& ca);
  // Issuer-status gate: Errc::policy_refused, naming the reason, when the CA or a CA above it in this
  // instance is revoked, on hold, expired or not yet valid (by the injected clock). Every path that
  // signs a certificate (issue, renew, a sub-CA, an OCSP responder) passes it first.
  Result<void> check_can_issue(const CaRecord& ca);
  // The CA's opened key, for what the CA signs besides certificates, CRLs and OCSP answers (EST
  // serverkeygen's key package, RFC 7030 §4.4.2: signed by the CA that generated the key).
  Result<std::shared_ptr<SigningKey>> signing_key(const CaRecord& ca) { return keys_.get(ca.key_uri); }

  // --- certificate lifecycle
  Result<IssuedCertificate> issue(const IssueRequest& request);
  Result<CertificateRecord> revoke(const RevokeRequest& request);  // reason certificateHold puts on hold
  Result<CertificateRecord> release_hold(std::string_view serial, std::optional<std::string_view> ca,
                                         std::string_view requester);
  // A new certificate for the same subject, SANs and profile from a new CSR; the old one stays valid.
  Result<IssuedCertificate> renew(std::string_view serial, std::optional<std::string_view> ca, std::string_view csr,
                                  std::string_view requester);
  Result<CertificateRecord> find_certificate(std::string_view serial, std::optional<std::string_view> ca);

  // --- the lab kit (see LabIssueRequest); never called by production paths
  Result<IssuedCertificate> lab_issue(const LabIssueRequest& request);
  Result<CaRecord> lab_create_ca(const LabCaRequest& request);

  const CaSettings& settings() const { return settings_; }

  // Revocation side effects (CRL regeneration, OCSP cache) subscribe here; called after the change is
  // committed, with the CA and the certificate's new record.
  using StatusChangedHandler = std::function<void(const CaRecord&, const CertificateRecord&)>;
  void on_status_changed(StatusChangedHandler handler) { status_handlers_.push_back(std::move(handler)); }

 private:
  // A new CA's parent (none for a root) and the parent's chain, as create_ca and lab_create_ca need them.
  struct ParentCa {
    std::optional<CaRecord> record;
    std::vector<X509Ptr> chain;
  };
  Result<ParentCa> parent_ca(const std::optional<std::string>& name);
  // A new CA certificate for `own_key`, signed by the parent's key, or by `own_key` for a root.
  Result<X509Ptr> sign_ca_certificate(const ParentCa& parent, const std::shared_ptr<SigningKey>& own_key,
                                      const X509_NAME* subject, const Profile& profile, TimePoint not_before,
                                      TimePoint not_after);
  Result<X509Ptr> link_certificate(const X509* issuer_cert, SigningKey& signer, const EVP_PKEY* subject_key,
                                   const Profile& profile, TimePoint not_before, TimePoint not_after);
  Result<CertificateRecord> notify(const CaRecord& ca, Result<CertificateRecord> changed);
  struct Approved;
  Result<IssuedCertificate> sign_and_store(const CaRecord& ca, const Profile& profile, const Approved& approved,
                                           const EVP_PKEY* subject_key, std::string_view requester,
                                           std::optional<std::string> renewal_of);
  // Stores a CA whose certificate is `cert`; `issued_by_parent`, when set, is that certificate's row in
  // the parent CA's register and is stored in the same transaction.
  Result<CaRecord> store_new_ca(CaRecord record, const X509* cert, bool make_default, std::string_view requester,
                                std::string_view action,
                                const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent = {});

  // The CA certificates in `pem` (one or a chain), parsed once per distinct text and handed out as
  // new references: every issuance needs its CA's chain, and OpenSSL 3 parsing a certificate and
  // decoding its public key costs more than signing the new one.
  Result<std::vector<X509Ptr>> ca_certificates(const std::string& pem);

  CaRepository& cas_;
  CertificateRepository& certificates_;
  SigningKeys& keys_;
  const Clock& clock_;
  CaSettings settings_;
  std::vector<StatusChangedHandler> status_handlers_;
  std::mutex parsed_mutex_;
  std::map<std::string, std::vector<X509Ptr>, std::less<>> parsed_;  // keyed by the PEM text itself
};

// Positive 20-byte serial from the CSPRNG: 159 random bits, top bit clear, next bit set.
Result<Asn1IntegerPtr> random_serial();
// "0a:1b:..." or "0A1B..." to canonical uppercase hex without leading zero bytes.
Result<std::string> normalize_serial(std::string_view text);

// Checks an issued certificate before it is stored: leaf never CA, KU/EKU match the profile and key,
// validity inside the issuer's, SAN present where required, serial positive and ≤ 20 bytes, signed by
// the issuer, AKI matches the issuer's SKI.
Result<void> lint_certificate(const X509* cert, const X509* issuer, const Profile& profile);

}  // namespace fca
