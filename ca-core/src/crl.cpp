#include "fca/core/crl.hpp"

#include <openssl/x509v3.h>

#include <array>

#include "fca/core/x509.hpp"

namespace fca {
namespace {

Asn1TimePtr asn1_time(TimePoint t) { return Asn1TimePtr(ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(t))); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// What every entry of one CRL reuses, so an entry costs only the allocations OpenSSL's X509_REVOKED
// makes itself: the serial is decoded straight into bytes (no BIGNUM), the revocation time is set into
// one ASN1_TIME, and each reason code's extension is encoded once, not once per entry.
class EntryBuilder {
 public:
  Result<void> add(X509_CRL* crl, const RevokedEntry& entry) {
    std::unique_ptr<X509_REVOKED, OsslDeleter<X509_REVOKED_free>> revoked(X509_REVOKED_new());
    if (!revoked) return fail_openssl(Errc::internal, "cannot build CRL entry");
    if (auto ok = set_serial(entry.serial); !ok) return ok;
    if (!ASN1_TIME_set(time_.get(), std::chrono::system_clock::to_time_t(entry.revoked_at)) ||
        !X509_REVOKED_set_serialNumber(revoked.get(), serial_.get()) ||
        !X509_REVOKED_set_revocationDate(revoked.get(), time_.get())) {
      return fail_openssl(Errc::internal, "cannot build CRL entry");
    }
    // RFC 5280 5.3.1: the reason code unspecified SHOULD be absent.
    if (entry.reason != RevocationReason::unspecified) {
      auto reason = reason_extension(entry.reason);
      if (!reason) return std::unexpected(reason.error());
      if (!X509_REVOKED_add_ext(revoked.get(), *reason, -1)) return fail_openssl(Errc::internal, "cannot add CRL reason");
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

 private:
  // Uppercase or lowercase hex of a positive serial (at most 20 octets by RFC 5280; 64 accepted).
  Result<void> set_serial(const std::string& hex) {
    unsigned char bytes[65];
    std::size_t count = 0;
    std::size_t i = 0;
    if (hex.empty() || hex.size() > 128) return fail(Errc::internal, "bad serial " + hex);
    if (hex.size() % 2 == 1) {
      const int low = hex_digit(hex[0]);
      if (low < 0) return fail(Errc::internal, "bad serial " + hex);
      bytes[count++] = static_cast<unsigned char>(low);
      i = 1;
    }
    for (; i < hex.size(); i += 2) {
      const int high = hex_digit(hex[i]);
      const int low = hex_digit(hex[i + 1]);
      if (high < 0 || low < 0) return fail(Errc::internal, "bad serial " + hex);
      bytes[count++] = static_cast<unsigned char>(high << 4 | low);
    }
    // DER INTEGER content is minimal: no leading zero octets (the ASN1_INTEGER is positive, so
    // OpenSSL adds the one a high bit needs when it encodes).
    std::size_t first = 0;
    while (first + 1 < count && bytes[first] == 0) ++first;
    if (!ASN1_STRING_set(serial_.get(), bytes + first, static_cast<int>(count - first))) {
      return fail_openssl(Errc::internal, "bad serial " + hex);
    }
    return {};
  }

  Result<X509_EXTENSION*> reason_extension(RevocationReason reason) {
    const auto code = static_cast<std::size_t>(reason);
    if (code >= reasons_.size()) return fail(Errc::internal, "unknown revocation reason");
    if (!reasons_[code]) {
      std::unique_ptr<ASN1_ENUMERATED, OsslDeleter<ASN1_ENUMERATED_free>> value(ASN1_ENUMERATED_new());
      if (!value || !ASN1_ENUMERATED_set(value.get(), static_cast<long>(code))) {
        return fail_openssl(Errc::internal, "cannot add CRL reason");
      }
      reasons_[code].reset(X509V3_EXT_i2d(NID_crl_reason, 0, value.get()));
      if (!reasons_[code]) return fail_openssl(Errc::internal, "cannot add CRL reason");
    }
    return reasons_[code].get();
  }

  Asn1IntegerPtr serial_{ASN1_INTEGER_new()};
  Asn1TimePtr time_{ASN1_TIME_new()};
  std::array<X509ExtensionPtr, 11> reasons_;
};

// What signs a CA's CRLs, full and delta: its certificate and its opened key.
Result<std::pair<X509Ptr, std::shared_ptr<SigningKey>>> crl_signer(const CaRecord& ca, SigningKeys& keys) {
  if (ca.state != CaState::active) return fail(Errc::conflict, "CA '" + ca.name + "' has no certificate yet");
  auto ca_cert = parse_certificate(ca.certificate_pem);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto key = keys.get(ca.key_uri);
  if (!key) return std::unexpected(key.error());
  return std::pair{std::move(*ca_cert), std::move(*key)};
}

}  // namespace

Result<X509CrlPtr> build_crl(const X509* ca_cert, SigningKey& key, const std::vector<RevokedEntry>& entries,
                             std::int64_t crl_number, TimePoint this_update, TimePoint next_update,
                             const CrlScope& scope) {
  X509CrlPtr crl(X509_CRL_new());
  auto last = asn1_time(this_update);
  auto next = asn1_time(next_update);
  if (!crl || !X509_CRL_set_version(crl.get(), 1) ||
      !X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert)) || !X509_CRL_set1_lastUpdate(crl.get(), last.get()) ||
      !X509_CRL_set1_nextUpdate(crl.get(), next.get())) {
    return fail_openssl(Errc::internal, "cannot build CRL");
  }
  EntryBuilder builder;
  for (const auto& entry : entries) {
    if (auto ok = builder.add(crl.get(), entry); !ok) return std::unexpected(ok.error());
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
  if (scope.delta_base) {
    Asn1IntegerPtr base(ASN1_INTEGER_new());
    if (!base || !ASN1_INTEGER_set_int64(base.get(), *scope.delta_base) ||
        !X509_CRL_add1_ext_i2d(crl.get(), NID_delta_crl, base.get(), /*crit=*/1, 0)) {
      return fail_openssl(Errc::internal, "cannot add delta CRL indicator");
    }
  }
  if (!scope.distribution_point.empty()) {
    X509ExtensionPtr idp(X509V3_EXT_conf_nid(nullptr, &ctx, NID_issuing_distribution_point,
                                             ("critical,fullname:URI:" + scope.distribution_point).c_str()));
    if (!idp || !X509_CRL_add_ext(crl.get(), idp.get(), -1)) return fail_openssl(Errc::internal, "cannot add CRL IDP");
  }
  // RFC 5280 5.2.6: a delta CRL never carries freshestCRL.
  if (!scope.freshest.empty() && !scope.delta_base) {
    X509ExtensionPtr freshest(X509V3_EXT_conf_nid(nullptr, &ctx, NID_freshest_crl, ("URI:" + scope.freshest).c_str()));
    if (!freshest || !X509_CRL_add_ext(crl.get(), freshest.get(), -1)) {
      return fail_openssl(Errc::internal, "cannot add CRL freshestCRL");
    }
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
  Result<CrlRecord> made;
  {
    std::lock_guard lock(mutex_);
    made = build_and_store(ca, actor);
    if (made) {
      record_outcome(ca, {});
    } else {
      record_outcome(ca, made.error().message);
    }
  }
  // A fresh delta against the new base: relying parties that use deltas need one for every base. The
  // full CRL stands when it fails; the next status change or current_delta() makes it.
  if (made) (void)regenerate_delta(ca, actor);
  return made;
}

Result<CrlRecord> CrlService::regenerate_delta(const CaRecord& ca, std::string_view actor) {
  auto made = [&] {
    std::lock_guard lock(delta_mutex_);
    return build_and_store_delta(ca, actor);
  }();
  // The first CRL of a CA is a full one: a delta needs a base.
  if (!made && made.error().code == Errc::not_found) return regenerate(ca, actor);
  return made;
}

Result<CrlRecord> CrlService::build_and_store(const CaRecord& ca, std::string_view actor) {
  // The number is taken after the entries are read (and before the seconds of building at scale), so
  // a delta CRL made meanwhile numbers after this one and reads changes at least as new as its entries.
  // Only another full CRL, stored first from a newer snapshot, makes this one stale: build it again.
  auto stored = sign_and_store(ca, actor, [&](TimePoint now) -> Result<CrlDraft> {
    auto snapshot = crls_.crl_snapshot(ca.id, settings_.keep_expired ? std::nullopt : std::optional<TimePoint>(now));
    if (!snapshot) return std::unexpected(snapshot.error());
    auto number = crls_.reserve_crl_number(ca.id);
    if (!number) return std::unexpected(number.error());
    CrlDraft draft;
    draft.record.number = *number;
    draft.record.revocation_revision = snapshot->revocation_revision;
    draft.entries = std::move(snapshot->entries);
    return draft;
  });
  if (stored) {
    for (const auto& handler : handlers_) handler(ca, *stored);
  }
  return stored;
}

// A delta whose number another one took (two processes at once) is made again from a new snapshot.
Result<CrlRecord> CrlService::build_and_store_delta(const CaRecord& ca, std::string_view actor) {
  return sign_and_store(ca, actor, [&](TimePoint now) -> Result<CrlDraft> {
    auto snapshot = crls_.delta_snapshot(ca.id, settings_.keep_expired ? std::nullopt : std::optional<TimePoint>(now),
                                         std::chrono::time_point_cast<std::chrono::seconds>(now));
    if (!snapshot) return std::unexpected(snapshot.error());
    CrlDraft draft;
    draft.record.number = snapshot->number;
    draft.record.base_number = snapshot->base.number;
    draft.record.revocation_revision = snapshot->revocation_revision;
    draft.entries = std::move(snapshot->changes);
    return draft;
  });
}

Result<CrlRecord> CrlService::sign_and_store(const CaRecord& ca, std::string_view actor,
                                             const std::function<Result<CrlDraft>(TimePoint)>& draw) {
  auto signer = crl_signer(ca, keys_);
  if (!signer) return std::unexpected(signer.error());
  auto& [ca_cert, key] = *signer;
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    const auto now = clock_.now();
    auto draft = draw(now);
    if (!draft) return std::unexpected(draft.error());
    CrlRecord& record = draft->record;
    record.issuer_id = ca.id;
    record.this_update = std::chrono::time_point_cast<std::chrono::seconds>(now - settings_.backdate);
    record.next_update = std::chrono::time_point_cast<std::chrono::seconds>(now + settings_.validity);
    record.entries = static_cast<std::int64_t>(draft->entries.size());
    // A delta shares its base's issuingDistributionPoint and names the base; only a full CRL says where
    // the deltas are.
    const CrlScope scope{urls_.crl_url(ca.url_name()), record.base_number ? "" : urls_.delta_crl_url(ca.url_name()),
                         record.base_number};
    auto crl = build_crl(ca_cert.get(), *key, draft->entries, record.number, record.this_update, record.next_update, scope);
    if (!crl) return std::unexpected(crl.error());
    record.der = to_der(crl->get());

    std::string detail = "{\"number\":" + std::to_string(record.number) + ",\"entries\":" + std::to_string(record.entries);
    if (record.base_number) detail += ",\"delta_base\":" + std::to_string(*record.base_number);
    detail += "}";
    auto stored = crls_.store_crl(record, AuditEvent{std::string(actor), "crl.publish", "crl:" + ca.name, std::move(detail), now});
    if (stored) return std::move(record);
    if (stored.error().code != Errc::conflict || attempt == kAttempts) return std::unexpected(stored.error());
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
  Result<bool> needed = false;
  if (rebuild_in_background_) {
    // Only what no relying party can do without: a first CRL, or one that has expired.
    if (!last) {
      if (last.error().code != Errc::not_found) return last;
      needed = true;
    } else {
      needed = last->next_update <= clock_.now();
    }
  } else {
    needed = needs_regeneration(ca, last);
  }
  if (!needed) return std::unexpected(needed.error());
  if (!*needed) return last;
  auto made = regenerate(ca, "system");
  // A CA whose key fails right now still has its last CRL served while that one has not expired: an
  // outdated CRL beats none, and the failure is in status() and the log of the next refresh.
  if (!made && last && last->next_update > clock_.now()) return last;
  return made;
}

Result<CrlRecord> CrlService::current_delta(const CaRecord& ca) {
  // The base's header only: a full CRL runs to megabytes and a delta request needs its number.
  auto base = crls_.latest_crl_header(ca.id);
  if (!base && base.error().code != Errc::not_found) return base;
  if (!base || base->next_update <= clock_.now()) {
    base = current(ca);
    if (!base) return base;
  }
  // The stored delta when it is against this base, unexpired and not behind the issuer's revision.
  const auto usable = [&](bool fresh) -> Result<std::optional<CrlRecord>> {
    auto delta = crls_.latest_delta_crl(ca.id);
    if (!delta) {
      if (delta.error().code == Errc::not_found) return std::nullopt;
      return std::unexpected(delta.error());
    }
    if (delta->base_number != base->number || delta->next_update <= clock_.now()) return std::nullopt;
    if (fresh) {
      auto revision = crls_.revocation_revision(ca.id);
      if (!revision) return std::unexpected(revision.error());
      if (delta->revocation_revision < *revision) return std::nullopt;
    }
    return std::optional<CrlRecord>(std::move(*delta));
  };
  if (auto stored = usable(true); !stored || *stored) {
    if (!stored) return std::unexpected(stored.error());
    return std::move(**stored);
  }
  Result<CrlRecord> made = fail(Errc::internal, "no delta CRL made");
  {
    std::lock_guard lock(delta_mutex_);
    // Requests that queued here behind the one that made it take that one.
    if (auto stored = usable(true); stored && *stored) return std::move(**stored);
    made = build_and_store_delta(ca, "system");
  }
  if (made) return made;
  if (made.error().code == Errc::not_found) {
    // No full CRL after all: its regeneration makes the delta after it.
    if (auto full = regenerate(ca, "system"); !full) return std::unexpected(full.error());
    return crls_.latest_delta_crl(ca.id);
  }
  // An older delta of this base beats none while it has not expired.
  if (auto stored = usable(false); stored && *stored) return std::move(**stored);
  return made;
}

Result<int> CrlService::refresh_due() {
  auto cas = cas_.list_cas();
  if (!cas) return std::unexpected(cas.error());
  int made = 0;
  PassFailures failures;
  for (const auto& ca : *cas) {
    if (ca.state != CaState::active) continue;
    bool rebuilt = false;
    {
      // The check and the build under one lock: two refreshes at once (serve's rebuild thread and its
      // scheduler) build a stale CRL once, not twice.
      std::lock_guard lock(mutex_);
      auto needed = needs_regeneration(ca, crls_.latest_crl_header(ca.id));
      if (!needed) {
        record_outcome(ca, needed.error().message);
        failures.add(ca.name, needed.error());
        continue;
      }
      if (!*needed) continue;
      auto fresh = build_and_store(ca, "system");
      if (!fresh) {
        record_outcome(ca, fresh.error().message);
        failures.add(ca.name, fresh.error());
        continue;
      }
      record_outcome(ca, {});
      rebuilt = true;
    }
    if (rebuilt) {
      ++made;
      (void)regenerate_delta(ca, "system");
    }
  }
  if (!failures.empty()) return failures.error("CRL refresh");
  return made;
}

std::map<std::int64_t, CaRefreshStatus> CrlService::status() {
  std::lock_guard lock(status_mutex_);
  return status_.by_ca();
}

void CrlService::record_outcome(const CaRecord& ca, std::optional<std::string> failure) {
  std::lock_guard lock(status_mutex_);
  if (failure) {
    status_.failed(ca.id, ca.name, clock_.now(), *failure);
  } else {
    status_.succeeded(ca.id, ca.name, clock_.now());
  }
}

}  // namespace fca
