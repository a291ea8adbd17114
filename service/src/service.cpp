#include "fca/service/service.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "fca/core/x509.hpp"

namespace fca::service {
namespace {

// Profiles whose certificates can vouch for others: a CA, or an OCSP responder (OCSPSigning with
// ocsp-nocheck answers `good` for anything). Only administrators get them, whatever a scope says.
bool makes_authorities(const Profile& profile) {
  return profile.is_ca || profile.ocsp_no_check ||
         std::ranges::find(profile.extended_key_usages, ExtendedKeyUsage::ocsp_signing) != profile.extended_key_usages.end();
}

std::string roles_text(const Principal& who) {
  std::string out;
  for (auto role : who.roles) out += (out.empty() ? "" : ", ") + std::string(to_string(role));
  return out.empty() ? "none" : out;
}

std::size_t page_size(std::size_t requested) { return std::clamp<std::size_t>(requested, 1, Service::kMaxPage); }

template <class T, class IdOf>
Page<T> paginate(std::vector<T> rows, std::size_t limit, IdOf id_of) {
  Page<T> page;
  if (rows.size() > limit) {
    rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(limit), rows.end());
    page.next_cursor = make_cursor(id_of(rows.back()));
  }
  page.items = std::move(rows);
  return page;
}

std::set<std::string> san_set(const std::vector<SubjectAltName>& sans) {
  std::set<std::string> out;
  for (const auto& san : sans) out.insert(to_string(san));
  return out;
}

// A JSON string for an audit detail; invalid UTF-8 in user text (a label) is replaced, never thrown on.
std::string json_string(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string make_cursor(std::int64_t last_id) { return std::to_string(last_id); }

Result<std::int64_t> parse_cursor(std::string_view cursor) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || id < 0) {
    return fail(Errc::invalid_input, "'" + std::string(cursor) + "' is not a cursor this service handed out");
  }
  return id;
}

Service::Service(ServiceContext context) : ctx_(std::move(context)) {}

const char* Service::describe(Action action) {
  switch (action) {
    case Action::read_cas: return "read CAs";
    case Action::read_certificates: return "read certificates";
    case Action::issue: return "issue certificates";
    case Action::reenroll: return "re-enrol";
    case Action::change_status: return "revoke, hold or release certificates";
    case Action::renew: return "renew certificates";
    case Action::submit_enrollment: return "submit enrolment requests";
    case Action::decide_enrollment: return "approve or reject enrolment requests";
    case Action::read_enrollments: return "read enrolment requests";
    case Action::read_audit: return "read the audit log";
    case Action::manage_cas: return "manage CAs";
  }
  return "do that";
}

Result<CertificateInfo> Service::locate(std::string_view serial, std::optional<std::string_view> ca) {
  auto record = ctx_.authority.find_certificate(serial, ca);
  if (!record) return std::unexpected(record.error());
  auto name = ca_name(record->issuer_id);
  if (!name) return std::unexpected(name.error());
  return CertificateInfo{std::move(*record), std::move(*name)};
}

Result<void> Service::authorize(const Principal& who, Action action, std::string_view ca, std::string_view profile) const {
  auto refuse = [&](const std::string& what) {
    return fail(Errc::policy_refused, who.id + " (roles: " + roles_text(who) + ") may not " + what);
  };
  if (who.is_admin()) return {};
  const bool allowed = [&] {
    switch (action) {
      case Action::read_cas: return true;  // CA certificates are published anyway
      case Action::read_certificates:
      case Action::read_enrollments: return who.has(Role::operator_) || who.has(Role::auditor);
      case Action::issue:
      case Action::submit_enrollment:
      case Action::reenroll: return who.has(Role::operator_) || who.has(Role::enrollee);
      case Action::change_status:
      case Action::renew:
      case Action::decide_enrollment: return who.has(Role::operator_);
      case Action::read_audit: return who.has(Role::auditor);
      case Action::manage_cas: return false;
    }
    return false;
  }();
  if (!allowed) return refuse(describe(action));
  if (!ca.empty() && who.cas && !who.cas->contains(std::string(ca)) && !in_scope_by_successor(who, ca)) {
    return refuse("use CA '" + std::string(ca) + "'");
  }
  if (!profile.empty()) {
    auto found = ctx_.authority.settings().profiles.find(profile);
    if (!found) return std::unexpected(found.error());
    if (makes_authorities(*found)) {
      return refuse("use profile '" + found->name + "': it makes CAs or OCSP responders, for administrators only");
    }
    if (who.profiles && !who.profiles->contains(found->name)) return refuse("use profile '" + found->name + "'");
  }
  return {};
}

