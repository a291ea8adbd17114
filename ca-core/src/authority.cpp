#include "fca/core/authority.hpp"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <initializer_list>
#include <utility>

#include "fca/core/x509.hpp"
#include "legacy_public_key.hpp"

namespace fca {
namespace {

constexpr int kSerialAttempts = 8;

// Audit detail as a flat JSON object of strings; the core has no JSON library and needs none.
std::string json_object(std::initializer_list<std::pair<std::string_view, std::string>> fields) {
  std::string out = "{";
  for (const auto& [key, value] : fields) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += key;
    out += "\":\"";
    for (unsigned char c : value) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  }
  return out + "}";
}

// "2026-01-31T12:00:00Z", for refusals that name a date.
std::string utc_text(TimePoint t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buf, n);
}

// A new CA's name is used in URLs and key labels: it must be plain, and free in this instance.
Result<void> check_new_ca_name(CaRepository& cas, const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 64 && name.front() != '-' &&
                     std::ranges::all_of(name, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
  if (!plain) return fail(Errc::invalid_input, "CA name '" + name + "' must be 1-64 characters of a-z, 0-9 and '-'");
  // /crl/NAME-delta.crl is where NAME's delta CRLs are published.
  if (name.ends_with("-delta")) {
    return fail(Errc::invalid_input, "CA name '" + name + "' is refused: /crl/" + name + ".crl is the delta CRL of CA '" +
                                         name.substr(0, name.size() - 6) + "'");
  }
  if (cas.find_ca(name)) return fail(Errc::conflict, "CA '" + name + "' exists already");
  // A new CA publishes under its name: a rolled-over generation's URLs may use it still.
  if (auto published = cas.find_ca_by_publication_name(name)) {
    return fail(Errc::conflict, "the URLs of CA '" + published->name + "' use the name '" + name + "'");
  }
  return {};
}

struct NewCaKey {
  std::string uri;
  std::shared_ptr<SigningKey> key;
};

Result<NewCaKey> generate_ca_key(SigningKeys& keys, const std::string& name, const KeySpec& spec) {
  auto uri = keys.store().generate(spec, "ca-" + name);
  if (!uri) return std::unexpected(uri.error());
  auto key = keys.get(*uri);
  if (!key) return std::unexpected(key.error());
  return NewCaKey{std::move(*uri), std::move(*key)};
}

std::string join_sans(const std::vector<SubjectAltName>& sans) {
  std::string out;
  for (const auto& san : sans) out += (out.empty() ? "" : ",") + to_string(san);
  return out;
}

Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) {
    return fail_openssl(Errc::internal, std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

std::string key_usage_text(unsigned bits) {
  std::string out = "critical";
  if (bits & X509v3_KU_DIGITAL_SIGNATURE) out += ",digitalSignature";
  if (bits & X509v3_KU_KEY_ENCIPHERMENT) out += ",keyEncipherment";
  if (bits & X509v3_KU_KEY_CERT_SIGN) out += ",keyCertSign";
  if (bits & X509v3_KU_CRL_SIGN) out += ",cRLSign";
  return out;
}

Result<void> set_time(ASN1_TIME* (*setter)(X509*, const ASN1_TIME*), X509* cert, TimePoint t) {
  Asn1TimePtr time(ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(t)));
  if (!time || !setter(cert, time.get())) return fail_openssl(Errc::internal, "cannot set validity");
  return {};
}

// X509_set1_notBefore is a macro over a function taking a non-const ASN1_TIME in some versions.
ASN1_TIME* set_not_before(X509* cert, const ASN1_TIME* t) { return X509_set1_notBefore(cert, t) ? X509_getm_notBefore(cert) : nullptr; }
ASN1_TIME* set_not_after(X509* cert, const ASN1_TIME* t) { return X509_set1_notAfter(cert, t) ? X509_getm_notAfter(cert) : nullptr; }

Result<X509NamePtr> make_subject(const std::string& cn, const SubjectDefaults* ca_subject) {
  X509NamePtr name(X509_NAME_new());
  auto add = [&](const char* field, const std::string& value) {
    return value.empty() || X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                                       reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  };
  const bool ok = (!ca_subject || (add("C", ca_subject->country) && add("O", ca_subject->organization))) && add("CN", cn);
  if (!ok) return fail_openssl(Errc::invalid_input, "cannot build subject name");
  return name;
}

// True when the CSR asks for basicConstraints CA:TRUE (never granted to a leaf profile).
bool csr_requests_ca(const X509_REQ* req) {
  X509ExtensionStackPtr extensions(X509_REQ_get_extensions(const_cast<X509_REQ*>(req)));
  if (!extensions) return false;
  BasicConstraintsPtr bc(
      static_cast<BASIC_CONSTRAINTS*>(X509V3_get_d2i(extensions.get(), NID_basic_constraints, nullptr, nullptr)));
  return bc && bc->ca;
}

// What goes into a certificate once the CSR has been checked and policy has decided.
struct CertificateContent {
  const X509* issuer_cert;  // null: self-signed
  std::string issuer_name;  // the issuer's publication name for the CDP/AIA URLs (empty: none)
  const X509_NAME* subject;
  const EVP_PKEY* subject_key;
  const Profile* profile;
  std::vector<SubjectAltName> sans;
  TimePoint not_before;
  TimePoint not_after;
};

Result<X509Ptr> build_certificate(const CertificateContent& content, const PublicationUrls& urls) {
  X509Ptr cert(X509_new());
  auto serial = random_serial();
  if (!serial) return std::unexpected(serial.error());
  const auto legacy_key = legacy_public_key(content.subject_key);
  if (!cert || !X509_set_version(cert.get(), 2) || !X509_set_serialNumber(cert.get(), serial->get()) ||
      !X509_set_subject_name(cert.get(), const_cast<X509_NAME*>(content.subject)) ||
      !X509_set_issuer_name(cert.get(), content.issuer_cert ? X509_get_subject_name(content.issuer_cert)
                                                            : const_cast<X509_NAME*>(content.subject)) ||
      !X509_set_pubkey(cert.get(), legacy_key ? legacy_key.get() : const_cast<EVP_PKEY*>(content.subject_key))) {
    return fail_openssl(Errc::internal, "cannot build certificate");
  }
  if (legacy_key && EVP_PKEY_eq(X509_get0_pubkey(cert.get()), content.subject_key) != 1) {
    return fail_openssl(Errc::internal, "the certificate's public key is not the one requested");
  }
  if (auto ok = set_time(set_not_before, cert.get(), content.not_before); !ok) return std::unexpected(ok.error());
  if (auto ok = set_time(set_not_after, cert.get(), content.not_after); !ok) return std::unexpected(ok.error());

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509* issuer = content.issuer_cert ? const_cast<X509*>(content.issuer_cert) : cert.get();
  X509V3_set_ctx(&ctx, issuer, cert.get(), nullptr, nullptr, 0);

  const Profile& profile = *content.profile;
  auto key_info = describe_key(content.subject_key);
  if (!key_info) return std::unexpected(key_info.error());

  std::vector<std::pair<int, std::string>> extensions;
  if (profile.is_ca) {
    extensions.emplace_back(NID_basic_constraints,
                            "critical,CA:TRUE" + (profile.path_length ? ",pathlen:" + std::to_string(*profile.path_length) : ""));
  } else {
    extensions.emplace_back(NID_basic_constraints, "critical,CA:FALSE");
  }
  extensions.emplace_back(NID_key_usage, key_usage_text(key_usage_bits(profile, key_info->algorithm)));
  if (!profile.extended_key_usages.empty()) {
    std::string ekus;
    for (auto eku : profile.extended_key_usages) ekus += (ekus.empty() ? "" : ",") + std::string(to_string(eku));
    extensions.emplace_back(NID_ext_key_usage, ekus);
  }
  extensions.emplace_back(NID_subject_key_identifier, "hash");
  if (!content.sans.empty()) extensions.emplace_back(NID_subject_alt_name, join_sans(content.sans));
  if (profile.ocsp_no_check) extensions.emplace_back(NID_id_pkix_OCSP_noCheck, "ignored");
  if (!content.issuer_name.empty() && !urls.base.empty()) {
    extensions.emplace_back(NID_crl_distribution_points, "URI:" + urls.crl_url(content.issuer_name));
    // RFC 5280 4.2.1.15: where the delta CRLs of that full CRL are (non-critical).
    extensions.emplace_back(NID_freshest_crl, "URI:" + urls.delta_crl_url(content.issuer_name));
    std::string aia = "caIssuers;URI:" + urls.ca_issuers_url(content.issuer_name);
    // An OCSP signer is checked with id-pkix-ocsp-nocheck, not by asking OCSP about itself.
    if (!profile.ocsp_no_check) aia = "OCSP;URI:" + urls.ocsp_url() + "," + aia;
    extensions.emplace_back(NID_info_access, aia);
  }
  for (const auto& [nid, value] : extensions) {
    if (auto ok = add_extension(cert.get(), &ctx, nid, value); !ok) return std::unexpected(ok.error());
  }
  // AKI last: for a self-signed certificate it reads the SKI just added.
  if (auto ok = add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"); !ok) {
    return std::unexpected(ok.error());
  }
  return cert;
}

CertificateRecord record_for(const X509* cert, std::int64_t issuer_id, const Profile& profile, std::string requester,
                             TimePoint issued_at, std::optional<std::string> renewal_of) {
  CertificateRecord record;
  record.issuer_id = issuer_id;
  record.serial = serial_hex(cert);
  record.subject = name_to_string(X509_get_subject_name(cert));
  record.common_name = common_name(X509_get_subject_name(cert));
  for (const auto& san : subject_alt_names(cert)) record.sans.push_back(to_string(san));
  record.profile = profile.name;
  if (auto info = describe_key(X509_get0_pubkey(cert))) record.key_type = info->name();
  record.not_before = not_before(cert);
  record.not_after = not_after(cert);
  record.der = to_der(cert);
  record.fingerprint_sha256 = sha256_fingerprint(cert);
  record.requester = std::move(requester);
  record.renewal_of = std::move(renewal_of);
  record.issued_at = issued_at;
  return record;
}

}  // namespace

