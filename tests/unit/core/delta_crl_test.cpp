// Delta CRLs (RFC 5280 5.2.4): what a status change makes at once, what it lists, and what openssl
// makes of a base and its delta together.
#include <catch2/catch.hpp>

#include <map>

#include "authority_fixture.hpp"
#include "fca/core/crl.hpp"
#include "fca/core/x509.hpp"

using namespace fca;
using fca::test::run;
using fca::test::shell_quote;

namespace {

struct DeltaFixture : fca::test::AuthorityFixture {
  CrlService crls{*database, *database, *keys, clock, CrlSettings{}, default_settings().urls};
  std::vector<CrlRecord> made;  // every CRL the status-change hook made, in order

  DeltaFixture() {
    // What Instance wires in every process: a status change makes the delta CRL only.
    authority->on_status_changed([this](const CaRecord& ca, const CertificateRecord&) {
      auto delta = crls.regenerate_delta(ca, "test");
      REQUIRE(delta.has_value());
      made.push_back(*delta);
    });
  }

  CaRecord issuing() { return *database->find_ca("issuing"); }

  void revoke(const IssuedCertificate& cert, RevocationReason reason) {
    auto done = authority->revoke({cert.record.serial, std::nullopt, reason, std::nullopt, "test"});
    INFO((done ? std::string() : done.error().message));
    REQUIRE(done.has_value());
  }

  std::string write_crl(const CrlRecord& record, const std::string& name) {
    const auto file = (dir / name).string();
    fca::test::write_file(file, to_pem(parse(record).get()));
    return file;
  }

  static X509CrlPtr parse(const CrlRecord& record) {
    const unsigned char* p = record.der.data();
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(record.der.size())));
    REQUIRE(crl);
    return crl;
  }

  fca::test::CommandResult verify(const IssuedCertificate& cert, const std::vector<std::string>& crl_files,
                                  const std::string& options) {
    fca::test::write_file(dir / "chain.pem", fca::test::read_file(dir / "root.pem") + fca::test::read_file(dir / "issuing.pem"));
    fca::test::write_file(dir / "check.pem", cert.pem());
    std::string crl_args;
    for (const auto& file : crl_files) crl_args += " -CRLfile " + shell_quote(file);
    return run("openssl verify -crl_check " + options + " -CAfile " + shell_quote((dir / "chain.pem").string()) + crl_args +
               " " + shell_quote((dir / "check.pem").string()));
  }
};

// serial (uppercase hex) -> reason code (-1: no reason extension)
std::map<std::string, int> entries_of(X509_CRL* crl) {
  std::map<std::string, int> out;
  const auto* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const auto* entry = sk_X509_REVOKED_value(revoked, i);
    int reason = -1;
    if (auto* code = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr))) {
      reason = static_cast<int>(ASN1_ENUMERATED_get(code));
      ASN1_ENUMERATED_free(code);
    }
    out[serial_hex(X509_REVOKED_get0_serialNumber(entry))] = reason;
  }
  return out;
}

std::optional<std::int64_t> integer_extension(const X509_CRL* crl, int nid, int* critical) {
  auto* value = static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, nid, critical, nullptr));
  if (!value) return std::nullopt;
  std::int64_t number = 0;
  ASN1_INTEGER_get_int64(&number, value);
  ASN1_INTEGER_free(value);
  return number;
}

}  // namespace

