#include "fca/core/crl.hpp"

#include <openssl/x509v3.h>

#include "fca/core/x509.hpp"

namespace fca {
namespace {

Asn1TimePtr asn1_time(TimePoint t) { return Asn1TimePtr(ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(t))); }

Result<Asn1IntegerPtr> serial_from_hex(const std::string& hex) {
  BIGNUM* raw = nullptr;
  if (!BN_hex2bn(&raw, hex.c_str())) return fail_openssl(Errc::internal, "bad serial " + hex);
  BignumPtr bn(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return fail_openssl(Errc::internal, "bad serial " + hex);
  return serial;
}

Result<void> add_entry(X509_CRL* crl, const RevokedEntry& entry) {
  std::unique_ptr<X509_REVOKED, OsslDeleter<X509_REVOKED_free>> revoked(X509_REVOKED_new());
  auto serial = serial_from_hex(entry.serial);
  if (!serial) return std::unexpected(serial.error());
  auto when = asn1_time(entry.revoked_at);
  if (!revoked || !X509_REVOKED_set_serialNumber(revoked.get(), serial->get()) ||
      !X509_REVOKED_set_revocationDate(revoked.get(), when.get())) {
    return fail_openssl(Errc::internal, "cannot build CRL entry");
  }
  // RFC 5280 5.3.1: the reason code unspecified SHOULD be absent.
  if (entry.reason != RevocationReason::unspecified) {
    std::unique_ptr<ASN1_ENUMERATED, OsslDeleter<ASN1_ENUMERATED_free>> reason(ASN1_ENUMERATED_new());
    if (!reason || !ASN1_ENUMERATED_set(reason.get(), static_cast<long>(entry.reason)) ||
        !X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason.get(), 0, 0)) {
      return fail_openssl(Errc::internal, "cannot add CRL reason");
    }
  }
  if (entry.invalidity_date) {
    std::unique_ptr<ASN1_GENERALIZEDTIME, OsslDeleter<ASN1_GENERALIZEDTIME_free>> date(
        ASN1_GENERALIZEDTIME_set(nullptr, std::chrono::system_clock::to_time_t(*entry.invalidity_date)));
    if (!date || !X509_REVOKED_add1_ext_i2d(revoked.get(), NID_invalidity_date, date.get(), 0, 0)) {
      return fail_openssl(Errc::internal, "cannot add invalidity date");
    }
  }
  if (!X509_CRL_add0_revoked(crl, revoked.get())) return fail_openssl(Errc::internal, "cannot add CRL entry");
  revoked.release();
  return {};
}

}  // namespace

Result<X509CrlPtr> build_crl(const X509* ca_cert, SigningKey& key, const std::vector<RevokedEntry>& entries,
                             std::int64_t crl_number, TimePoint this_update, TimePoint next_update,
                             const std::string& distribution_point) {
  X509CrlPtr crl(X509_CRL_new());
  auto last = asn1_time(this_update);
  auto next = asn1_time(next_update);
  if (!crl || !X509_CRL_set_version(crl.get(), 1) ||
      !X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert)) || !X509_CRL_set1_lastUpdate(crl.get(), last.get()) ||
      !X509_CRL_set1_nextUpdate(crl.get(), next.get())) {
    return fail_openssl(Errc::internal, "cannot build CRL");
  }
  for (const auto& entry : entries) {
    if (auto ok = add_entry(crl.get(), entry); !ok) return std::unexpected(ok.error());
  }
  X509_CRL_sort(crl.get());

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, const_cast<X509*>(ca_cert), nullptr, nullptr, crl.get(), 0);
  X509ExtensionPtr aki(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || !X509_CRL_add_ext(crl.get(), aki.get(), -1)) return fail_openssl(Errc::internal, "cannot add CRL AKI");

  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (!number || !ASN1_INTEGER_set_int64(number.get(), crl_number) ||
      !X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0)) {
    return fail_openssl(Errc::internal, "cannot add CRL number");
  }
  if (!distribution_point.empty()) {
    X509ExtensionPtr idp(X509V3_EXT_conf_nid(nullptr, &ctx, NID_issuing_distribution_point,
                                             ("critical,fullname:URI:" + distribution_point).c_str()));
    if (!idp || !X509_CRL_add_ext(crl.get(), idp.get(), -1)) return fail_openssl(Errc::internal, "cannot add CRL IDP");
  }
  if (auto ok = key.sign(crl.get()); !ok) return std::unexpected(ok.error());
  return crl;
}

CrlService::CrlService(CaRepository& cas, CrlRepository& crls, SigningKeys& keys, const Clock& clock, CrlSettings settings,
                       PublicationUrls urls)
    : cas_(cas), crls_(crls), keys_(keys), clock_(clock), settings_(settings), urls_(std::move(urls)) {}

