// `lab fault ...` against a real `facility-ca serve` made by `init --lab`: each fault set by the CLI (in
// another process) is in the very next answer openssl ocsp, openssl verify -crl_check or curl gets, and
// the true answer is back once it is cleared or has expired. On a non-lab instance every command is
// refused and writes nothing.
#include <chrono>
#include <thread>

#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

std::string sql_count(const fca::test::Pki& pki, const std::string& table) {
  auto result = run("sqlite3 " + shell_quote((pki.dir() / "ca.db").string()) + " 'select count(*) from " + table + "'");
  REQUIRE(result.exit_code == 0);
  return trim(result.output);
}

// The fault id from "lab fault N: ...".
std::string set_fault(const ServeFixture& server, const std::string& args) {
  const auto out = server.cli("lab fault " + args);
  const auto at = out.find("lab fault ");
  REQUIRE(at != std::string::npos);
  return out.substr(at + 10, out.find(':', at) - at - 10);
}

void check_good(const CommandResult& result) {
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(contains(result.output, "Response verify OK"));
  CHECK(contains(result.output, ": good\n"));
}

// The CRL the server serves for the issuing CA, as PEM, checked against the chain for `leaf`.
CommandResult verify_with_served_crl(ServeFixture& server, const std::filesystem::path& leaf, const std::string& name) {
  auto crl = server.http("", "/crl/issuing.pem");
  INFO(crl.describe());
  REQUIRE(crl.status == 200);
  const auto crl_file = server.pki().file(name);
  write_file(crl_file, crl.body);
  return run("openssl verify -crl_check -CAfile " + shell_quote(server.pki().file("chain.pem").string()) + " -CRLfile " +
             shell_quote(crl_file.string()) + " " + shell_quote(leaf.string()));
}

}  // namespace

