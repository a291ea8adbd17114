// CA rollover through the service: a root re-keyed under its name with its RFC 4210 link
// certificates, an intermediate re-keyed under its parent, the refusals (who, what) with nothing
// changed, and the old generation's standing afterwards (issues nothing, its certificates renew under
// the new generation, a scoped principal keeps them).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "fca/core/ocsp.hpp"
#include "fca/core/x509.hpp"
#include "fca/service/json.hpp"
#include "service_fixture.hpp"

using namespace fca;
using fca::test::ServiceFixture;
using fca::test::run;
using fca::test::shell_quote;
using fca::test::write_file;

namespace {

// What a refused rollover must leave alone: the CAs' rows, the audit log and the key files.
struct Snapshot {
  std::vector<std::string> cas;  // name, publication name, generation, successor, default, certificate
  std::int64_t audit = 0;
  std::size_t key_files = 0;
  std::int64_t certificates = 0;
  bool operator==(const Snapshot&) const = default;
};
}  // namespace

namespace Catch {
template <>
struct StringMaker<Snapshot> {
  static std::string convert(const Snapshot& s) {
    std::string names;
    for (const auto& ca : s.cas) names += ca.substr(0, ca.find("-----")) + "; ";  // without the PEM
    return names + std::to_string(s.audit) + " audit entries, " +
           std::to_string(s.key_files) + " key files, " + std::to_string(s.certificates) + " certificates";
  }
};
}  // namespace Catch

namespace {

Snapshot snapshot(ServiceFixture& f) {
  Snapshot s;
  const auto cas = f.database->list_cas();
  REQUIRE(cas);
  for (const auto& ca : *cas) {
    s.cas.push_back(ca.name + "|" + ca.publication_name + "|" + std::to_string(ca.generation) + "|" +
                    std::to_string(ca.successor_id.value_or(0)) + "|" + (ca.is_default ? "d" : "") + "|" + ca.certificate_pem);
  }
  s.audit = f.audit_entries();
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(f.dir / "keys")) ++s.key_files;
  s.certificates = f.certificate_rows();
  return s;
}

std::string write(ServiceFixture& f, const std::string& name, const std::string& pem) {
  const auto file = f.dir / name;
  write_file(file, pem);
  return shell_quote(file.string());
}

// The PEM of a certificate's public key, for comparing keys without parsing in the test.
std::string public_key_of(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), X509_get0_pubkey(const_cast<X509*>(cert)));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

RolloverCaRequest rollover_of(std::string name, std::optional<KeySpec> key = std::nullopt,
                              std::optional<int> validity_days = std::nullopt) {
  RolloverCaRequest request;
  request.name = std::move(name);
  request.key = key;
  request.validity_days = validity_days;
  request.requester = "ignored: the service names the principal";
  return request;
}

nlohmann::json detail_of(const AuditEntry& entry) { return nlohmann::json::parse(entry.event.detail); }

}  // namespace