Result<std::string> Service::ca_name(std::int64_t id) {
  auto ca = ctx_.cas.find_ca(id);
  if (!ca) return std::unexpected(ca.error());
  return ca->name;
}

bool Service::in_scope_by_successor(const Principal& who, std::string_view ca) const {
  auto record = ctx_.cas.find_ca(ca);
  if (!record || !record->successor_id) return false;
  auto current = ctx_.authority.current_generation(*record);
  return current && who.cas && who.cas->contains(current->name);
}

Result<std::optional<std::vector<std::int64_t>>> Service::ca_scope_ids(const Principal& who) {
  if (who.is_admin() || !who.cas) return std::optional<std::vector<std::int64_t>>();
  auto cas = ctx_.cas.list_cas();
  if (!cas) return std::unexpected(cas.error());
  std::vector<std::int64_t> ids;
  for (const auto& ca : *cas) {
    // Every generation of a CA in scope: its old certificates are still its certificates.
    const CaRecord* current = &ca;
    for (int depth = 0; current->successor_id && depth < 64; ++depth) {
      auto next = std::ranges::find(*cas, *current->successor_id, &CaRecord::id);
      if (next == cas->end()) break;
      current = &*next;
    }
    if (who.cas->contains(current->name)) ids.push_back(ca.id);
  }
  return std::optional<std::vector<std::int64_t>>(std::move(ids));
}

Result<Issued> Service::issued(IssuedCertificate certificate) {
  auto name = ca_name(certificate.record.issuer_id);
  if (!name) return std::unexpected(name.error());
  return Issued{std::move(certificate), std::move(*name)};
}

// ---------------------------------------------------------------- CAs

Result<std::vector<CaInfo>> Service::list_cas(const Principal& who) {
  if (auto ok = authorize(who, Action::read_cas); !ok) return std::unexpected(ok.error());
  auto cas = ctx_.cas.list_cas();
  if (!cas) return std::unexpected(cas.error());
  std::vector<CaInfo> out;
  for (auto& ca : *cas) {
    if (ca.parent_id && std::ranges::find(*cas, *ca.parent_id, &CaRecord::id) == cas->end()) {
      return fail(Errc::storage, "parent of CA '" + ca.name + "' is missing");
    }
    out.push_back(describe_ca(ca, *cas));
  }
  return out;
}

CaInfo Service::describe_ca(const CaRecord& ca, const std::vector<CaRecord>& cas) {
  CaInfo info{ca, "", "", ""};
  for (const auto& other : cas) {
    if (ca.parent_id && other.id == *ca.parent_id) info.parent = other.name;
    if (ca.successor_id && other.id == *ca.successor_id) info.successor = other.name;
    if (other.successor_id && *other.successor_id == ca.id) info.predecessor = other.name;
  }
  return info;
}