std::string IssuedCertificate::pem() const { return to_pem(certificate.get()); }

std::string IssuedCertificate::chain_pem() const {
  std::string out = pem();
  for (const auto& cert : chain) out += to_pem(cert.get());
  return out;
}

struct CertificateAuthority::Approved {
  ApprovedNames names;
  int validity_days = 0;
};

CertificateAuthority::CertificateAuthority(CaRepository& cas, CertificateRepository& certificates, SigningKeys& keys,
                                           const Clock& clock, CaSettings settings)
    : cas_(cas), certificates_(certificates), keys_(keys), clock_(clock), settings_(std::move(settings)) {}

// ---------------------------------------------------------------- CA lifecycle

Result<CaRecord> CertificateAuthority::find_ca(std::optional<std::string_view> name) {
  auto ca = name && !name->empty() ? cas_.find_ca(*name) : cas_.default_ca();
  if (!ca) return ca;
  if (ca->state != CaState::active) {
    return fail(Errc::conflict, "CA '" + ca->name + "' is waiting for its signed certificate (ca import-signed)");
  }
  return ca;
}

Result<std::vector<X509Ptr>> CertificateAuthority::ca_certificates(const std::string& pem) {
  // A handful of CAs per instance; a text seen before is the same certificates (the key is the
  // whole PEM, so a CA whose certificate changes is parsed anew). Bounded all the same.
  constexpr std::size_t kMaxParsed = 256;
  std::lock_guard lock(parsed_mutex_);
  auto found = parsed_.find(pem);
  if (found == parsed_.end()) {
    auto certs = parse_certificates(pem);
    if (!certs) return std::unexpected(certs.error());
    if (parsed_.size() >= kMaxParsed) parsed_.clear();
    found = parsed_.emplace(pem, std::move(*certs)).first;
  }
  std::vector<X509Ptr> copies;
  for (const auto& cert : found->second) {
    if (X509_up_ref(cert.get()) != 1) return fail_openssl(Errc::internal, "X509_up_ref");
    copies.emplace_back(cert.get());
  }
  return copies;
}

Result<std::optional<CertificateRecord>> CertificateAuthority::ca_certificate_record(const CaRecord& ca) {
  if (!ca.parent_id || ca.state != CaState::active) return std::optional<CertificateRecord>();
  auto certs = ca_certificates(ca.certificate_pem);
  if (!certs) return std::unexpected(certs.error());
  if (certs->empty()) return fail(Errc::storage, "CA '" + ca.name + "' has no certificate");
  auto row = certificates_.find_certificate(*ca.parent_id, serial_hex(certs->front().get()));
  if (!row) {
    if (row.error().code == Errc::not_found) return std::optional<CertificateRecord>();
    return std::unexpected(row.error());
  }
  return std::optional<CertificateRecord>(std::move(*row));
}