TEST_CASE("a root rollover: same subject, new key, link certificates both ways, audited", "[service][rollover]") {
  ServiceFixture f;
  const auto old_root = *f.database->find_ca("root");
  const auto old_cert = *parse_certificate(old_root.certificate_pem);
  // A leaf of the root itself (the issuing CA stays below the old generation until it is rolled over too).
  auto before = f.service->issue(f.admin, f.request("before.example.com", "nmos-node", "root"));
  REQUIRE(before);
  const auto audit_before = f.audit_entries();

  auto done = f.service->rollover_ca(f.admin, rollover_of("root"));
  INFO((done ? "" : done.error().message));
  REQUIRE(done);
  CHECK(done->previous.name == "root-gen1");
  CHECK(done->previous.publication_name == "root");
  CHECK(done->current.name == "root");
  CHECK(done->current.generation == 2);
  CHECK(done->current.publication_name == "root-gen2");
  CHECK(done->current.subject == old_root.subject);
  CHECK(done->current.key_uri != old_root.key_uri);

  // The name resolves to the new generation; the old record keeps its id, certificate and URLs.
  auto now_named = f.service->get_ca(f.admin, "root");
  REQUIRE(now_named);
  CHECK(now_named->record.id == done->current.id);
  CHECK(now_named->predecessor == "root-gen1");
  auto old_named = f.service->get_ca(f.admin, "root-gen1");
  REQUIRE(old_named);
  CHECK(old_named->record.id == old_root.id);
  CHECK(old_named->record.certificate_pem == old_root.certificate_pem);
  CHECK(old_named->successor == "root");
  CHECK(f.service->get_published_ca(f.admin, "root")->record.id == old_root.id);
  CHECK(f.service->get_published_ca(f.admin, "root-gen2")->record.id == done->current.id);
  const auto json = service::to_json(*now_named);
  CHECK(json["generation"] == 2);
  CHECK(json["predecessor"] == "root-gen1");
  CHECK(json["publication_name"] == "root-gen2");
  CHECK(service::to_json(*old_named)["successor"] == "root");

  const auto new_cert = *parse_certificate(done->current.certificate_pem);
  auto links = parse_certificates(done->current.rollover_pem);
  REQUIRE(links);
  REQUIRE(links->size() == 2);
  const X509* old_with_new = (*links)[0].get();
  const X509* new_with_old = (*links)[1].get();
  // RFC 4210 §4.4: OldWithNew holds the old key, signed by the new one; NewWithOld the reverse.
  CHECK(public_key_of(old_with_new) == public_key_of(old_cert.get()));
  CHECK(public_key_of(new_with_old) == public_key_of(new_cert.get()));
  CHECK(signed_by(old_with_new, new_cert.get()));
  CHECK(signed_by(new_with_old, old_cert.get()));
  for (const X509* link : {old_with_new, new_with_old}) {
    CHECK(X509_NAME_cmp(X509_get_subject_name(const_cast<X509*>(link)), X509_get_subject_name(old_cert.get())) == 0);
    CHECK(X509_NAME_cmp(X509_get_issuer_name(const_cast<X509*>(link)), X509_get_subject_name(old_cert.get())) == 0);
    CHECK((X509_get_extension_flags(const_cast<X509*>(link)) & EXFLAG_CA) != 0);
    CHECK(not_after(link) <= old_root.not_after);
  }

  // The old generation's leaf: the old root, or the new root through OldWithNew; not the new root alone.
  const auto leaf = write(f, "before.pem", before->certificate.pem());
  const auto old_root_file = write(f, "old-root.pem", old_root.certificate_pem);
  const auto new_root_file = write(f, "new-root.pem", done->current.certificate_pem);
  const auto own_file = write(f, "own.pem", to_pem(old_with_new));
  CHECK(run("openssl verify -CAfile " + old_root_file + " " + leaf).exit_code == 0);
  auto through_link = run("openssl verify -CAfile " + new_root_file + " -untrusted " + own_file + " " + leaf);
  INFO(through_link.output);
  CHECK(through_link.exit_code == 0);
  CHECK(run("openssl verify -CAfile " + new_root_file + " " + leaf).exit_code != 0);

  // One ca.rollover entry by the administrator naming both keys and serials.
  const auto entries = f.audit_since(audit_before);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].event.action == "ca.rollover");
  CHECK(entries[0].event.actor == f.admin.id);
  CHECK(entries[0].event.object == "ca:root");
  const auto detail = detail_of(entries[0]);
  CHECK(detail["old_serial"] == serial_hex(old_cert.get()));
  CHECK(detail["new_serial"] == serial_hex(new_cert.get()));
  CHECK(detail["old_key_id"] != detail["new_key_id"]);
  CHECK(detail["old_key_id"].get<std::string>().size() == 40);
  CHECK(detail["previous"] == "root-gen1");
  CHECK(detail["link_certificates"] == serial_hex(old_with_new) + "," + serial_hex(new_with_old));
}