Result<CaInfo> Service::get_ca(const Principal& who, std::string_view name) {
  if (auto ok = authorize(who, Action::read_cas); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.cas.find_ca(name);
  if (!ca) return std::unexpected(ca.error());
  auto cas = ctx_.cas.list_cas();
  if (!cas) return std::unexpected(cas.error());
  return describe_ca(*ca, *cas);
}

Result<CaInfo> Service::get_published_ca(const Principal& who, std::string_view publication_name) {
  if (auto ok = authorize(who, Action::read_cas); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.cas.find_ca_by_publication_name(publication_name);
  if (!ca) return std::unexpected(ca.error());
  // The publication routes need the record alone (certificate, chain): no list of every CA per request.
  return CaInfo{std::move(*ca), "", "", ""};
}

Result<std::vector<X509Ptr>> Service::ca_certificates_with_rollover(const Principal& who, std::string_view name) {
  auto ca = get_ca(who, name);
  if (!ca) return std::unexpected(ca.error());
  auto chain = ctx_.authority.chain(ca->record);
  if (!chain) return std::unexpected(chain.error());
  // The chain ends at a root held here: the new generation of a rolled-over root (it holds the link
  // certificates), or the old one, for a CA below it that was not rolled over with it.
  CaRecord root = ca->record;
  while (root.parent_id) {
    auto parent = ctx_.cas.find_ca(*root.parent_id);
    if (!parent) return std::unexpected(parent.error());
    root = std::move(*parent);
  }
  std::optional<CaRecord> newer;
  if (!root.rollover_pem.empty()) {
    newer = root;
  } else if (root.successor_id) {
    auto successor = ctx_.cas.find_ca(*root.successor_id);
    if (!successor) return std::unexpected(successor.error());
    if (!successor->rollover_pem.empty()) newer = std::move(*successor);
  }
  if (!newer) return chain;
  auto links = parse_certificates(newer->rollover_pem);
  if (!links) return std::unexpected(links.error());
  // Both end with the old root: once it has expired nothing is left to link (and a client would
  // only be handed expired certificates).
  const auto now = ctx_.clock.now();
  const bool under_way = std::ranges::all_of(*links, [&](const X509Ptr& link) { return not_after(link.get()) > now; });
  if (!under_way) return chain;
  for (auto& link : *links) chain->push_back(std::move(link));
  // RFC 7030 §4.1.3 asks for OldWithOld too; a chain that ends at the old root gets the new one.
  std::string other_root;
  if (newer->id == root.id) {
    auto cas = ctx_.cas.list_cas();
    if (!cas) return std::unexpected(cas.error());
    const auto older = std::ranges::find(*cas, std::optional(root.id), &CaRecord::successor_id);
    if (older != cas->end()) other_root = older->certificate_pem;
  } else {
    other_root = newer->certificate_pem;
  }
  if (!other_root.empty()) {
    auto certs = parse_certificates(other_root);
    if (!certs) return std::unexpected(certs.error());
    if (!certs->empty()) chain->push_back(std::move(certs->front()));
  }
  return chain;
}

Result<std::string> Service::ca_chain_pem(const Principal& who, std::string_view name) {
  auto ca = get_ca(who, name);
  if (!ca) return std::unexpected(ca.error());
  auto chain = ctx_.authority.chain(ca->record);
  if (!chain) return std::unexpected(chain.error());
  std::string pem;
  for (const auto& cert : *chain) pem += to_pem(cert.get());
  return pem;
}

Result<CaRecord> Service::create_ca(const Principal& who, CreateCaRequest request) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  auto lab = is_lab_instance();
  if (!lab) return std::unexpected(lab.error());
  if (*lab && request.common_name.find("LAB") == std::string::npos) request.common_name = "LAB " + request.common_name;
  return ctx_.authority.create_ca(request);
}

Result<bool> Service::is_lab_instance() { return ctx_.marks.is_lab_instance(); }

Result<void> Service::mark_lab_instance(const Principal& who) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  return ctx_.marks.mark_lab_instance(AuditEvent{who.id, "instance.mark-lab", "instance", "{}", ctx_.clock.now()});
}

Result<void> Service::require_lab_instance() {
  auto lab = is_lab_instance();
  if (!lab) return std::unexpected(lab.error());
  if (!*lab) {
    return fail(Errc::policy_refused,
                "this is not a lab instance: lab commands only work on a data directory made by `init --lab`");
  }
  return {};
}

Result<CaRecord> Service::create_external_ca_csr(const Principal& who, ExternalCaCsrRequest request) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  return ctx_.authority.create_external_ca_csr(request);
}

Result<CaRecord> Service::import_signed_ca(const Principal& who, std::string_view name, std::string_view chain_pem) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  return ctx_.authority.import_signed_ca(name, chain_pem, who.id);
}