TEST_CASE("a delta CRL lists the revocations, holds, releases and hold-to-revocations since its base", "[crl][delta]") {
  DeltaFixture f;
  auto revoked_later = f.issue("revoked.example.com");
  auto held_later = f.issue("held.example.com");
  auto released = f.issue("released.example.com");
  auto held_then_revoked = f.issue("held-then-revoked.example.com");
  auto untouched = f.issue("untouched.example.com");
  f.revoke(released, RevocationReason::certificate_hold);
  f.revoke(held_then_revoked, RevocationReason::certificate_hold);

  auto base = f.crls.regenerate(f.issuing(), "test");
  REQUIRE(base.has_value());
  CHECK(base->entries == 2);
  f.made.clear();

  f.revoke(revoked_later, RevocationReason::key_compromise);
  f.revoke(held_later, RevocationReason::certificate_hold);
  REQUIRE(f.authority->release_hold(released.record.serial, std::nullopt, "test"));
  f.revoke(held_then_revoked, RevocationReason::superseded);

  // One delta per change, numbered from the full CRL's sequence, strictly increasing, all above the base.
  REQUIRE(f.made.size() == 4);
  std::int64_t previous = base->number;
  for (const auto& delta : f.made) {
    CHECK(delta.number > previous);
    CHECK(delta.base_number == base->number);
    previous = delta.number;
  }
  // The status changes made no full CRL: it is behind its issuer's revision until the rebuild.
  auto full = f.database->latest_crl(f.issuing().id);
  REQUIRE(full.has_value());
  CHECK(full->number == base->number);
  CHECK(full->revocation_revision < *f.database->revocation_revision(f.issuing().id));

  const auto& last = f.made.back();
  CHECK(last.entries == 4);
  auto crl = DeltaFixture::parse(last);
  int critical = 0;
  CHECK(integer_extension(crl.get(), NID_delta_crl, &critical) == base->number);
  CHECK(critical == 1);
  CHECK(integer_extension(crl.get(), NID_crl_number, &critical) == last.number);
  CHECK(X509_CRL_get_ext_by_NID(crl.get(), NID_freshest_crl, -1) < 0);  // RFC 5280 5.2.6

  const auto entries = entries_of(crl.get());
  CHECK(entries.size() == 4);
  CHECK(entries.at(revoked_later.record.serial) == static_cast<int>(RevocationReason::key_compromise));
  CHECK(entries.at(held_later.record.serial) == static_cast<int>(RevocationReason::certificate_hold));
  CHECK(entries.at(released.record.serial) == static_cast<int>(RevocationReason::remove_from_crl));
  CHECK(entries.at(held_then_revoked.record.serial) == static_cast<int>(RevocationReason::superseded));
  CHECK_FALSE(entries.contains(untouched.record.serial));

  // Same issuingDistributionPoint as the base; the base points at the delta with freshestCRL.
  const auto delta_text = run("openssl crl -noout -text -in " + shell_quote(f.write_crl(last, "delta.pem"))).output;
  const auto base_text = run("openssl crl -noout -text -in " + shell_quote(f.write_crl(*base, "base.pem"))).output;
  CHECK_THAT(delta_text, Catch::Contains("Delta CRL Indicator: critical"));
  CHECK_THAT(delta_text, Catch::Contains("URI:http://127.0.0.1:8080/crl/issuing.crl"));
  CHECK_THAT(base_text, Catch::Contains("Freshest CRL"));
  CHECK_THAT(base_text, Catch::Contains("URI:http://127.0.0.1:8080/crl/issuing-delta.crl"));

  // A rebuilt full CRL is the new base: its fresh delta lists nothing.
  auto rebuilt = f.crls.regenerate(f.issuing(), "test");
  REQUIRE(rebuilt.has_value());
  CHECK(rebuilt->number > last.number);
  CHECK(rebuilt->entries == 3);  // revoked, held, held-then-revoked
  auto fresh = f.crls.current_delta(f.issuing());
  REQUIRE(fresh.has_value());
  CHECK(fresh->base_number == rebuilt->number);
  CHECK(fresh->number > rebuilt->number);
  CHECK(fresh->entries == 0);
}