TEST_CASE("lab fault ocsp: each mode in the very next answer, the true answer once cleared", "[lab][ocsp][serve]") {
  ServeFixture server({}, true, "--lab");
  const auto leaf = server.issue_leaf("faulty");
  check_good(server.ocsp_query(leaf, "-no_nonce"));  // indexed now: a fault must win over the index

  // The OCSPResponseStatus answers, as openssl ocsp names them.
  const std::vector<std::pair<std::string, std::string>> statuses{{"tryLater", "Responder Error: trylater (3)"},
                                                                  {"internalError", "Responder Error: internalerror (2)"},
                                                                  {"unauthorized", "Responder Error: unauthorized (6)"},
                                                                  {"malformedRequest", "Responder Error: malformedrequest (1)"}};
  for (const auto& [mode, text] : statuses) {
    const auto id = set_fault(server, "ocsp " + mode + " --for 10m");
    for (const auto* variant : {"-no_nonce", "-nonce"}) {
      auto faulty = server.ocsp_query(leaf, variant);
      INFO(mode << " " << variant << "\n" << faulty.output << "\nserver stderr:\n" << server.log());
      CHECK(contains(faulty.output, text));
    }
    server.cli("lab fault clear " + id);
    check_good(server.ocsp_query(leaf, "-no_nonce"));
  }

  SECTION("stale: signed now by the responder, with nextUpdate passed") {
    const auto id = set_fault(server, "ocsp stale");
    auto stale = server.ocsp_query(leaf, "-no_nonce");
    INFO(stale.output << "\nserver stderr:\n" << server.log());
    CHECK(contains(stale.output, "Response verify OK"));  // the responder's own signature
    CHECK(contains(stale.output, "Status times invalid"));
    CHECK(contains(stale.output, "status expired"));
    const auto next_update = parse_openssl_date(field_after(stale.output, "Next Update"));
    REQUIRE(next_update);
    CHECK(*next_update < std::time(nullptr));
    // Never for HTTP caches either: the first answer after the fault is the true one.
    auto over_http = server.post_ocsp(server.ocsp_request(leaf, "stale.req"));
    INFO(over_http.describe());
    CHECK(over_http.status == 200);
    CHECK(max_age_of(over_http.header("Cache-Control")) == 0);
    CHECK(over_http.header("ETag").empty());
    server.cli("lab fault clear " + id);
    check_good(server.ocsp_query(leaf, "-no_nonce"));
  }
  SECTION("wrong-key: signed by a throw-away responder no one trusts") {
    set_fault(server, "ocsp wrong-key --ca issuing");
    auto wrong = server.ocsp_query(leaf, "-nonce");
    INFO(wrong.output << "\nserver stderr:\n" << server.log());
    CHECK(contains(wrong.output, "Response Verify Failure"));
    CHECK_FALSE(contains(wrong.output, "Response verify OK"));
    server.cli("lab fault clear");
    check_good(server.ocsp_query(leaf, "-nonce"));
  }
  SECTION("no-ocsp-signing: a responder certificate from the CA without OCSPSigning") {
    set_fault(server, "ocsp no-ocsp-signing --serial " + server.pki().serial_of(leaf));
    auto refused = server.ocsp_query(leaf, "-no_nonce");
    INFO(refused.output << "\nserver stderr:\n" << server.log());
    CHECK(contains(refused.output, "Response Verify Failure"));
    CHECK(contains(lowercase(refused.output), "missing ocspsigning usage"));
    // The responder certificate it used was issued through the ordinary path: stored and audited.
    CHECK(contains(server.cli("list --json"), "no-ocsp-signing.lab.invalid"));
    server.cli("lab fault clear");
    check_good(server.ocsp_query(leaf, "-no_nonce"));
  }
  SECTION("delay: the true answer, after at least N ms") {
    set_fault(server, "ocsp delay --ms 1500");
    const auto started = std::chrono::steady_clock::now();
    auto delayed = server.ocsp_query(leaf, "-no_nonce");
    const auto took = std::chrono::steady_clock::now() - started;
    check_good(delayed);
    CHECK(took >= std::chrono::milliseconds(1500));
    server.cli("lab fault clear");
    const auto again = std::chrono::steady_clock::now();
    check_good(server.ocsp_query(leaf, "-no_nonce"));
    CHECK(std::chrono::steady_clock::now() - again < std::chrono::milliseconds(1500));
  }
  SECTION("close: the connection is closed without an answer") {
    set_fault(server, "ocsp close");
    const auto request = server.ocsp_request(leaf, "close.req");
    auto closed = server.post_ocsp(request);
    INFO(closed.describe());
    CHECK(closed.status == 0);
    CHECK(closed.curl_exit == 52);  // curl: empty reply from server
    auto query = server.ocsp_query(leaf, "-no_nonce");
    INFO(query.output);
    CHECK(query.exit_code != 0);
    CHECK(contains(query.output, "Error querying OCSP responder"));
    CHECK_FALSE(contains(query.output, ": good"));
    server.cli("lab fault clear");
    check_good(server.ocsp_query(leaf, "-no_nonce"));
  }
  SECTION("scoped faults apply to their serial or CA only") {
    const auto other = server.issue_leaf("bystander");
    set_fault(server, "ocsp tryLater --serial " + server.pki().serial_of(leaf));
    CHECK(contains(server.ocsp_query(leaf, "-no_nonce").output, "trylater"));
    check_good(server.ocsp_query(other, "-no_nonce"));
    server.cli("lab fault clear");
    set_fault(server, "ocsp tryLater --ca root");  // the leaves are the issuing CA's
    check_good(server.ocsp_query(leaf, "-no_nonce"));
  }
  SECTION("a fault expires by itself") {
    set_fault(server, "ocsp tryLater --for 2s");
    const auto set_at = std::chrono::steady_clock::now();
    CHECK(contains(server.ocsp_query(leaf, "-no_nonce").output, "trylater"));
    std::this_thread::sleep_until(set_at + std::chrono::milliseconds(2300));
    check_good(server.ocsp_query(leaf, "-no_nonce"));
    const auto listed = server.cli("lab fault list --json");
    CHECK(nlohmann::json::parse(listed).at(0).at("active") == false);
  }
  // Every set and clear of the test is in the audit log.
  auto audit = run("sqlite3 " + shell_quote((server.pki().dir() / "ca.db").string()) +
                   " \"select action from audit_log where action like 'lab.fault-%'\"");
  CHECK(occurrences_of(audit.output, "lab.fault-set") >= 5);
  CHECK(occurrences_of(audit.output, "lab.fault-clear") >= 4);
}