Result<CaRecord> Service::import_ca(const Principal& who, ImportCaRequest request) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  auto imported = ctx_.authority.import_ca(request);
  OPENSSL_cleanse(request.private_key_pem.data(), request.private_key_pem.size());
  OPENSSL_cleanse(request.passphrase.data(), request.passphrase.size());
  return imported;
}

Result<void> Service::set_default_ca(const Principal& who, std::string_view name) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  return ctx_.authority.set_default_ca(name, who.id);
}

Result<CaRollover> Service::rollover_ca(const Principal& who, RolloverCaRequest request) {
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  return ctx_.authority.rollover_ca(request);
}

// ---------------------------------------------------------------- certificates

Result<Page<CertificateInfo>> Service::list_certificates(const Principal& who, const CertificateQuery& query) {
  if (auto ok = authorize(who, Action::read_certificates, query.ca.value_or("")); !ok) return std::unexpected(ok.error());
  CertificateFilter filter;
  if (query.ca) {
    auto ca = ctx_.cas.find_ca(*query.ca);
    if (!ca) return std::unexpected(ca.error());
    filter.issuer_id = ca->id;
  } else {
    auto scope = ca_scope_ids(who);
    if (!scope) return std::unexpected(scope.error());
    filter.issuer_in = std::move(*scope);
  }
  filter.status = query.status;
  filter.profile = query.profile;
  filter.common_name = query.common_name;
  filter.name_contains = query.name_contains;
  filter.issued_after = query.issued_after;
  if (query.expiring_before) filter.expiring_before = query.expiring_before;
  if (query.expiring_within_days) {
    const auto now = ctx_.clock.now();
    filter.not_expired_at = now;
    filter.expiring_before = now + std::chrono::days(*query.expiring_within_days);
  }
  if (query.cursor) {
    auto after = parse_cursor(*query.cursor);
    if (!after) return std::unexpected(after.error());
    filter.after_id = *after;
  }
  const auto limit = page_size(query.limit);
  filter.limit = limit + 1;  // one more tells whether another page follows
  auto rows = ctx_.certificates.list_certificates(filter);
  if (!rows) return std::unexpected(rows.error());
  auto cas = ctx_.cas.list_cas();
  if (!cas) return std::unexpected(cas.error());
  std::vector<CertificateInfo> infos;
  infos.reserve(rows->size());
  for (auto& row : *rows) {
    auto it = std::ranges::find(*cas, row.issuer_id, &CaRecord::id);
    infos.push_back(CertificateInfo{std::move(row), it == cas->end() ? std::string() : it->name});
  }
  return paginate(std::move(infos), limit, [](const CertificateInfo& c) { return c.record.id; });
}

Result<CertificateInfo> Service::get_certificate(const Principal& who, std::string_view serial,
                                                 std::optional<std::string_view> ca) {
  if (auto ok = authorize(who, Action::read_certificates); !ok) return std::unexpected(ok.error());
  auto found = locate(serial, ca);
  if (!found) return found;
  if (auto ok = authorize(who, Action::read_certificates, found->ca); !ok) return std::unexpected(ok.error());
  return found;
}