TEST_CASE("after a rollover the new generation issues and the old one refuses", "[service][rollover]") {
  ServiceFixture f;
  REQUIRE(f.service->rollover_ca(f.admin, rollover_of("root", KeySpec::parse("p384").value(), 100)));
  auto after = f.service->issue(f.admin, f.request("after.example.com", "nmos-node", "root"));
  REQUIRE(after);
  CHECK(after->ca == "root");
  CHECK(after->certificate.record.issuer_id == f.database->find_ca("root")->id);
  // Its URLs name the new generation's publication name.
  const std::string text = run("echo '" + after->certificate.pem() + "' | openssl x509 -noout -ext crlDistributionPoints,authorityInfoAccess").output;
  CHECK(text.find("/crl/root-gen2.crl") != std::string::npos);
  CHECK(text.find("/ca/root-gen2.crt") != std::string::npos);
  CHECK(describe_key(X509_get0_pubkey(after->certificate.chain.front().get()))->name() == "p384");

  const auto rows = f.certificate_rows();
  auto refused = f.service->issue(f.admin, f.request("old.example.com", "nmos-node", "root-gen1"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::policy_refused);
  CHECK(refused.error().message.find("was rolled over") != std::string::npos);
  CHECK(f.certificate_rows() == rows);
  // Nor can it become the default CA.
  auto made_default = f.service->set_default_ca(f.admin, "root-gen1");
  REQUIRE_FALSE(made_default);
  CHECK(made_default.error().code == Errc::policy_refused);
  CHECK(f.database->default_ca()->name == "issuing");
  // A second rollover of the old generation is refused by the same gate.
  auto again = f.service->rollover_ca(f.admin, rollover_of("root-gen1"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::policy_refused);
}

TEST_CASE("a second rollover: every generation keeps its publication name", "[service][rollover]") {
  ServiceFixture f;
  REQUIRE(f.service->rollover_ca(f.admin, rollover_of("root")));
  auto second = f.service->rollover_ca(f.admin, rollover_of("root"));
  REQUIRE(second);
  CHECK(second->previous.name == "root-gen2");
  CHECK(second->previous.publication_name == "root-gen2");
  CHECK(second->current.publication_name == "root-gen3");
  CHECK(second->current.generation == 3);
  CHECK(f.service->get_ca(f.admin, "root-gen1")->successor == "root-gen2");
  CHECK(f.service->get_ca(f.admin, "root-gen2")->successor == "root");
  // A new CA may not take a name another generation's URLs use.
  auto taken = f.service->create_ca(f.admin, CreateCaRequest{"root-gen3", "X", *KeySpec::parse("p256"), 10, std::nullopt,
                                                             std::nullopt, false, ""});
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::conflict);
}

TEST_CASE("an intermediate rollover: a new certificate from the parent, no link certificates", "[service][rollover]") {
  ServiceFixture f;
  auto old_leaf = f.service->issue(f.admin, f.request("node.example.com"));
  REQUIRE(old_leaf);
  const auto old_issuing = *f.database->find_ca("issuing");
  auto done = f.service->rollover_ca(f.admin, rollover_of("issuing"));
  REQUIRE(done);
  CHECK(done->current.rollover_pem.empty());
  CHECK(done->current.parent_id == old_issuing.parent_id);
  CHECK(done->current.subject == old_issuing.subject);
  CHECK(done->current.is_default);
  CHECK_FALSE(f.database->find_ca("issuing-gen1")->is_default);
  // The new certificate is a row of the root's register (revocable like any CA certificate).
  const auto new_cert = *parse_certificate(done->current.certificate_pem);
  CHECK(f.database->find_certificate(*old_issuing.parent_id, serial_hex(new_cert.get())));
  auto chain = f.service->ca_chain_pem(f.admin, "issuing");
  REQUIRE(chain);
  auto verified = run("openssl verify -CAfile " + shell_quote((f.dir / "root.pem").string()) + " " +
                      write(f, "new-issuing.pem", done->current.certificate_pem));
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  // /cacerts of its label: the chain alone.
  auto cacerts = f.service->ca_certificates_with_rollover(f.est, "issuing");
  REQUIRE(cacerts);
  CHECK(cacerts->size() == 2);

  // The default issues under the new generation; an EST client of the label keeps its old certificate:
  // it re-enrols (under the new generation) with it.
  auto fresh = f.service->issue(f.est, f.request("node2.example.com"));
  REQUIRE(fresh);
  CHECK(fresh->certificate.record.issuer_id == done->current.id);
  auto reenrolled = f.service->reenroll(f.est, old_leaf->certificate.pem(), f.csr("p256", "/CN=node.example.com", "DNS:node.example.com"));
  INFO((reenrolled ? "" : reenrolled.error().message));
  REQUIRE(reenrolled);
  CHECK(reenrolled->ca == "issuing");
  CHECK(reenrolled->certificate.record.issuer_id == done->current.id);
  // An operator scoped to "issuing" still sees and revokes the old generation's certificates.
  auto seen = f.service->get_certificate(f.operator_, old_leaf->certificate.record.serial, std::nullopt);
  REQUIRE(seen);
  CHECK(seen->ca == "issuing-gen1");
  RevokeRequest revoke;
  revoke.serial = old_leaf->certificate.record.serial;
  revoke.reason = RevocationReason::superseded;
  CHECK(f.service->revoke(f.operator_, revoke));
  service::CertificateQuery query;
  query.ca = "issuing-gen1";
  auto listed = f.service->list_certificates(f.operator_, query);
  REQUIRE(listed);
  CHECK(listed->items.size() == 1);
}

TEST_CASE("a rollover by a non-administrator, of an unknown or a pending CA is refused and changes nothing",
          "[service][rollover]") {
  ServiceFixture f;
  REQUIRE(f.service->create_external_ca_csr(f.admin, ExternalCaCsrRequest{"waiting", "Waiting CA", *KeySpec::parse("p256"), ""}));
  const auto before = snapshot(f);
  struct Case {
    const char* what;
    service::Principal who;
    std::string name;
    Errc code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"an operator", f.operator_, "issuing", Errc::policy_refused, "may not manage CAs"},
      {"an EST client", f.est, "root", Errc::policy_refused, "may not manage CAs"},
      {"an auditor", f.auditor, "root", Errc::policy_refused, "may not manage CAs"},
      {"an unknown CA", f.admin, "nonesuch", Errc::not_found, "nonesuch"},
      {"a pending CA", f.admin, "waiting", Errc::policy_refused, "nothing to roll over"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto refused = f.service->rollover_ca(c.who, rollover_of(c.name));
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == c.code);
      CHECK(refused.error().message.find(c.says) != std::string::npos);
      CHECK(snapshot(f) == before);
    }
  }
}

