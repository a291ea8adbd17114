// crl::HashDirectory with more than one publisher: the server and CLI commands each write it from
// their own process. Two HashDirectory objects on one directory share nothing but the files, as two
// processes would.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "../core/authority_fixture.hpp"
#include "fca/core/crl.hpp"
#include "fca/crl/hash_dir.hpp"

using namespace fca;
using fca::test::run;
using fca::test::shell_quote;

namespace {

struct HashDirFixture : fca::test::AuthorityFixture {
  CrlService crls{*database, *database, *keys, clock, CrlSettings{}, default_settings().urls};
  std::filesystem::path hash_dir = dir / "crl-hash";
  CaRecord issuing = *database->find_ca("issuing");

  CrlRecord next_crl() {
    auto crl = crls.regenerate(issuing, "test");
    REQUIRE(crl.has_value());
    return *crl;
  }
  // The issuing CA's CRL file in the directory (the only .r file of its subject hash).
  std::filesystem::path crl_file() {
    for (const auto& entry : std::filesystem::directory_iterator(hash_dir)) {
      const auto name = entry.path().filename().string();
      if (name.size() > 9 && name[8] == '.' && name[9] == 'r') {
        auto text = run("openssl crl -noout -issuer -in " + shell_quote(entry.path().string()));
        if (text.output.find("Test Issuing CA") != std::string::npos) return entry.path();
      }
    }
    FAIL("no CRL of the issuing CA in " << hash_dir);
    return {};
  }
  long long number_on_disk() {
    auto result = run("openssl crl -noout -crlnumber -in " + shell_quote(crl_file().string()));
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const auto at = result.output.find("crlNumber=0x");
    REQUIRE(at != std::string::npos);
    return std::stoll(result.output.substr(at + 12), nullptr, 16);
  }
};

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 0777;
}

}  // namespace

TEST_CASE("two publishers writing CRLs N and N+1 in either order leave N+1", "[crl][hash-dir]") {
  HashDirFixture f;
  crl::HashDirectory first(f.hash_dir);
  crl::HashDirectory second(f.hash_dir);
  const auto older = f.next_crl();
  const auto newer = f.next_crl();
  REQUIRE(newer.number > older.number);  // a delta CRL takes the number between them

  SECTION("N, then N+1") {
    REQUIRE(first.write_crl(f.issuing, older));
    REQUIRE(second.write_crl(f.issuing, newer));
  }
  SECTION("N+1, then N: the late older CRL does not win") {
    REQUIRE(second.write_crl(f.issuing, newer));
    REQUIRE(first.write_crl(f.issuing, older));
  }
  CHECK(f.number_on_disk() == newer.number);
  // No temporary file is left behind, and openssl reads the directory as a CApath.
  for (const auto& entry : std::filesystem::directory_iterator(f.hash_dir)) {
    CHECK_FALSE(entry.path().filename().string().starts_with("."));
  }
}

TEST_CASE("a publisher does not depend on a fixed temporary name another one may hold", "[crl][hash-dir]") {
  HashDirFixture f;
  crl::HashDirectory publisher(f.hash_dir);
  REQUIRE(publisher.write_crl(f.issuing, f.next_crl()));
  const auto target = f.crl_file();
  // What the old writer would have truncated and renamed: another publisher's half-written file at
  // ".<name>.tmp". Made a directory here, so a writer that uses that name cannot proceed at all.
  std::filesystem::create_directory(f.hash_dir / ("." + target.filename().string() + ".tmp"));
  const auto newer = f.next_crl();
  auto written = publisher.write_crl(f.issuing, newer);
  INFO((written ? std::string() : written.error().message));
  REQUIRE(written.has_value());
  CHECK(f.number_on_disk() == newer.number);
}