Result<Issued> Service::issue(const Principal& who, IssueRequest request) {
  if (auto ok = authorize(who, Action::issue); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.authority.find_ca(request.ca);  // the default CA when none is named
  if (!ca) return std::unexpected(ca.error());
  if (auto ok = authorize(who, Action::issue, ca->name, request.profile); !ok) return std::unexpected(ok.error());
  request.ca = ca->name;
  request.requester = who.id;
  auto certificate = ctx_.authority.issue(request);
  if (!certificate) return std::unexpected(certificate.error());
  return Issued{std::move(*certificate), ca->name};
}

Result<GeneratedCredentials> Service::keygen_issue(const Principal& who, const KeygenRequest& request) {
  if (auto ok = authorize(who, Action::issue); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.authority.find_ca(request.ca);
  if (!ca) return std::unexpected(ca.error());
  if (auto ok = authorize(who, Action::issue, ca->name, request.profile); !ok) return std::unexpected(ok.error());
  auto key = generate_key(request.key);
  if (!key) return std::unexpected(key.error());
  auto csr = build_csr(key->get(), request.common_name, request.sans);
  if (!csr) return std::unexpected(csr.error());
  auto certificate = ctx_.authority.issue(IssueRequest{
      .csr = to_pem(csr->get()),
      .profile = request.profile,
      .requester = who.id,
      .ca = ca->name,
      .validity_days = request.validity_days,
  });
  if (!certificate) return std::unexpected(certificate.error());
  return package_credentials(key->get(), std::move(*certificate), request.pkcs12_password);
}

Result<CaSigner> Service::ca_signer(const Principal& who, std::string_view ca_name) {
  if (ca_name.empty()) return fail(Errc::invalid_input, "a CA signer needs the CA's name");
  if (auto ok = authorize(who, Action::issue, ca_name); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.authority.find_ca(ca_name);
  if (!ca) return std::unexpected(ca.error());
  if (auto ok = ctx_.authority.check_can_issue(*ca); !ok) return std::unexpected(ok.error());
  auto chain = ctx_.authority.chain(*ca);
  if (!chain) return std::unexpected(chain.error());
  auto key = ctx_.authority.signing_key(*ca);
  if (!key) return std::unexpected(key.error());
  return CaSigner{std::move(*key), std::move(*chain)};
}

Result<CertificateInfo> Service::revoke(const Principal& who, RevokeRequest request) {
  if (auto ok = authorize(who, Action::change_status); !ok) return std::unexpected(ok.error());
  auto current = locate(request.serial, request.ca);
  if (!current) return std::unexpected(current.error());
  if (auto ok = authorize(who, Action::change_status, current->ca, current->record.profile); !ok) {
    return std::unexpected(ok.error());
  }
  request.ca = current->ca;
  request.requester = who.id;
  auto record = ctx_.authority.revoke(request);
  if (!record) return std::unexpected(record.error());
  return CertificateInfo{std::move(*record), current->ca};
}

Result<CertificateInfo> Service::release_hold(const Principal& who, std::string_view serial,
                                              std::optional<std::string_view> ca) {
  if (auto ok = authorize(who, Action::change_status); !ok) return std::unexpected(ok.error());
  auto current = locate(serial, ca);
  if (!current) return std::unexpected(current.error());
  if (auto ok = authorize(who, Action::change_status, current->ca, current->record.profile); !ok) {
    return std::unexpected(ok.error());
  }
  auto record = ctx_.authority.release_hold(serial, current->ca, who.id);
  if (!record) return std::unexpected(record.error());
  return CertificateInfo{std::move(*record), current->ca};
}

Result<Issued> Service::renew(const Principal& who, std::string_view serial, std::optional<std::string_view> ca,
                              std::string_view csr) {
  if (auto ok = authorize(who, Action::renew); !ok) return std::unexpected(ok.error());
  auto current = locate(serial, ca);
  if (!current) return std::unexpected(current.error());
  if (auto ok = authorize(who, Action::renew, current->ca, current->record.profile); !ok) return std::unexpected(ok.error());
  auto certificate = ctx_.authority.renew(serial, current->ca, csr, who.id);
  if (!certificate) return std::unexpected(certificate.error());
  return issued(std::move(*certificate));
}

Result<Issued> Service::reenroll(const Principal& who, std::string_view presented_certificate, std::string_view csr_text) {
  if (auto ok = authorize(who, Action::reenroll); !ok) return std::unexpected(ok.error());
  auto presented = parse_certificate(presented_certificate);
  if (!presented) return std::unexpected(presented.error());
  const auto der = to_der(presented->get());
  auto matches = ctx_.certificates.find_by_serial(serial_hex(presented->get()));
  if (!matches) return std::unexpected(matches.error());
  auto found = std::ranges::find(*matches, der, &CertificateRecord::der);
  if (found == matches->end()) {
    return fail(Errc::policy_refused, "the presented certificate was not issued by this instance");
  }
  const CertificateRecord old = *found;
  auto ca = ca_name(old.issuer_id);
  if (!ca) return std::unexpected(ca.error());
  if (auto ok = authorize(who, Action::reenroll, *ca, old.profile); !ok) return std::unexpected(ok.error());
  // A revoked or held certificate never re-enrols: re-enrolment must not undo a revocation.
  if (old.status != CertificateStatus::valid) {
    return fail(Errc::policy_refused, "certificate " + old.serial + " is " + to_string(old.status) + " and cannot re-enrol");
  }
  if (old.not_after <= ctx_.clock.now()) {
    return fail(Errc::policy_refused, "certificate " + old.serial + " has expired and cannot re-enrol");
  }
  auto csr = parse_csr(csr_text);
  if (!csr) return std::unexpected(csr.error());
  const std::string asked_cn = common_name(X509_REQ_get_subject_name(csr->get()));
  if (asked_cn != old.common_name) {
    return fail(Errc::policy_refused, "re-enrolment asks for CN '" + asked_cn + "'; certificate " + old.serial +
                                          " is for '" + old.common_name + "'");
  }
  const auto asked_sans = san_set(requested_subject_alt_names(csr->get()));
  const auto old_sans = san_set(subject_alt_names(presented->get()));
  // The CN joins the SANs at issue, so a CSR may leave it out of its SANs.
  auto without_cn = old_sans;
  without_cn.erase("DNS:" + old.common_name);
  if (asked_sans != old_sans && asked_sans != without_cn) {
    return fail(Errc::policy_refused, "re-enrolment must ask for the same subject alternative names as certificate " +
                                          old.serial);
  }
  auto certificate = ctx_.authority.renew(old.serial, *ca, csr_text, who.id);
  if (!certificate) return std::unexpected(certificate.error());
  return issued(std::move(*certificate));  // the issuer's current generation, after a rollover
}

// ---------------------------------------------------------------- enrolments

Result<EnrollmentInfo> Service::submit_enrollment(const Principal& who, const EnrollmentSubmission& submission) {
  if (auto ok = authorize(who, Action::submit_enrollment); !ok) return std::unexpected(ok.error());
  auto ca = ctx_.authority.find_ca(submission.ca);
  if (!ca) return std::unexpected(ca.error());
  if (auto ok = authorize(who, Action::submit_enrollment, ca->name, submission.profile); !ok) {
    return std::unexpected(ok.error());
  }
  auto csr = parse_csr(submission.csr);
  if (!csr) return std::unexpected(csr.error());
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr->get());
  if (!key || X509_REQ_verify(csr->get(), key) != 1) {
    return fail_openssl(Errc::invalid_input, "the CSR's signature does not verify");
  }
  EnrollmentRecord record;
  record.label = submission.label;
  record.requester = who.id;
  record.issuer_id = ca->id;
  record.profile = submission.profile;
  record.common_name = common_name(X509_REQ_get_subject_name(csr->get()));
  record.csr_pem = to_pem(csr->get());
  record.state = EnrollmentState::pending;
  record.created_at = ctx_.clock.now();
  const AuditEvent audit{who.id, "enrollment.submit", "ca:" + ca->name,
                         "{\"label\":" + json_string(record.label) + ",\"profile\":" + json_string(record.profile) +
                             ",\"common_name\":" + json_string(record.common_name) + "}",
                         record.created_at};
  auto id = ctx_.enrollments.insert_enrollment(record, audit);
  if (!id) return std::unexpected(id.error());
  record.id = *id;
  return EnrollmentInfo{std::move(record), ca->name};
}

Result<Page<EnrollmentInfo>> Service::list_enrollments(const Principal& who, const EnrollmentQuery& query) {
  if (auto ok = authorize(who, Action::read_enrollments); !ok) return std::unexpected(ok.error());
  EnrollmentFilter filter;
  filter.state = query.state;
  auto scope = ca_scope_ids(who);
  if (!scope) return std::unexpected(scope.error());
  filter.issuer_in = std::move(*scope);
  if (query.cursor) {
    auto after = parse_cursor(*query.cursor);
    if (!after) return std::unexpected(after.error());
    filter.after_id = *after;
  }
  const auto limit = page_size(query.limit);
  filter.limit = limit + 1;
  auto rows = ctx_.enrollments.list_enrollments(filter);
  if (!rows) return std::unexpected(rows.error());
  std::vector<EnrollmentInfo> infos;
  for (auto& row : *rows) {
    auto name = ca_name(row.issuer_id);
    if (!name) return std::unexpected(name.error());
    infos.push_back(EnrollmentInfo{std::move(row), std::move(*name)});
  }
  return paginate(std::move(infos), limit, [](const EnrollmentInfo& e) { return e.record.id; });
}

Result<EnrollmentInfo> Service::get_enrollment(const Principal& who, std::int64_t id) {
  auto record = ctx_.enrollments.find_enrollment(id);
  if (!record) return std::unexpected(record.error());
  auto name = ca_name(record->issuer_id);
  if (!name) return std::unexpected(name.error());
  // A requester may always look at its own request (an EST client polling after 202).
  if (record->requester != who.id) {
    if (auto ok = authorize(who, Action::read_enrollments, *name); !ok) return std::unexpected(ok.error());
  }
  return EnrollmentInfo{std::move(*record), std::move(*name)};
}

Result<EnrollmentInfo> Service::decidable_enrollment(const Principal& who, std::int64_t id) {
  if (auto ok = authorize(who, Action::decide_enrollment); !ok) return std::unexpected(ok.error());
  auto pending = ctx_.enrollments.find_enrollment(id);
  if (!pending) return std::unexpected(pending.error());
  auto ca = ca_name(pending->issuer_id);
  if (!ca) return std::unexpected(ca.error());
  // The profile too: an operator scoped away from a profile decides none of its requests, either way.
  if (auto ok = authorize(who, Action::decide_enrollment, *ca, pending->profile); !ok) return std::unexpected(ok.error());
  return EnrollmentInfo{std::move(*pending), std::move(*ca)};
}

Result<Issued> Service::approve_enrollment(const Principal& who, std::int64_t id) {
  auto decidable = decidable_enrollment(who, id);
  if (!decidable) return std::unexpected(decidable.error());
  auto& [pending, ca] = *decidable;

  // Claimed first, so two approvers cannot both issue; handed back to pending if issuing fails.
  const std::string object = "enrollment:" + std::to_string(id);
  const auto now = ctx_.clock.now();
  auto claimed = ctx_.enrollments.change_enrollment(
      id, EnrollmentChange{EnrollmentState::pending, EnrollmentState::approved, who.id, now, std::nullopt, std::nullopt},
      AuditEvent{who.id, "enrollment.approve", object, "{}", now});
  if (!claimed) return std::unexpected(claimed.error());

  auto certificate = ctx_.authority.issue(IssueRequest{
      .csr = pending.csr_pem, .profile = pending.profile, .requester = who.id, .ca = ca, .validity_days = {}});
  if (!certificate) {
    auto reverted = ctx_.enrollments.change_enrollment(
        id, EnrollmentChange{EnrollmentState::approved, EnrollmentState::pending, std::nullopt, std::nullopt, std::nullopt,
                             std::nullopt},
        AuditEvent{who.id, "enrollment.approve-failed", object,
                   "{\"reason\":" + json_string(certificate.error().message) + "}", ctx_.clock.now()});
    if (!reverted) return std::unexpected(reverted.error());
    return std::unexpected(certificate.error());
  }
  auto recorded = ctx_.enrollments.change_enrollment(
      id, EnrollmentChange{EnrollmentState::approved, EnrollmentState::approved, who.id, now, std::nullopt,
                           certificate->record.serial},
      AuditEvent{who.id, "enrollment.issued", object, "{\"serial\":" + json_string(certificate->record.serial) + "}",
                 ctx_.clock.now()});
  if (!recorded) return std::unexpected(recorded.error());
  return Issued{std::move(*certificate), std::move(ca)};
}

Result<EnrollmentInfo> Service::reject_enrollment(const Principal& who, std::int64_t id, std::string reason) {
  auto decidable = decidable_enrollment(who, id);
  if (!decidable) return std::unexpected(decidable.error());
  auto& ca = decidable->ca;
  const auto now = ctx_.clock.now();
  auto rejected = ctx_.enrollments.change_enrollment(
      id, EnrollmentChange{EnrollmentState::pending, EnrollmentState::rejected, who.id, now, reason, std::nullopt},
      AuditEvent{who.id, "enrollment.reject", "enrollment:" + std::to_string(id), "{\"reason\":" + json_string(reason) + "}",
                 now});
  if (!rejected) return std::unexpected(rejected.error());
  return EnrollmentInfo{std::move(*rejected), std::move(ca)};
}

// ---------------------------------------------------------------- audit

Result<void> Service::record_decision(const Principal& who, std::string action, std::string object,
                                      std::string detail) {
  const auto parsed = nlohmann::json::parse(detail, nullptr, false);
  if (action.empty() || object.empty() || parsed.is_discarded() || !parsed.is_object()) {
    return fail(Errc::invalid_input, "a decision needs an action, an object and a JSON object as detail");
  }
  return ctx_.audit.append(AuditEvent{who.id, std::move(action), std::move(object), std::move(detail), ctx_.clock.now()});
}

Result<Page<AuditEntry>> Service::audit_entries(const Principal& who, std::optional<std::string> cursor,
                                                std::size_t limit) {
  if (auto ok = authorize(who, Action::read_audit); !ok) return std::unexpected(ok.error());
  std::int64_t after = 0;
  if (cursor) {
    auto parsed = parse_cursor(*cursor);
    if (!parsed) return std::unexpected(parsed.error());
    after = *parsed;
  }
  const auto size = page_size(limit);
  auto rows = ctx_.audit.entries(after, size + 1);
  if (!rows) return std::unexpected(rows.error());
  return paginate(std::move(*rows), size, [](const AuditEntry& e) { return e.sequence; });
}

Result<Page<AuditEntry>> Service::audit_entries(const Principal& who, const AuditQuery& query) {
  if (auto ok = authorize(who, Action::read_audit); !ok) return std::unexpected(ok.error());
  std::int64_t after = 0;
  if (query.cursor) {
    auto parsed = parse_cursor(*query.cursor);
    if (!parsed) return std::unexpected(parsed.error());
    after = *parsed;
  }
  const auto wanted = [&](const AuditEntry& e) {
    if (query.actor && e.event.actor != *query.actor) return false;
    if (query.action) {
      const bool prefix = query.action->ends_with('.');
      if (prefix ? !e.event.action.starts_with(*query.action) : e.event.action != *query.action) return false;
    }
    if (query.since && e.event.at < *query.since) return false;
    if (query.until && e.event.at >= *query.until) return false;
    return true;
  };
  const auto size = page_size(query.limit);
  constexpr std::size_t kChunk = 1000;
  Page<AuditEntry> page;
  std::size_t scanned = 0;
  for (;;) {
    auto rows = ctx_.audit.entries(after, kChunk);
    if (!rows) return std::unexpected(rows.error());
    for (auto& row : *rows) {
      after = row.sequence;
      ++scanned;
      if (!wanted(row)) continue;
      page.items.push_back(std::move(row));
      if (page.items.size() == size) {
        page.next_cursor = make_cursor(after);
        return page;
      }
    }
    if (rows->size() < kChunk) return page;  // the end of the log
    if (scanned >= kMaxAuditScan) {
      page.next_cursor = make_cursor(after);
      return page;
    }
  }
}

Result<AuditCheck> Service::verify_audit(const Principal& who) {
  if (auto ok = authorize(who, Action::read_audit); !ok) return std::unexpected(ok.error());
  if (!ctx_.verify_audit) return fail(Errc::internal, "this store cannot verify its audit chain");
  return ctx_.verify_audit();
}

}  // namespace fca::service