TEST_CASE("a CA under an external root is refused", "[service][rollover]") {
  ServiceFixture f;
  // Signed elsewhere: the fixture's "other" CA certificate and key imported as if from outside, with its chain.
  const auto other = *f.database->find_ca("other");
  auto key = *f.keys->get(other.key_uri);
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), const_cast<EVP_PKEY*>(key->key()), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  // A separate instance holds it, so it cannot find its parent here.
  fca::test::ServiceFixture elsewhere;
  auto imported = elsewhere.service->import_ca(
      elsewhere.admin, ImportCaRequest{"outside", other.certificate_pem + f.database->find_ca("root")->certificate_pem,
                                       std::string(data, static_cast<std::size_t>(n)), "", false, ""});
  REQUIRE(imported);
  const auto before = snapshot(elsewhere);
  auto refused = elsewhere.service->rollover_ca(elsewhere.admin, rollover_of("outside"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::policy_refused);
  CHECK(refused.error().message.find("outside this instance") != std::string::npos);
  CHECK(snapshot(elsewhere) == before);
}

TEST_CASE("/cacerts holds the link certificates until the old root expires", "[service][rollover][est]") {
  ServiceFixture f;
  const auto old_root = *f.database->find_ca("root");
  REQUIRE(f.service->rollover_ca(f.admin, rollover_of("root", std::nullopt, 9000)));
  const auto new_root_pem = f.database->find_ca("root")->certificate_pem;
  auto during = f.service->ca_certificates_with_rollover(f.est, "root");
  REQUIRE(during);
  REQUIRE(during->size() == 4);
  CHECK(to_pem((*during)[0].get()) == new_root_pem);
  const auto links = *parse_certificates(f.database->find_ca("root")->rollover_pem);
  CHECK(X509_cmp((*during)[1].get(), links[0].get()) == 0);  // OldWithNew
  CHECK(X509_cmp((*during)[2].get(), links[1].get()) == 0);  // NewWithOld
  CHECK(to_pem((*during)[3].get()) == old_root.certificate_pem);  // OldWithOld (RFC 7030 §4.1.3)

  // A CA below the old root, not rolled over with it: its chain, the links, then the new root.
  const auto issuing = *f.database->find_ca("issuing");
  REQUIRE(issuing.parent_id == old_root.id);
  auto below = f.service->ca_certificates_with_rollover(f.est, "issuing");
  REQUIRE(below);
  REQUIRE(below->size() == 5);
  CHECK(to_pem((*below)[0].get()) == issuing.certificate_pem);
  CHECK(to_pem((*below)[1].get()) == old_root.certificate_pem);
  CHECK(X509_cmp((*below)[2].get(), links[0].get()) == 0);
  CHECK(X509_cmp((*below)[3].get(), links[1].get()) == 0);
  CHECK(to_pem((*below)[4].get()) == new_root_pem);

  f.clock.set(old_root.not_after + std::chrono::seconds(1));
  auto after = f.service->ca_certificates_with_rollover(f.est, "root");
  REQUIRE(after);
  REQUIRE(after->size() == 1);
  CHECK(to_pem((*after)[0].get()) == f.database->find_ca("root")->certificate_pem);
}