Result<void> CertificateAuthority::check_can_issue(const CaRecord& ca) {
  const auto now = clock_.now();
  std::optional<CaRecord> above;
  const CaRecord* current = &ca;
  // A CA below a revoked, held or expired CA is no better than that CA: the whole path is checked.
  for (int depth = 0; depth < 32; ++depth) {
    const std::string who = current == &ca ? "CA '" + ca.name + "'"
                                           : "CA '" + ca.name + "' cannot issue: the CA above it, '" + current->name + "',";
    if (current->state != CaState::active) {
      return fail(Errc::policy_refused, who + " is waiting for its signed certificate");
    }
    // Only the CA itself: a CA below a rolled-over generation goes on issuing until it is rolled over too.
    if (current == &ca && ca.successor_id) {
      auto successor = cas_.find_ca(*ca.successor_id);
      const std::string next = successor ? "'" + successor->name + "' (generation " + std::to_string(successor->generation) + ")"
                                         : "its successor";
      return fail(Errc::policy_refused, who + " was rolled over: " + next +
                                            " issues under its name now; this generation only answers OCSP and "
                                            "publishes its CRL for the certificates it issued");
    }
    if (current->not_before > now) {
      return fail(Errc::policy_refused, who + " is not yet valid (notBefore " + utc_text(current->not_before) + ")");
    }
    if (current->not_after <= now) {
      return fail(Errc::policy_refused, who + " has expired (notAfter " + utc_text(current->not_after) + ")");
    }
    auto row = ca_certificate_record(*current);
    if (!row) return std::unexpected(row.error());
    if (*row && (*row)->status == CertificateStatus::revoked) {
      return fail(Errc::policy_refused,
                  who + " is revoked (" + to_string((*row)->revocation_reason.value_or(RevocationReason::unspecified)) +
                      ") and issues nothing");
    }
    if (*row && (*row)->status == CertificateStatus::on_hold) {
      return fail(Errc::policy_refused, who + " is on hold (certificateHold) and issues nothing until released");
    }
    if (!current->parent_id) return {};
    auto parent = cas_.find_ca(*current->parent_id);
    if (!parent) return std::unexpected(parent.error());
    above = std::move(*parent);
    current = &*above;
  }
  return fail(Errc::internal, "CA '" + ca.name + "' has a parent chain deeper than 32");
}

Result<std::vector<X509Ptr>> CertificateAuthority::chain(const CaRecord& ca) {
  std::vector<X509Ptr> out;
  if (ca.state != CaState::active) return fail(Errc::conflict, "CA '" + ca.name + "' has no certificate yet");
  auto certs = ca_certificates(ca.certificate_pem);
  if (!certs) return std::unexpected(certs.error());
  if (certs->empty()) return fail(Errc::storage, "CA '" + ca.name + "' has no certificate");
  out.push_back(std::move(certs->front()));
  if (ca.parent_id) {
    auto parent = cas_.find_ca(*ca.parent_id);
    if (!parent) return std::unexpected(parent.error());
    auto above = chain(*parent);
    if (!above) return above;
    for (auto& c : *above) out.push_back(std::move(c));
  } else if (!ca.chain_pem.empty()) {
    auto above = ca_certificates(ca.chain_pem);
    if (!above) return std::unexpected(above.error());
    for (auto& c : *above) out.push_back(std::move(c));
  }
  return out;
}

Result<CaRecord> CertificateAuthority::store_new_ca(
    CaRecord record, const X509* cert, bool make_default, std::string_view requester, std::string_view action,
    const std::optional<std::pair<CertificateRecord, AuditEvent>>& issued_by_parent) {
  const auto now = clock_.now();
  record.state = CaState::active;
  record.certificate_pem = to_pem(cert);
  record.subject = name_to_string(X509_get_subject_name(cert));
  record.not_before = not_before(cert);
  record.not_after = not_after(cert);
  record.is_default = make_default;
  record.created_at = now;
  const AuditEvent audit{std::string(requester), std::string(action), "ca:" + record.name,
                         json_object({{"subject", record.subject},
                                      {"serial", serial_hex(cert)},
                                      {"key_uri_scheme", record.key_uri.substr(0, record.key_uri.find(':'))},
                                      {"default", make_default ? "true" : "false"}}),
                         now};
  auto id = issued_by_parent
                ? cas_.insert_subordinate_ca(record, audit, issued_by_parent->first, issued_by_parent->second)
                : cas_.insert_ca(record, audit);
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return record;
}

namespace {

Profile ca_profile(bool subordinate, std::optional<int> path_length) {
  Profile profile;
  profile.name = subordinate ? "sub-ca" : "root-ca";
  profile.is_ca = true;
  profile.path_length = path_length;
  profile.requires_san = false;
  return profile;
}

}  // namespace

Result<CertificateAuthority::ParentCa> CertificateAuthority::parent_ca(const std::optional<std::string>& name) {
  ParentCa parent;
  if (!name) return parent;
  auto found = find_ca(*name);
  if (!found) return std::unexpected(found.error());
  auto c = chain(*found);
  if (!c) return std::unexpected(c.error());
  parent.record = std::move(*found);
  parent.chain = std::move(*c);
  return parent;
}

Result<X509Ptr> CertificateAuthority::sign_ca_certificate(const ParentCa& parent, const std::shared_ptr<SigningKey>& own_key,
                                                          const X509_NAME* subject, const Profile& profile,
                                                          TimePoint not_before, TimePoint not_after) {
  const CertificateContent content{parent.record ? parent.chain.front().get() : nullptr,
                                   parent.record ? parent.record->url_name() : "",
                                   subject,
                                   own_key->key(),
                                   &profile,
                                   {},
                                   not_before,
                                   not_after};
  auto cert = build_certificate(content, settings_.urls);
  if (!cert) return std::unexpected(cert.error());
  std::shared_ptr<SigningKey> signer = own_key;
  if (parent.record) {
    auto parent_key = keys_.get(parent.record->key_uri);
    if (!parent_key) return std::unexpected(parent_key.error());
    signer = *parent_key;
  }
  if (auto signed_ok = signer->sign(cert->get()); !signed_ok) return std::unexpected(signed_ok.error());
  return cert;
}

Result<CaRecord> CertificateAuthority::create_ca(const CreateCaRequest& request) {
  if (auto ok = check_new_ca_name(cas_, request.name); !ok) return std::unexpected(ok.error());
  if (request.common_name.empty()) return fail(Errc::invalid_input, "a CA needs a common name");
  if (request.validity_days <= 0) return fail(Errc::invalid_input, "CA validity must be at least one day");

  auto found_parent = parent_ca(request.parent);
  if (!found_parent) return std::unexpected(found_parent.error());
  const auto& parent = found_parent->record;
  if (parent) {
    if (auto standing = check_can_issue(*parent); !standing) return std::unexpected(standing.error());
  }
  auto key = generate_ca_key(keys_, request.name, request.key);
  if (!key) return std::unexpected(key.error());
  const auto profile = ca_profile(parent.has_value(), request.path_length);
  const auto now = clock_.now();
  TimePoint not_after_time = now + std::chrono::days(request.validity_days);
  if (parent) not_after_time = std::min(not_after_time, parent->not_after);
  auto subject = make_subject(request.common_name, &settings_.subject);
  if (!subject) return std::unexpected(subject.error());
  auto cert = sign_ca_certificate(*found_parent, key->key, subject->get(), profile, now - settings_.backdate,
                                  not_after_time);
  if (!cert) return std::unexpected(cert.error());
  const X509* issuer_cert = parent ? found_parent->chain.front().get() : cert->get();
  if (auto lint = lint_certificate(cert->get(), issuer_cert, profile); !lint) return std::unexpected(lint.error());

  CaRecord record;
  record.name = request.name;
  record.key_uri = key->uri;
  if (parent) record.parent_id = parent->id;
  std::optional<std::pair<CertificateRecord, AuditEvent>> issued_by_parent;
  if (parent) {
    // The parent's register holds the CA certificate too, so it can be revoked like any other.
    auto row = record_for(cert->get(), parent->id, profile, request.requester, now, std::nullopt);
    AuditEvent audit{request.requester, "certificate.issue", "certificate:" + parent->name + "/" + row.serial,
                     json_object({{"profile", profile.name}, {"subject", row.subject}, {"ca", request.name}}), now};
    issued_by_parent.emplace(std::move(row), std::move(audit));
  }
  return store_new_ca(std::move(record), cert->get(), request.make_default, request.requester, "ca.create",
                      issued_by_parent);
}