void CrlService::on_published(PublishedHandler handler) {
  std::lock_guard lock(mutex_);
  handlers_.push_back(std::move(handler));
}

bool CrlService::due(const CrlRecord& crl) const { return crl.next_update - clock_.now() <= settings_.refresh_before; }

Result<CrlRecord> CrlService::regenerate(const CaRecord& ca, std::string_view actor) {
  std::lock_guard lock(mutex_);
  auto made = build_and_store(ca, actor);
  if (made) {
    status_.succeeded(ca.id, ca.name, clock_.now());
  } else {
    status_.failed(ca.id, ca.name, clock_.now(), made.error().message);
  }
  return made;
}

Result<CrlRecord> CrlService::build_and_store(const CaRecord& ca, std::string_view actor) {
  if (ca.state != CaState::active) return fail(Errc::conflict, "CA '" + ca.name + "' has no certificate yet");
  auto ca_cert = parse_certificate(ca.certificate_pem);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto key = keys_.get(ca.key_uri);
  if (!key) return std::unexpected(key.error());

  // Another process (a CLI revoke beside a running server) may store the same CRL number first; its
  // CRL may predate the change this one is for, so read the entries again and take the next number.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    const auto now = clock_.now();
    // Entries, number and revision from one snapshot: a CRL published by another process after the
    // entries were read has a number this snapshot cannot see, so ours collides and is made again.
    auto snapshot = crls_.crl_snapshot(ca.id, settings_.keep_expired ? std::nullopt : std::optional<TimePoint>(now));
    if (!snapshot) return std::unexpected(snapshot.error());
    const auto& entries = snapshot->entries;
    const std::int64_t number = snapshot->latest_number ? *snapshot->latest_number + 1 : 1;

    CrlRecord record;
    record.issuer_id = ca.id;
    record.number = number;
    record.this_update = std::chrono::time_point_cast<std::chrono::seconds>(now - settings_.backdate);
    record.next_update = std::chrono::time_point_cast<std::chrono::seconds>(now + settings_.validity);
    record.entries = static_cast<std::int64_t>(entries.size());
    record.revocation_revision = snapshot->revocation_revision;
    auto crl = build_crl(ca_cert->get(), **key, entries, number, record.this_update, record.next_update,
                         urls_.crl_url(ca.url_name()));
    if (!crl) return std::unexpected(crl.error());
    record.der = to_der(crl->get());

    const AuditEvent audit{std::string(actor), "crl.publish", "crl:" + ca.name,
                           "{\"number\":" + std::to_string(number) + ",\"entries\":" + std::to_string(record.entries) + "}",
                           now};
    if (auto stored = crls_.store_crl(record, audit); !stored) {
      if (stored.error().code == Errc::conflict && attempt < kAttempts) continue;
      return std::unexpected(stored.error());
    }
    for (const auto& handler : handlers_) handler(ca, record);
    return record;
  }
}

Result<bool> CrlService::needs_regeneration(const CaRecord& ca, const Result<CrlRecord>& last) {
  if (!last) {
    if (last.error().code == Errc::not_found) return true;
    return std::unexpected(last.error());
  }
  if (due(*last)) return true;
  auto revision = crls_.revocation_revision(ca.id);
  if (!revision) return std::unexpected(revision.error());
  return last->revocation_revision < *revision;
}

Result<CrlRecord> CrlService::current(const CaRecord& ca) {
  auto last = crls_.latest_crl(ca.id);
  auto needed = needs_regeneration(ca, last);
  if (!needed) return std::unexpected(needed.error());
  if (!*needed) return last;
  auto made = regenerate(ca, "system");
  // A CA whose key fails right now still has its last CRL served while that one has not expired: an
  // outdated CRL beats none, and the failure is in status() and the log of the next refresh.
  if (!made && last && last->next_update > clock_.now()) return last;
  return made;
}

Result<int> CrlService::refresh_due() {
  auto cas = cas_.list_cas();
  if (!cas) return std::unexpected(cas.error());
  int made = 0;
  PassFailures failures;
  for (const auto& ca : *cas) {
    if (ca.state != CaState::active) continue;
    auto needed = needs_regeneration(ca, crls_.latest_crl(ca.id));
    if (!needed) {
      {
        std::lock_guard lock(mutex_);
        status_.failed(ca.id, ca.name, clock_.now(), needed.error().message);
      }
      failures.add(ca.name, needed.error());
      continue;
    }
    if (!*needed) continue;
    if (auto fresh = regenerate(ca, "system"); !fresh) {
      failures.add(ca.name, fresh.error());
      continue;
    }
    ++made;
  }
  if (!failures.empty()) return failures.error("CRL refresh");
  return made;
}

std::map<std::int64_t, CaRefreshStatus> CrlService::status() {
  std::lock_guard lock(mutex_);
  return status_.by_ca();
}

}  // namespace fca