TEST_CASE("two rollovers prepared from one reading of the CA: the second commit is refused and changes nothing",
          "[service][rollover][race]") {
  ServiceFixture f;
  const auto read_once = *f.database->find_ca("root");
  // What each of two concurrent rollovers would hand the repository after reading the CA at the same time.
  const auto prepared = [&](const std::string& key_uri) {
    CaRecord previous = read_once;
    previous.name = "root-gen1";
    CaRecord next = read_once;
    next.id = 0;
    next.generation = 2;
    next.publication_name = "root-gen2";
    next.key_uri = key_uri;
    return std::pair{previous, next};
  };
  const auto audit = [&](const std::string& who) { return AuditEvent{who, "ca.rollover", "ca:root", "{}", f.clock.now()}; };
  auto [first_previous, first_next] = prepared("file:/first");
  auto [second_previous, second_next] = prepared("file:/second");
  REQUIRE(f.database->insert_successor_ca(first_previous, "root", first_next, audit("first"), std::nullopt));
  const auto after_first = snapshot(f);
  auto second = f.database->insert_successor_ca(second_previous, "root", second_next, audit("second"), std::nullopt);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::conflict);
  CHECK(snapshot(f) == after_first);
  CHECK(f.database->find_ca("root")->key_uri == "file:/first");
  CHECK(f.database->find_ca("root-gen1")->successor_id == f.database->find_ca("root")->id);
}

TEST_CASE("a CA's publication name never changes", "[service][rollover]") {
  ServiceFixture f;
  auto ca = *f.database->find_ca("other");
  ca.publication_name = "elsewhere";
  auto changed = f.database->update_ca(ca, AuditEvent{"test", "ca.update", "ca:other", "{}", f.clock.now()});
  REQUIRE_FALSE(changed);
  CHECK(changed.error().code == Errc::invalid_input);
  CHECK(f.database->find_ca("other")->publication_name == "other");
}

TEST_CASE("the old generation keeps answering OCSP, with its own key once its responder is due, and leaves no keys behind",
          "[service][rollover][ocsp]") {
  ServiceFixture f;
  OcspService ocsp{*f.database, *f.database, *f.database, *f.authority, *f.keys, f.clock, OcspSettings{}};
  REQUIRE(ocsp.ensure_signers());
  auto leaf = f.service->issue(f.admin, f.request("old.example.com", "nmos-node", "root"));
  REQUIRE(leaf);
  const auto old_root = *f.database->find_ca("root");
  REQUIRE(f.service->rollover_ca(f.admin, rollover_of("root")));
  REQUIRE(ocsp.ensure_signers());  // the new generation gets its responder

  // Every responder is due: the old generation may not issue a new one.
  f.clock.advance(std::chrono::days(OcspSettings{}.signer_validity_days - OcspSettings{}.renew_signer_before_days + 1));
  const auto key_files = [&] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(f.dir / "keys")) ++n;
    return n;
  };
  REQUIRE(ocsp.ensure_signers());
  const auto after_first = key_files();
  REQUIRE(ocsp.ensure_signers());
  REQUIRE(ocsp.ensure_signers());
  CHECK(key_files() == after_first);

  // The old leaf's answer: good, signed by the old root itself (its certificate is the responder's).
  const auto old_cert = *parse_certificate(old_root.certificate_pem);
  OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), leaf->certificate.certificate.get(), old_cert.get()));
  const auto answer = ocsp.respond(der_encode(req.get(), i2d_OCSP_REQUEST));
  const unsigned char* p = answer.der.data();
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.der.size())));
  REQUIRE(response);
  REQUIRE(OCSP_response_status(response.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
  REQUIRE(basic);
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), old_cert.get());
  CHECK(OCSP_basic_verify(basic.get(), nullptr, store.get(), 0) == 1);
  OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), leaf->certificate.certificate.get(), old_cert.get()));
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
  REQUIRE(OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked, &this_update, &next_update));
  CHECK(status == V_OCSP_CERTSTATUS_GOOD);
}