namespace {

// Hex of a certificate's subjectKeyIdentifier (the key's identity in the audit entry of a rollover).
std::string key_id_hex(const X509* cert) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(cert));
  if (!ski) return "";
  return hex_upper(std::span(ASN1_STRING_get0_data(ski), static_cast<std::size_t>(ASN1_STRING_length(ski))));
}

}  // namespace

Result<CaRecord> CertificateAuthority::current_generation(const CaRecord& ca) {
  CaRecord current = ca;
  for (int depth = 0; current.successor_id; ++depth) {
    if (depth >= 64) return fail(Errc::storage, "CA '" + ca.name + "' has a successor chain longer than 64");
    auto next = cas_.find_ca(*current.successor_id);
    if (!next) return std::unexpected(next.error());
    current = std::move(*next);
  }
  return current;
}

// An RFC 4210 §4.4 link certificate of a root: `subject_key` under the root's own name, issued by the
// generation whose certificate is `issuer_cert` with its key `signer`. No CDP or AIA, like the roots.
Result<X509Ptr> CertificateAuthority::link_certificate(const X509* issuer_cert, SigningKey& signer,
                                                       const EVP_PKEY* subject_key, const Profile& profile,
                                                       TimePoint not_before, TimePoint not_after) {
  const CertificateContent content{issuer_cert, "", X509_get_subject_name(const_cast<X509*>(issuer_cert)),
                                   subject_key, &profile, {}, not_before, not_after};
  auto cert = build_certificate(content, settings_.urls);
  if (!cert) return std::unexpected(cert.error());
  if (auto signed_ok = signer.sign(cert->get()); !signed_ok) return std::unexpected(signed_ok.error());
  if (auto lint = lint_certificate(cert->get(), issuer_cert, profile); !lint) return std::unexpected(lint.error());
  return cert;
}