TEST_CASE("openssl verify -use_deltas: a base and its delta report a revocation made after the base", "[crl][delta]") {
  DeltaFixture f;
  auto later = f.issue("later.example.com");
  auto held = f.issue("held.example.com");
  auto good = f.issue("good.example.com");
  // Certificates point at the delta CRLs (non-critical freshestCRL, next to the CDP).
  const auto cert_text = run("echo " + shell_quote(later.pem()) + " | openssl x509 -noout -text").output;
  CHECK_THAT(cert_text, Catch::Contains("X509v3 Freshest CRL"));
  CHECK_THAT(cert_text, Catch::Contains("URI:http://127.0.0.1:8080/crl/issuing-delta.crl"));

  f.revoke(held, RevocationReason::certificate_hold);
  auto base = f.crls.regenerate(f.issuing(), "test");
  REQUIRE(base.has_value());
  f.revoke(later, RevocationReason::key_compromise);
  REQUIRE(f.authority->release_hold(held.record.serial, std::nullopt, "test"));
  auto delta = f.crls.current_delta(f.issuing());
  REQUIRE(delta.has_value());
  const auto base_file = f.write_crl(*base, "base.pem");
  const auto delta_file = f.write_crl(*delta, "delta.pem");

  // The base alone does not know of the revocation; with its delta it does.
  auto base_only = f.verify(later, {base_file}, "-use_deltas");
  INFO(base_only.output);
  CHECK(base_only.exit_code == 0);
  auto with_delta = f.verify(later, {base_file, delta_file}, "-use_deltas");
  INFO(with_delta.output);
  CHECK(with_delta.exit_code != 0);
  CHECK_THAT(with_delta.output, Catch::Contains("certificate revoked"));
  // Released since the base: held in the base, removeFromCRL in the delta, so accepted.
  auto held_base_only = f.verify(held, {base_file}, "-use_deltas");
  CHECK(held_base_only.exit_code != 0);
  auto released = f.verify(held, {base_file, delta_file}, "-use_deltas");
  INFO(released.output);
  CHECK(released.exit_code == 0);
  auto still_good = f.verify(good, {base_file, delta_file}, "-use_deltas");
  INFO(still_good.output);
  CHECK(still_good.exit_code == 0);
}

TEST_CASE("a first status change of a CA without any CRL makes a full CRL, not a delta", "[crl][delta]") {
  DeltaFixture f;
  auto cert = f.issue("first.example.com");
  f.revoke(cert, RevocationReason::key_compromise);
  REQUIRE(f.made.size() == 1);
  CHECK_FALSE(f.made.front().base_number.has_value());
  CHECK(f.made.front().entries == 1);
  // ...followed by its (empty) delta, so a delta URL always has an answer.
  auto delta = f.database->latest_delta_crl(f.issuing().id);
  REQUIRE(delta.has_value());
  CHECK(delta->base_number == f.made.front().number);
}

TEST_CASE("in the background mode current() serves a full CRL behind a change; refresh_due rebuilds it once",
          "[crl][delta]") {
  DeltaFixture f;
  f.crls.set_rebuild_in_background(true);
  REQUIRE(*f.crls.refresh_due() == 2);  // the root's and the issuing CA's first CRLs
  auto base = f.database->latest_crl(f.issuing().id);
  REQUIRE(base.has_value());
  for (int i = 0; i < 5; ++i) f.revoke(f.issue("burst" + std::to_string(i) + ".example.com"), RevocationReason::superseded);
  auto served = f.crls.current(f.issuing());
  REQUIRE(served.has_value());
  CHECK(served->number == base->number);  // not rebuilt on the request
  CHECK(f.made.back().entries == 5);      // the delta carries the burst

  // The burst of five is one rebuild.
  auto rebuilt = f.crls.refresh_due();
  REQUIRE(rebuilt.has_value());
  CHECK(*rebuilt == 1);  // the issuing CA only: the root's CRL is not behind
  auto full = f.database->latest_crl(f.issuing().id);
  REQUIRE(full.has_value());
  CHECK(full->entries == 5);
  CHECK(full->revocation_revision == *f.database->revocation_revision(f.issuing().id));
  CHECK(*f.crls.refresh_due() == 0);
}