TEST_CASE("the hash directory is public by default and group-only with a group", "[crl][hash-dir][permissions]") {
  HashDirFixture f;
  SECTION("default: 0755 and 0644") {
    crl::HashDirectory publisher(f.hash_dir);
    REQUIRE(publisher.write_crl(f.issuing, f.next_crl()));
    CHECK(mode_of(f.hash_dir) == 0755);
    CHECK(mode_of(f.crl_file()) == 0644);
  }
  SECTION("with a group: 0750 and 0640, owned by it") {
    const gid_t group = ::getgid();
    crl::HashDirectory publisher(f.hash_dir, group);
    REQUIRE(publisher.write_certificates(*f.database->list_cas()));
    REQUIRE(publisher.write_crl(f.issuing, f.next_crl()));
    CHECK(mode_of(f.hash_dir) == 0750);
    for (const auto& entry : std::filesystem::directory_iterator(f.hash_dir)) {
      INFO(entry.path());
      CHECK(mode_of(entry.path()) == 0640);
      struct stat info {};
      REQUIRE(::stat(entry.path().c_str(), &info) == 0);
      CHECK(info.st_gid == group);
    }
  }
}

TEST_CASE("a CRL on disk from another key (a CA made anew under the same name) is replaced whatever its number",
          "[crl][hash-dir]") {
  HashDirFixture f;
  crl::HashDirectory publisher(f.hash_dir);
  const auto first = f.next_crl();
  REQUIRE(publisher.write_crl(f.issuing, first));
  // A CRL of the root (another key) with a far higher number, put where the issuing CA's CRL goes.
  auto root = f.database->find_ca("root");
  REQUIRE(root.has_value());
  CrlRecord foreign;
  for (int i = 0; i < 5; ++i) foreign = *f.crls.regenerate(*root, "test");
  const unsigned char* p = foreign.der.data();
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(foreign.der.size())));
  REQUIRE(parsed);
  const auto target = f.crl_file();
  fca::test::write_file(target, to_pem(parsed.get()));
  REQUIRE(foreign.number >= 5);

  const auto next = f.next_crl();
  REQUIRE(next.number < foreign.number);
  REQUIRE(publisher.write_crl(f.issuing, next));
  CHECK(f.number_on_disk() == next.number);
}

TEST_CASE("two generations of a rolled-over CA (one subject, two keys) get a slot each: .0/.r0 and .1/.r1",
          "[crl][hash-dir][rollover]") {
  HashDirFixture f;
  const auto old_leaf = f.issue("old.example.com");
  auto rolled = f.authority->rollover_ca(RolloverCaRequest{"issuing", std::nullopt, std::nullopt, "test"});
  REQUIRE(rolled);
  const auto new_leaf = f.issue("new.example.com");
  REQUIRE(new_leaf.record.issuer_id == rolled->current.id);
  // Both leaves revoked, so each CRL says something of its own generation.
  REQUIRE(f.authority->revoke(RevokeRequest{old_leaf.record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));
  REQUIRE(f.authority->revoke(RevokeRequest{new_leaf.record.serial, std::nullopt, RevocationReason::superseded, std::nullopt, "test"}));

  crl::HashDirectory publisher(f.hash_dir);
  auto cas = f.database->list_cas();
  REQUIRE(cas);
  REQUIRE(publisher.write_certificates(*cas));
  for (const auto& ca : {rolled->previous, rolled->current}) {
    auto crl = f.crls.regenerate(ca, "test");
    REQUIRE(crl);
    REQUIRE(publisher.write_crl(ca, *crl));
  }
  // Written again in the other order, nothing moves.
  REQUIRE(publisher.write_certificates(*cas));

  auto hash = run("openssl x509 -noout -subject_hash -in " + shell_quote((f.dir / "issuing.pem").string()));
  REQUIRE(hash.exit_code == 0);
  const auto h = hash.output.substr(0, 8);
  for (const auto* suffix : {".0", ".1", ".r0", ".r1"}) {
    INFO(h + suffix);
    CHECK(std::filesystem::exists(f.hash_dir / (h + suffix)));
  }
  CHECK_FALSE(std::filesystem::exists(f.hash_dir / (h + ".2")));
  CHECK_FALSE(std::filesystem::exists(f.hash_dir / (h + ".r2")));

  // openssl picks each generation's CRL from the one directory: both leaves are revoked, each by its CRL.
  for (const auto* leaf : {&old_leaf, &new_leaf}) {
    fca::test::write_file(f.dir / "leaf.pem", leaf->pem());
    auto verified = run("openssl verify -crl_check -CApath " + shell_quote(f.hash_dir.string()) + " " +
                        shell_quote((f.dir / "leaf.pem").string()));
    INFO(verified.output);
    CHECK(verified.output.find("certificate revoked") != std::string::npos);
  }
}