Result<CaRollover> CertificateAuthority::rollover_ca(const RolloverCaRequest& request) {
  auto old = cas_.find_ca(request.name);
  if (!old) return std::unexpected(old.error());
  if (old->state != CaState::active) {
    return fail(Errc::policy_refused, "CA '" + old->name + "' is waiting for its signed certificate: there is nothing to roll over");
  }
  if (request.validity_days && *request.validity_days <= 0) return fail(Errc::invalid_input, "CA validity must be at least one day");
  auto old_certs = ca_certificates(old->certificate_pem);
  if (!old_certs) return std::unexpected(old_certs.error());
  if (old_certs->empty()) return fail(Errc::storage, "CA '" + old->name + "' has no certificate");
  const X509* old_cert = old_certs->front().get();
  const bool root = !old->parent_id;
  if (root && (!old->chain_pem.empty() || X509_check_issued(const_cast<X509*>(old_cert), const_cast<X509*>(old_cert)) != X509_V_OK)) {
    return fail(Errc::policy_refused, "CA '" + old->name + "' is signed by a root outside this instance: roll it over there "
                                      "(a new CA from `ca request`, signed by that root)");
  }
  // The old key signs NewWithOld and the old CA stays a responder: it must be in good standing.
  if (auto standing = check_can_issue(*old); !standing) return std::unexpected(standing.error());

  ParentCa parent;
  if (!root) {
    auto held = cas_.find_ca(*old->parent_id);
    if (!held) return std::unexpected(held.error());
    auto parent_now = current_generation(*held);
    if (!parent_now) return std::unexpected(parent_now.error());
    auto found = parent_ca(parent_now->name);
    if (!found) return std::unexpected(found.error());
    parent = std::move(*found);
    if (auto standing = check_can_issue(*parent.record); !standing) return std::unexpected(standing.error());
  }

  // The old record takes <name>-gen<N> (its publication name stays), the new one <name>-gen<N+1> for its URLs.
  CaRecord previous = *old;
  previous.name = old->name + "-gen" + std::to_string(old->generation);
  CaRecord next;
  next.name = old->name;
  next.generation = old->generation + 1;
  next.publication_name = old->name + "-gen" + std::to_string(next.generation);
  if (previous.name != previous.publication_name) {
    if (auto ok = check_new_ca_name(cas_, previous.name); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = check_new_ca_name(cas_, next.publication_name); !ok) return std::unexpected(ok.error());

  auto old_key = keys_.get(old->key_uri);
  if (!old_key) return std::unexpected(old_key.error());
  KeySpec spec;
  if (request.key) {
    spec = *request.key;
  } else {
    auto info = describe_key((*old_key)->key());
    if (!info) return std::unexpected(info.error());
    auto same = KeySpec::parse(info->name());
    if (!same) return std::unexpected(same.error());
    spec = *same;
  }
  const auto now = clock_.now();
  const auto old_days = std::chrono::duration_cast<std::chrono::days>(old->not_after - old->not_before).count();
  const int days = request.validity_days.value_or(static_cast<int>(std::max<long long>(1, old_days)));
  TimePoint not_after_time = now + std::chrono::days(days);
  if (parent.record) not_after_time = std::min(not_after_time, parent.record->not_after);
  const long path_length = X509_get_pathlen(const_cast<X509*>(old_cert));
  const auto profile = ca_profile(!root, path_length >= 0 ? std::optional<int>(static_cast<int>(path_length)) : std::nullopt);

  auto key = generate_ca_key(keys_, next.publication_name + "-" + std::to_string(to_unix(now)), spec);
  if (!key) return std::unexpected(key.error());
  auto cert = sign_ca_certificate(parent, key->key, X509_get_subject_name(const_cast<X509*>(old_cert)), profile,
                                  now - settings_.backdate, not_after_time);
  if (!cert) return std::unexpected(cert.error());
  const X509* issuer_cert = root ? cert->get() : parent.chain.front().get();
  if (auto lint = lint_certificate(cert->get(), issuer_cert, profile); !lint) return std::unexpected(lint.error());

  std::string links_detail;
  if (root) {
    // Both link certificates end with the old certificate (or the new one, if that ends first):
    // once the old root expires there is nothing left to link.
    const TimePoint links_end = std::min(old->not_after, not_after(cert->get()));
    // RFC 4210 §4.4: OldWithNew is the old public key signed with the new private key (an old leaf
    // chains to the new root through it); NewWithOld the new public key signed with the old one.
    auto old_with_new = link_certificate(cert->get(), *key->key, X509_get0_pubkey(const_cast<X509*>(old_cert)), profile,
                                         now - settings_.backdate, links_end);
    if (!old_with_new) return std::unexpected(old_with_new.error());
    auto new_with_old = link_certificate(old_cert, **old_key, key->key->key(), profile, now - settings_.backdate, links_end);
    if (!new_with_old) return std::unexpected(new_with_old.error());
    next.rollover_pem = to_pem(old_with_new->get()) + to_pem(new_with_old->get());
    links_detail = serial_hex(old_with_new->get()) + "," + serial_hex(new_with_old->get());
  }

  next.state = CaState::active;
  next.key_uri = key->uri;
  if (parent.record) next.parent_id = parent.record->id;
  next.certificate_pem = to_pem(cert->get());
  next.subject = name_to_string(X509_get_subject_name(cert->get()));
  next.not_before = not_before(cert->get());
  next.not_after = not_after(cert->get());
  next.is_default = old->is_default;
  next.created_at = now;
  const auto old_key_info = describe_key((*old_key)->key());
  const AuditEvent audit{request.requester, "ca.rollover", "ca:" + next.name,
                         json_object({{"subject", next.subject},
                                      {"generation", std::to_string(next.generation)},
                                      {"previous", previous.name},
                                      {"old_serial", serial_hex(old_cert)},
                                      {"old_key_type", old_key_info ? old_key_info->name() : ""},
                                      {"old_key_id", key_id_hex(old_cert)},
                                      {"new_serial", serial_hex(cert->get())},
                                      {"new_key_type", spec.name()},
                                      {"new_key_id", key_id_hex(cert->get())},
                                      {"key_uri_scheme", next.key_uri.substr(0, next.key_uri.find(':'))},
                                      {"publication_name", next.publication_name},
                                      {"link_certificates", links_detail}}),
                         now};
  std::optional<std::pair<CertificateRecord, AuditEvent>> issued_by_parent;
  if (parent.record) {
    auto row = record_for(cert->get(), parent.record->id, profile, request.requester, now, std::nullopt);
    AuditEvent row_audit{request.requester, "certificate.issue", "certificate:" + parent.record->name + "/" + row.serial,
                         json_object({{"profile", profile.name}, {"subject", row.subject}, {"ca", next.name}}), now};
    issued_by_parent.emplace(std::move(row), std::move(row_audit));
  }
  auto id = cas_.insert_successor_ca(previous, old->name, next, audit, issued_by_parent);
  if (!id) return std::unexpected(id.error());
  next.id = *id;
  previous.is_default = false;
  previous.successor_id = next.id;
  return CaRollover{std::move(previous), std::move(next)};
}

Result<CaRecord> CertificateAuthority::create_external_ca_csr(const ExternalCaCsrRequest& request) {
  if (auto ok = check_new_ca_name(cas_, request.name); !ok) return std::unexpected(ok.error());
  if (request.common_name.empty()) return fail(Errc::invalid_input, "a CA needs a common name");
  auto key = generate_ca_key(keys_, request.name, request.key);
  if (!key) return std::unexpected(key.error());
  auto subject = make_subject(request.common_name, &settings_.subject);
  if (!subject) return std::unexpected(subject.error());

  X509ReqPtr req(X509_REQ_new());
  X509ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
  if (!req || !X509_REQ_set_version(req.get(), 0) || !X509_REQ_set_subject_name(req.get(), subject->get()) ||
      !X509_REQ_set_pubkey(req.get(), const_cast<EVP_PKEY*>(key->key->key()))) {
    return fail_openssl(Errc::internal, "cannot build the CA request");
  }
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value);
    if (!ext) return fail_openssl(Errc::internal, "cannot build the CA request extensions");
    sk_X509_EXTENSION_push(extensions.get(), ext);
  }
  if (!X509_REQ_add_extensions(req.get(), extensions.get())) return fail_openssl(Errc::internal, "cannot add extensions");
  if (auto signed_ok = key->key->sign(req.get()); !signed_ok) return std::unexpected(signed_ok.error());

  const auto now = clock_.now();
  CaRecord record;
  record.name = request.name;
  record.state = CaState::pending;
  record.key_uri = key->uri;
  record.csr_pem = to_pem(req.get());
  record.subject = name_to_string(subject->get());
  record.created_at = now;
  const AuditEvent audit{request.requester, "ca.request", "ca:" + request.name,
                         json_object({{"subject", record.subject}, {"key_type", request.key.name()}}), now};
  auto id = cas_.insert_ca(record, audit);
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return record;
}

namespace {
// A CA certificate we are asked to sign with: CA:TRUE, keyCertSign, and the key we hold.
Result<void> check_ca_certificate(const X509* cert, const EVP_PKEY* key) {
  auto* c = const_cast<X509*>(cert);
  if (!(X509_get_extension_flags(c) & EXFLAG_CA)) return fail(Errc::invalid_input, "the certificate is not a CA (no CA:TRUE)");
  if ((X509_get_extension_flags(c) & EXFLAG_KUSAGE) && !(X509_get_key_usage(c) & X509v3_KU_KEY_CERT_SIGN)) {
    return fail(Errc::invalid_input, "the CA certificate lacks keyUsage keyCertSign");
  }
  if (!(X509_get_extension_flags(c) & EXFLAG_KUSAGE)) {
    return fail(Errc::invalid_input, "the CA certificate has no keyUsage extension (keyCertSign required)");
  }
  if (!same_public_key(X509_get0_pubkey(c), key)) {
    return fail(Errc::invalid_input, "the certificate's public key does not match the CA's private key");
  }
  return {};
}

// The certificates after the first must each sign the one before.
Result<void> check_chain_order(const std::vector<X509Ptr>& certs) {
  for (std::size_t i = 1; i < certs.size(); ++i) {
    if (!signed_by(certs[i - 1].get(), certs[i].get())) {
      return fail(Errc::invalid_input, "chain certificate " + std::to_string(i + 1) + " did not sign certificate " +
                                           std::to_string(i));
    }
  }
  return {};
}
}  // namespace