TEST_CASE("lab fault crl: expired, wrong key and missing, then the real CRL", "[lab][crl][serve]") {
  ServeFixture server({}, true, "--lab");
  const auto leaf = server.issue_leaf("crl-leaf");
  // init --lab made the CRLs with the default URLs; a revocation has serve rebuild the full CRL (in the
  // background, within crl.rebuild_check_seconds) with the test's port, which the leaf's CDP names.
  server.cli("revoke " + server.pki().serial_of(server.issue_leaf("crl-trigger")) + " --reason superseded");
  REQUIRE(server.wait_for_log("rebuilt 1 full CRL(s)"));
  {
    auto ok = verify_with_served_crl(server, leaf, "real.crl.pem");
    INFO(ok.output);
    CHECK(ok.exit_code == 0);
  }
  const auto expired_id = set_fault(server, "crl expired --ca issuing");
  {
    auto expired = verify_with_served_crl(server, leaf, "expired.crl.pem");
    INFO(expired.output << "\nserver stderr:\n" << server.log());
    CHECK(expired.exit_code != 0);
    CHECK(contains(expired.output, "CRL has expired"));
    // The root's CRL is not the faulty CA's: untouched.
    CHECK(server.http("", "/crl/root.crl").status == 200);
  }
  server.cli("lab fault clear " + expired_id);
  set_fault(server, "crl wrong-key --ca issuing");
  {
    auto wrong = verify_with_served_crl(server, leaf, "wrong.crl.pem");
    INFO(wrong.output);
    CHECK(wrong.exit_code != 0);
    CHECK(contains(wrong.output, "CRL signature failure"));
  }
  set_fault(server, "crl missing --ca issuing --for 1h");  // the newest fault wins
  CHECK(server.http("", "/crl/issuing.crl").status == 404);
  CHECK(server.http("", "/crl/issuing.pem").status == 404);
  server.cli("lab fault clear");
  auto again = verify_with_served_crl(server, leaf, "again.crl.pem");
  INFO(again.output);
  CHECK(again.exit_code == 0);
}

TEST_CASE("lab fault on a non-lab instance: refused, nothing written", "[lab][cli]") {
  Pki pki;
  const auto faults_before = sql_count(pki, "lab_faults");
  const auto audit_before = sql_count(pki, "audit_log");
  for (const auto* args : {"lab fault ocsp tryLater", "lab fault ocsp delay --ms 10", "lab fault ocsp stale --ca issuing",
                           "lab fault crl missing --ca issuing", "lab fault list", "lab fault clear", "lab fault clear 1"}) {
    auto refused = pki.fca(args);
    INFO(args << "\n" << refused.output);
    CHECK(refused.exit_code == 3);
    CHECK(contains(refused.output, "not a lab instance"));
  }
  CHECK(sql_count(pki, "lab_faults") == faults_before);
  CHECK(sql_count(pki, "audit_log") == audit_before);
}

TEST_CASE("lab fault: bad input is refused on a lab instance too, and writes nothing", "[lab][cli]") {
  Pki pki("--lab");
  const auto audit_before = sql_count(pki, "audit_log");
  const std::vector<std::pair<std::string, int>> cases{
      {"lab fault ocsp sleepy", 3},                      {"lab fault ocsp delay", 3},
      {"lab fault ocsp delay --ms 999999", 3},           {"lab fault ocsp tryLater --ms 10", 3},
      {"lab fault ocsp tryLater --for 10", 2},           {"lab fault ocsp tryLater --for 25h", 3},
      {"lab fault ocsp tryLater --ca nosuch", 4},        {"lab fault ocsp tryLater --ca issuing --serial 01", 2},
      {"lab fault crl expired", 2},                      {"lab fault crl stale --ca issuing", 3},
      {"lab fault clear 999", 4}};
  for (const auto& [args, code] : cases) {
    auto refused = pki.fca(args);
    INFO(args << "\n" << refused.output);
    CHECK(refused.exit_code == code);
  }
  CHECK(sql_count(pki, "lab_faults") == "0");
  CHECK(sql_count(pki, "audit_log") == audit_before);
}

TEST_CASE("serve on a non-lab instance never consults lab faults, even a row put in by hand", "[lab][serve]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("production");
  const auto db = shell_quote((server.pki().dir() / "ca.db").string());
  const auto far = std::to_string((std::time(nullptr) + 3600) * 1000);
  auto inserted = run("sqlite3 " + db +
                      " \"insert into lab_faults (kind, mode, created_by, created_at, expires_at_ms) values "
                      "('ocsp', 'tryLater', 'test', 0, " + far + "), ('crl', 'missing', 'test', 0, " + far + ")\"" +
                      " && sqlite3 " + db + " \"update lab_faults set issuer_id = (select id from cas where name = 'issuing') "
                      "where kind = 'crl'\"");
  REQUIRE(inserted.exit_code == 0);
  REQUIRE(sql_count(server.pki(), "lab_faults") == "2");
  check_good(server.ocsp_query(leaf, "-no_nonce"));
  check_good(server.ocsp_query(leaf, "-nonce"));
  CHECK(server.http("", "/crl/issuing.crl").status == 200);
  CHECK_FALSE(contains(server.log(), "lab fault"));
}