Result<CaRecord> CertificateAuthority::import_signed_ca(std::string_view name, std::string_view certificate_chain_pem,
                                                        std::string_view requester) {
  auto ca = cas_.find_ca(name);
  if (!ca) return std::unexpected(ca.error());
  if (ca->state != CaState::pending) return fail(Errc::conflict, "CA '" + ca->name + "' is not waiting for a certificate");
  auto certs = parse_certificates(certificate_chain_pem);
  if (!certs) return std::unexpected(certs.error());
  auto key = keys_.get(ca->key_uri);
  if (!key) return std::unexpected(key.error());
  if (auto ok = check_ca_certificate(certs->front().get(), (*key)->key()); !ok) return std::unexpected(ok.error());
  if (auto ok = check_chain_order(*certs); !ok) return std::unexpected(ok.error());

  const X509* cert = certs->front().get();
  ca->state = CaState::active;
  ca->certificate_pem = to_pem(cert);
  ca->csr_pem.clear();
  ca->chain_pem.clear();
  for (std::size_t i = 1; i < certs->size(); ++i) ca->chain_pem += to_pem((*certs)[i].get());
  ca->subject = name_to_string(X509_get_subject_name(cert));
  ca->not_before = not_before(cert);
  ca->not_after = not_after(cert);
  const AuditEvent audit{std::string(requester), "ca.import-signed", "ca:" + ca->name,
                         json_object({{"subject", ca->subject}, {"serial", serial_hex(cert)},
                                      {"issuer", name_to_string(X509_get_issuer_name(cert))}}),
                         clock_.now()};
  if (auto ok = cas_.update_ca(*ca, audit); !ok) return std::unexpected(ok.error());
  return *ca;
}

Result<CaRecord> CertificateAuthority::import_ca(const ImportCaRequest& request) {
  if (auto ok = check_new_ca_name(cas_, request.name); !ok) return std::unexpected(ok.error());
  auto certs = parse_certificates(request.certificate_pem);
  if (!certs) return std::unexpected(certs.error());
  auto key = read_private_key_pem(request.private_key_pem, request.passphrase);
  if (!key) return std::unexpected(key.error());
  if (auto ok = check_ca_certificate(certs->front().get(), key->get()); !ok) return std::unexpected(ok.error());
  if (auto ok = check_chain_order(*certs); !ok) return std::unexpected(ok.error());

  const X509* cert = certs->front().get();
  CaRecord record;
  record.name = request.name;
  // Signed by a CA this instance holds: link it, so its chain and revocation follow the parent.
  if (auto all = cas_.list_cas()) {
    for (const auto& other : *all) {
      if (other.state != CaState::active) continue;
      auto other_cert = parse_certificate(other.certificate_pem);
      if (other_cert && X509_check_issued(other_cert->get(), const_cast<X509*>(cert)) == X509_V_OK &&
          signed_by(cert, other_cert->get()) && X509_cmp(other_cert->get(), cert) != 0) {
        record.parent_id = other.id;
        break;
      }
    }
  }
  if (!record.parent_id) {
    for (std::size_t i = 1; i < certs->size(); ++i) record.chain_pem += to_pem((*certs)[i].get());
  }
  auto key_uri = keys_.store().import(key->get(), "ca-" + request.name);
  if (!key_uri) return std::unexpected(key_uri.error());
  record.key_uri = *key_uri;
  return store_new_ca(std::move(record), cert, request.make_default, request.requester, "ca.import");
}

Result<void> CertificateAuthority::set_default_ca(std::string_view name, std::string_view requester) {
  auto ca = find_ca(name);
  if (!ca) return std::unexpected(ca.error());
  if (ca->successor_id) {
    return fail(Errc::policy_refused, "CA '" + ca->name + "' was rolled over and issues nothing: it cannot be the default");
  }
  return cas_.set_default_ca(ca->id, AuditEvent{std::string(requester), "ca.set-default", "ca:" + ca->name, "{}", clock_.now()});
}

// ---------------------------------------------------------------- certificate lifecycle

Result<IssuedCertificate> CertificateAuthority::sign_and_store(const CaRecord& ca, const Profile& profile,
                                                               const Approved& approved, const EVP_PKEY* subject_key,
                                                               std::string_view requester,
                                                               std::optional<std::string> renewal_of) {
  if (auto standing = check_can_issue(ca); !standing) return std::unexpected(standing.error());
  auto ca_chain = chain(ca);
  if (!ca_chain) return std::unexpected(ca_chain.error());
  const X509* issuer_cert = ca_chain->front().get();
  auto key = keys_.get(ca.key_uri);
  if (!key) return std::unexpected(key.error());
  auto subject = make_subject(approved.names.common_name, profile.is_ca ? &settings_.subject : nullptr);
  if (!subject) return std::unexpected(subject.error());

  const auto now = clock_.now();
  const TimePoint not_after_time = std::min(now + std::chrono::days(approved.validity_days), not_after(issuer_cert));
  if (not_after_time <= now) return fail(Errc::conflict, "CA '" + ca.name + "' has expired");
  const CertificateContent content{issuer_cert, ca.url_name(), subject->get(), subject_key, &profile,
                                   approved.names.sans, now - settings_.backdate, not_after_time};

  for (int attempt = 0; attempt < kSerialAttempts; ++attempt) {
    auto cert = build_certificate(content, settings_.urls);
    if (!cert) return std::unexpected(cert.error());
    if (auto ok = (*key)->sign(cert->get()); !ok) return std::unexpected(ok.error());
    if (auto lint = lint_certificate(cert->get(), issuer_cert, profile); !lint) return std::unexpected(lint.error());

    auto record = record_for(cert->get(), ca.id, profile, std::string(requester), now, renewal_of);
    const AuditEvent audit{std::string(requester), renewal_of ? "certificate.renew" : "certificate.issue",
                           "certificate:" + ca.name + "/" + record.serial,
                           json_object({{"profile", profile.name},
                                        {"subject", record.subject},
                                        {"sans", join_sans(approved.names.sans)},
                                        {"key_type", record.key_type},
                                        {"renewal_of", renewal_of.value_or("")}}),
                           now};
    auto id = certificates_.insert_certificate(record, audit);
    if (!id) {
      if (id.error().code == Errc::conflict) continue;  // serial collision: draw another
      return std::unexpected(id.error());
    }
    record.id = *id;
    IssuedCertificate issued{std::move(record), std::move(*cert), std::move(*ca_chain)};
    return issued;
  }
  return fail(Errc::internal, "could not draw a unique serial number");
}

Result<IssuedCertificate> CertificateAuthority::issue(const IssueRequest& request) {
  auto csr = parse_csr(request.csr);
  if (!csr) return std::unexpected(csr.error());
  EVP_PKEY* csr_key = X509_REQ_get0_pubkey(csr->get());
  if (!csr_key) return fail_openssl(Errc::invalid_input, "the CSR's public key cannot be read");
  if (X509_REQ_verify(csr->get(), csr_key) != 1) {
    return fail_openssl(Errc::invalid_input, "the CSR's signature does not verify");
  }
  auto profile = settings_.profiles.find(request.profile);
  if (!profile) return std::unexpected(profile.error());
  if (!profile->is_ca && csr_requests_ca(csr->get())) {
    return fail(Errc::policy_refused, "the CSR asks for CA:TRUE; profile '" + profile->name + "' issues end-entity certificates only");
  }
  auto key_info = describe_key(csr_key);
  if (!key_info) return std::unexpected(key_info.error());
  if (auto ok = approve_key(settings_.policy, *key_info); !ok) return std::unexpected(ok.error());

  Approved approved;
  auto names = approve_names(settings_.policy, *profile, common_name(X509_REQ_get_subject_name(csr->get())),
                             requested_subject_alt_names(csr->get()));
  if (!names) return std::unexpected(names.error());
  approved.names = std::move(*names);
  approved.validity_days = request.validity_days.value_or(profile->default_validity_days);
  if (approved.validity_days <= 0) return fail(Errc::invalid_input, "validity must be at least one day");
  if (approved.validity_days > profile->max_validity_days) {
    return fail(Errc::policy_refused, "validity of " + std::to_string(approved.validity_days) + " days exceeds profile '" +
                                          profile->name + "' maximum of " + std::to_string(profile->max_validity_days));
  }
  auto ca = find_ca(request.ca);
  if (!ca) return std::unexpected(ca.error());
  return sign_and_store(*ca, *profile, approved, csr_key, request.requester, std::nullopt);
}

Result<CertificateRecord> CertificateAuthority::find_certificate(std::string_view serial, std::optional<std::string_view> ca) {
  auto normalized = normalize_serial(serial);
  if (!normalized) return std::unexpected(normalized.error());
  if (ca && !ca->empty()) {
    auto record = cas_.find_ca(*ca);
    if (!record) return std::unexpected(record.error());
    return certificates_.find_certificate(record->id, *normalized);
  }
  auto matches = certificates_.find_by_serial(*normalized);
  if (!matches) return std::unexpected(matches.error());
  if (matches->empty()) return fail(Errc::not_found, "no certificate with serial " + *normalized);
  if (matches->size() > 1) return fail(Errc::conflict, "serial " + *normalized + " exists under several CAs; name the CA");
  return std::move(matches->front());
}

namespace {
std::string certificate_object(const CaRecord& ca, const CertificateRecord& cert) {
  return "certificate:" + ca.name + "/" + cert.serial;
}
}  // namespace

Result<CertificateRecord> CertificateAuthority::revoke(const RevokeRequest& request) {
  auto cert = find_certificate(request.serial, request.ca);
  if (!cert) return cert;
  const auto now = clock_.now();
  if (request.invalidity_date && *request.invalidity_date > now) {
    return fail(Errc::invalid_input, "the invalidity date lies in the future");
  }
  const bool hold = request.reason == RevocationReason::certificate_hold;
  if (cert->status == CertificateStatus::revoked) {
    return fail(Errc::conflict, "certificate " + cert->serial + " is already revoked (" +
                                    to_string(cert->revocation_reason.value_or(RevocationReason::unspecified)) + ")");
  }
  if (hold && cert->status == CertificateStatus::on_hold) {
    return fail(Errc::conflict, "certificate " + cert->serial + " is already on hold");
  }
  auto ca = cas_.find_ca(cert->issuer_id);
  if (!ca) return std::unexpected(ca.error());
  const StatusChange change{cert->status, hold ? CertificateStatus::on_hold : CertificateStatus::revoked, now,
                            request.reason, request.invalidity_date};
  const AuditEvent audit{request.requester, hold ? "certificate.hold" : "certificate.revoke", certificate_object(*ca, *cert),
                         json_object({{"reason", to_string(request.reason)}, {"previous_status", to_string(cert->status)}}),
                         now};
  return notify(*ca, certificates_.change_status(cert->issuer_id, cert->serial, change, audit));
}

Result<CertificateRecord> CertificateAuthority::notify(const CaRecord& ca, Result<CertificateRecord> changed) {
  if (changed) {
    for (const auto& handler : status_handlers_) handler(ca, *changed);
  }
  return changed;
}

Result<CertificateRecord> CertificateAuthority::release_hold(std::string_view serial, std::optional<std::string_view> ca_name,
                                                             std::string_view requester) {
  auto cert = find_certificate(serial, ca_name);
  if (!cert) return cert;
  if (cert->status != CertificateStatus::on_hold) {
    return fail(Errc::conflict, "certificate " + cert->serial + " is not on hold (" + to_string(cert->status) + ")");
  }
  auto ca = cas_.find_ca(cert->issuer_id);
  if (!ca) return std::unexpected(ca.error());
  const StatusChange change{CertificateStatus::on_hold, CertificateStatus::valid, std::nullopt, std::nullopt, std::nullopt};
  const AuditEvent audit{std::string(requester), "certificate.release", certificate_object(*ca, *cert), "{}", clock_.now()};
  return notify(*ca, certificates_.change_status(cert->issuer_id, cert->serial, change, audit));
}

Result<IssuedCertificate> CertificateAuthority::renew(std::string_view serial, std::optional<std::string_view> ca_name,
                                                      std::string_view csr_text, std::string_view requester) {
  auto old = find_certificate(serial, ca_name);
  if (!old) return std::unexpected(old.error());
  // A revoked or held certificate never renews: renewal must not undo a revocation.
  if (old->status != CertificateStatus::valid) {
    return fail(Errc::conflict, "certificate " + old->serial + " is " + to_string(old->status) + " and cannot be renewed");
  }
  if (old->not_after <= clock_.now()) return fail(Errc::conflict, "certificate " + old->serial + " has expired; issue anew");
  auto csr = parse_csr(csr_text);
  if (!csr) return std::unexpected(csr.error());
  EVP_PKEY* csr_key = X509_REQ_get0_pubkey(csr->get());
  if (!csr_key || X509_REQ_verify(csr->get(), csr_key) != 1) {
    return fail_openssl(Errc::invalid_input, "the CSR's signature does not verify");
  }
  auto key_info = describe_key(csr_key);
  if (!key_info) return std::unexpected(key_info.error());
  if (auto ok = approve_key(settings_.policy, *key_info); !ok) return std::unexpected(ok.error());
  auto profile = settings_.profiles.find(old->profile);
  if (!profile) return std::unexpected(profile.error());

  // The names are the old certificate's, and policy (which may have tightened since) still decides.
  auto old_cert = parse_certificate(std::string_view(reinterpret_cast<const char*>(old->der.data()), old->der.size()));
  if (!old_cert) return std::unexpected(old_cert.error());
  Approved approved;
  auto names = approve_names(settings_.policy, *profile, old->common_name, subject_alt_names(old_cert->get()));
  if (!names) return std::unexpected(names.error());
  approved.names = std::move(*names);
  const auto old_days = std::chrono::duration_cast<std::chrono::days>(old->not_after - old->not_before).count();
  approved.validity_days = std::clamp<int>(static_cast<int>(old_days), 1, profile->max_validity_days);
  // `ca_name` only locates the old certificate: it renews under its issuer, or, when that generation
  // was rolled over, under the generation that holds the issuer's name now.
  auto issuer = cas_.find_ca(old->issuer_id);
  if (!issuer) return std::unexpected(issuer.error());
  auto current = current_generation(*issuer);
  if (!current) return std::unexpected(current.error());
  auto ca = find_ca(std::string_view(current->name));
  if (!ca) return std::unexpected(ca.error());
  return sign_and_store(*ca, *profile, approved, csr_key, requester, old->serial);
}

// ---------------------------------------------------------------- the lab kit (docs/lab.md)

namespace {
// The audit detail of a lab-made certificate: the usual facts as strings, plus "lab": true.
std::string lab_detail(std::initializer_list<std::pair<std::string_view, std::string>> fields) {
  std::string out = json_object(fields);
  out.pop_back();
  return out + (out.size() > 1 ? "," : "") + "\"lab\":true}";
}

Result<void> check_lab_window(TimePoint not_before, TimePoint not_after) {
  if (not_after <= not_before) return fail(Errc::invalid_input, "a lab certificate's notAfter must follow its notBefore");
  return {};
}
}  // namespace

Result<IssuedCertificate> CertificateAuthority::lab_issue(const LabIssueRequest& request) {
  if (!request.subject_key) return fail(Errc::invalid_input, "a lab certificate needs a subject key");
  if (auto ok = check_lab_window(request.not_before, request.not_after); !ok) return std::unexpected(ok.error());
  auto profile = settings_.profiles.find(request.profile);
  if (!profile) return std::unexpected(profile.error());
  if (profile->is_ca) return fail(Errc::invalid_input, "lab_issue makes end-entity certificates; use lab_create_ca");
  auto subject = make_subject(request.common_name, nullptr);
  if (!subject) return std::unexpected(subject.error());
  const auto now = clock_.now();
  const PublicationUrls no_urls;

  if (request.self_signed) {
    const CertificateContent content{nullptr, "", subject->get(), request.subject_key, &*profile,
                                     request.sans, request.not_before, request.not_after};
    auto cert = build_certificate(content, no_urls);
    if (!cert) return std::unexpected(cert.error());
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const EVP_MD* digest = request.sha1 ? EVP_sha1() : signature_digest(request.subject_key);
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest, nullptr, const_cast<EVP_PKEY*>(request.subject_key)) != 1 ||
        X509_sign_ctx(cert->get(), ctx.get()) <= 0) {
      return fail_openssl(Errc::key_failure, "cannot self-sign the lab certificate");
    }
    // No issuer in this instance holds it, so there is no register row; Service::lab_issue audits it.
    auto record = record_for(cert->get(), 0, *profile, request.requester, now, std::nullopt);
    record.lab_made = true;
    return IssuedCertificate{std::move(record), std::move(*cert), {}};
  }

  // The issuer's standing is not checked: an expired or revoked issuer is what some kinds are about.
  auto ca = find_ca(request.ca);
  if (!ca) return std::unexpected(ca.error());
  auto ca_chain = chain(*ca);
  if (!ca_chain) return std::unexpected(ca_chain.error());
  const X509* issuer_cert = ca_chain->front().get();
  auto key = keys_.get(ca->key_uri);
  if (!key) return std::unexpected(key.error());
  const CertificateContent content{issuer_cert, ca->url_name(), subject->get(), request.subject_key, &*profile,
                                   request.sans, request.not_before, request.not_after};
  for (int attempt = 0; attempt < kSerialAttempts; ++attempt) {
    auto cert = build_certificate(content, request.without_aia ? no_urls : settings_.urls);
    if (!cert) return std::unexpected(cert.error());
    auto signed_ok = request.sha1 ? (*key)->sign_with_digest(cert->get(), EVP_sha1()) : (*key)->sign(cert->get());
    if (!signed_ok) return std::unexpected(signed_ok.error());
    // No lint (the deviations are the point), but it must at least be the issuer's signature.
    if (!signed_by(cert->get(), issuer_cert)) return fail(Errc::internal, "the lab certificate does not verify");

    auto record = record_for(cert->get(), ca->id, *profile, request.requester, now, std::nullopt);
    record.lab_made = true;
    const AuditEvent audit{request.requester, "certificate.issue", "certificate:" + ca->name + "/" + record.serial,
                           lab_detail({{"kind", request.kind},
                                       {"profile", profile->name},
                                       {"subject", record.subject},
                                       {"sans", join_sans(request.sans)},
                                       {"key_type", record.key_type},
                                       {"not_before", utc_text(record.not_before)},
                                       {"not_after", utc_text(record.not_after)},
                                       {"signature_digest", request.sha1 ? "sha1" : "default"}}),
                           now};
    auto id = certificates_.insert_certificate(record, audit);
    if (!id) {
      if (id.error().code == Errc::conflict) continue;
      return std::unexpected(id.error());
    }
    record.id = *id;
    return IssuedCertificate{std::move(record), std::move(*cert), std::move(*ca_chain)};
  }
  return fail(Errc::internal, "could not draw a unique serial number");
}

Result<CaRecord> CertificateAuthority::lab_create_ca(const LabCaRequest& request) {
  if (auto ok = check_new_ca_name(cas_, request.name); !ok) return std::unexpected(ok.error());
  if (request.common_name.empty()) return fail(Errc::invalid_input, "a CA needs a common name");
  if (auto ok = check_lab_window(request.not_before, request.not_after); !ok) return std::unexpected(ok.error());
  auto found_parent = parent_ca(request.parent);
  if (!found_parent) return std::unexpected(found_parent.error());
  const auto& parent = found_parent->record;
  auto key = generate_ca_key(keys_, request.name, request.key);
  if (!key) return std::unexpected(key.error());
  const auto profile = ca_profile(parent.has_value(), request.path_length);
  auto subject = make_subject(request.common_name, &settings_.subject);
  if (!subject) return std::unexpected(subject.error());
  auto cert = sign_ca_certificate(*found_parent, key->key, subject->get(), profile, request.not_before,
                                  request.not_after);
  if (!cert) return std::unexpected(cert.error());

  const auto now = clock_.now();
  CaRecord record;
  record.name = request.name;
  record.key_uri = key->uri;
  if (parent) record.parent_id = parent->id;
  record.state = CaState::active;
  record.certificate_pem = to_pem(cert->get());
  record.subject = name_to_string(X509_get_subject_name(cert->get()));
  record.not_before = not_before(cert->get());
  record.not_after = not_after(cert->get());
  record.created_at = now;
  const AuditEvent audit{request.requester, "ca.create", "ca:" + record.name,
                         lab_detail({{"kind", request.kind},
                                     {"subject", record.subject},
                                     {"serial", serial_hex(cert->get())},
                                     {"not_before", utc_text(record.not_before)},
                                     {"not_after", utc_text(record.not_after)}}),
                         now};
  Result<std::int64_t> id = 0;
  if (parent) {
    auto row = record_for(cert->get(), parent->id, profile, request.requester, now, std::nullopt);
    row.lab_made = true;
    const AuditEvent row_audit{request.requester, "certificate.issue", "certificate:" + parent->name + "/" + row.serial,
                               lab_detail({{"kind", request.kind}, {"profile", profile.name}, {"subject", row.subject},
                                           {"ca", request.name}}),
                               now};
    id = cas_.insert_subordinate_ca(record, audit, row, row_audit);
  } else {
    id = cas_.insert_ca(record, audit);
  }
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return record;
}

}  // namespace fca
