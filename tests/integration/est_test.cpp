// EST (RFC 7030, BCP-003-03) against a real `facility-ca serve` made by `init --lab`, with curl and
// openssl as the only EST client: what docs/est.md shows a newcomer.
#include <map>
#include <set>
#include <sstream>

#include "est_client.hpp"

using namespace fca::test;

TEST_CASE("EST: cacerts, enrolment of RSA and ECDSA keys, re-enrolment and serverkeygen with curl and openssl",
          "[serve][est]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device = EstClient::identity(lab(server, "device.crt.pem"), lab(server, "device.key.pem"));

  // cacerts: the issuing CA first, then the root; no authentication.
  auto cacerts = est.get("cacerts");
  INFO(cacerts.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(cacerts.status == 200);
  CHECK(cacerts.header("Content-Type") == "application/pkcs7-mime");
  CHECK(cacerts.header("Content-Transfer-Encoding") == "base64");
  CHECK(cacerts.header("Strict-Transport-Security") == "max-age=31536000");
  const auto ca_pem = server.file("cacerts.pem");
  REQUIRE(est.certificates(cacerts, ca_pem).exit_code == 0);
  auto subjects = run("grep '^subject=' " + shell_quote(ca_pem.string())).output;
  CHECK(subjects.find("Issuing") < subjects.find("Root"));

  // csrattrs: base64 DER CsrAttrs that openssl's own parser reads.
  auto attributes = est.get("csrattrs");
  INFO(attributes.describe());
  REQUIRE(attributes.status == 200);
  CHECK(attributes.header("Content-Type") == "application/csrattrs");
  CHECK(attributes.header("Content-Transfer-Encoding") == "base64");
  auto parsed = run("openssl base64 -d -in " + shell_quote(attributes.body_file.string()) + " | openssl asn1parse -inform DER 2>&1");
  INFO(parsed.output);
  CHECK(parsed.exit_code == 0);
  for (const auto* name : {"id-ecPublicKey", "prime256v1", "rsaEncryption", "ecdsa-with-SHA256", "sha256WithRSAEncryption",
                           "Extension Request", "X509v3 Extended Key Usage", "X509v3 Subject Alternative Name"}) {
    CHECK(contains(parsed.output, name));
  }

  // simpleenroll: one P-256 and one RSA-2048 CSR, PEM-armoured, as the nmos-cpp client sends them.
  for (const auto* key_type : {"p256", "rsa2048"}) {
    const std::string name = std::string("node1-") + key_type;
    const auto csr = server.pki().csr(name, key_type, "node1.localhost", "DNS:node1.localhost");
    auto answer = est.post(device, "simpleenroll", csr, "application/pkcs10; charset=us-ascii");
    INFO(key_type << ": " << answer.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(answer.status == 200);
    CHECK(answer.header("Content-Type") == "application/pkcs7-mime; smime-type=certs-only");
    CHECK(answer.header("Content-Transfer-Encoding") == "base64");
    CHECK(answer.header("Content-Length") == std::to_string(answer.body.size()));
    // Wrapped at 64 columns.
    CHECK(answer.body.find('\n') == 65);
    const auto pem = server.file(name + ".pem");
    REQUIRE(est.certificates(answer, pem).exit_code == 0);
    est.check_issued(pem);
  }

  // simplereenroll with the issued ECDSA certificate, base64 DER without armour this time.
  const auto issued = EstClient::identity(server.file("node1-p256.pem"), server.file("node1-p256.key"));
  const auto again = server.pki().csr("node1-ec-2", "p256", "node1.localhost", "DNS:node1.localhost");
  const auto bare = server.file("node1-ec-2.b64");
  REQUIRE(run("openssl req -in " + shell_quote(again.string()) + " -outform DER | openssl base64 -out " +
              shell_quote(bare.string()))
              .exit_code == 0);
  auto renewed = est.post(issued, "simplereenroll", bare);
  INFO(renewed.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(renewed.status == 200);
  const auto renewed_pem = server.file("node1-ec-renewed.pem");
  REQUIRE(est.certificates(renewed, renewed_pem).exit_code == 0);
  est.check_issued(renewed_pem);
  CHECK(contains(run("openssl x509 -noout -subject -in " + shell_quote(renewed_pem.string())).output, "node1.localhost"));

  // serverkeygen: a key made here (application/pkcs8) and its certificate, as multipart/mixed.
  const auto keygen_csr = server.pki().csr("node2", "p256", "node2.localhost", "DNS:node2.localhost");
  auto keygen = est.post(device, "serverkeygen", keygen_csr);
  INFO(keygen.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(keygen.status == 200);
  const auto type = std::string(keygen.header("Content-Type"));
  REQUIRE(type.starts_with("multipart/mixed; boundary="));
  const std::string boundary = type.substr(type.find('=') + 1);
  // Split the parts with the shell's tools: awk writes each part's base64 lines to its own file.
  const auto parts = server.file("parts");
  std::filesystem::create_directories(parts);
  REQUIRE(run("cd " + shell_quote(parts.string()) + " && tr -d '\\r' < " + shell_quote(keygen.body_file.string()) +
              " | awk -v b=" + shell_quote("--" + boundary) +
              " '$0==b || $0==b\"--\" {n++; body=0; next} body {print > (\"part\" n)} /^$/ {body=1} "
              "/^Content-Type:/ {print > (\"type\" n)}'")
              .exit_code == 0);
  CHECK(contains(read_file(parts / "type1"), "application/pkcs8"));
  CHECK(contains(read_file(parts / "type2"), "application/pkcs7-mime"));
  const auto key_file = server.file("node2.key.pem");
  auto key = run("openssl base64 -d -in " + shell_quote((parts / "part1").string()) +
                 " | openssl pkey -inform DER -out " + shell_quote(key_file.string()) + " 2>&1");
  INFO(key.output);
  REQUIRE(key.exit_code == 0);
  const auto cert_file = server.file("node2.pem");
  REQUIRE(run("openssl base64 -d -in " + shell_quote((parts / "part2").string()) +
              " | openssl pkcs7 -inform DER -print_certs -out " + shell_quote(cert_file.string()))
              .exit_code == 0);
  est.check_issued(cert_file);
  // The key is the certificate's.
  CHECK(run("openssl pkey -pubout -in " + shell_quote(key_file.string())).output ==
        run("openssl x509 -pubkey -noout -in " + shell_quote(cert_file.string())).output);

  // Every issued certificate names its EST client as requester.
  auto rows = server.pki().json("list --limit 1000 --json");
  int by_est = 0;
  for (const auto& row : rows) by_est += row["requester"].get<std::string>().starts_with("est:") ? 1 : 0;
  CHECK(by_est == 4);
}

TEST_CASE("EST: refusals carry their status and issue nothing", "[serve][est]") {
  ServeFixture server(
      [](nlohmann::json& config) {
        // A label whose only profile makes CAs: an EST client never gets one, whatever the label says.
        config["est"]["labels"].push_back(
            {{"label", "ca"}, {"ca", "issuing"}, {"profiles", {"sub-ca"}}, {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}});
      },
      true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device = EstClient::identity(lab(server, "device.crt.pem"), lab(server, "device.key.pem"));
  const auto csr = server.pki().csr("refused", "p256", "refused.localhost", "DNS:refused.localhost");

  // One certificate to re-enrol with, and a revoked one.
  auto first = est.post(device, "simpleenroll", csr);
  REQUIRE(first.status == 200);
  const auto first_pem = server.file("first.pem");
  REQUIRE(est.certificates(first, first_pem).exit_code == 0);
  const auto revoked_csr = server.pki().csr("revoked", "p256", "revoked.localhost", "DNS:revoked.localhost");
  auto revoked = est.post(device, "simpleenroll", revoked_csr);
  REQUIRE(revoked.status == 200);
  const auto revoked_pem = server.file("revoked.pem");
  REQUIRE(est.certificates(revoked, revoked_pem).exit_code == 0);
  const auto revoked_serial = trim(run("openssl x509 -noout -serial -in " + shell_quote(revoked_pem.string()) +
                                       " | cut -d= -f2").output);
  server.pki().out("revoke " + revoked_serial + " --reason keyCompromise");

  // An untrusted root's client certificate, made by openssl alone.
  const auto stranger_key = server.file("stranger.key");
  const auto stranger = server.file("stranger.pem");
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=stranger -keyout " +
              shell_quote(stranger_key.string()) + " -out " + shell_quote(stranger.string()) + " 2>&1")
              .exit_code == 0);

  // A CSR whose signature does not verify: one bit of the signature flipped.
  const auto bad_der = server.file("bad.der");
  REQUIRE(run("openssl req -in " + shell_quote(csr.string()) + " -outform DER -out " + shell_quote(bad_der.string())).exit_code == 0);
  auto bytes = read_file(bad_der);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);
  write_file(bad_der, bytes);
  const auto bad = server.file("bad.b64");
  REQUIRE(run("openssl base64 -in " + shell_quote(bad_der.string()) + " -out " + shell_quote(bad.string())).exit_code == 0);

  const auto other_names = server.pki().csr("other", "p256", "other.localhost", "DNS:other.localhost");
  const auto big = server.file("big.csr");
  write_file(big, std::string(1024 * 1024, 'A'));

  struct Case {
    std::string what;
    std::string client;
    std::string operation;
    std::filesystem::path body;
    std::string content_type;
    std::string label;
    int status;
  };
  const std::vector<Case> cases{
      {"no client certificate", "", "simpleenroll", csr, "application/pkcs10", "", 403},
      {"an untrusted root", EstClient::identity(stranger, stranger_key), "simpleenroll", csr, "application/pkcs10", "", 403},
      {"a revoked certificate re-enrolling", EstClient::identity(revoked_pem, server.file("revoked.key")), "simplereenroll",
       revoked_csr, "application/pkcs10", "", 403},
      {"a re-enrol CSR with other names", EstClient::identity(first_pem, server.file("refused.key")), "simplereenroll",
       other_names, "application/pkcs10", "", 403},
      {"a bad CSR signature", device, "simpleenroll", bad, "application/pkcs10", "", 400},
      {"a wrong content type", device, "simpleenroll", csr, "text/plain", "", 415},
      {"a 1 MiB body", device, "simpleenroll", big, "application/pkcs10", "", 413},
      {"a profile the label does not allow", device, "simpleenroll", csr, "application/pkcs10", "ca", 403},
      {"serverkeygen without a client certificate", "", "serverkeygen", csr, "application/pkcs10", "", 403},
  };
  const auto before = certificate_rows(server);
  for (const auto& c : cases) {
    auto answer = est.post(c.client, c.operation, c.body, c.content_type, c.label);
    INFO(c.what << ": " << answer.describe());
    CHECK(answer.status == c.status);
    CHECK_FALSE(contains(answer.body, "MII"));  // no certificate in any form
  }
  INFO("server stderr:\n" << server.log());
  CHECK(certificate_rows(server) == before);
  // Each refusal is logged with the client's address and the reason.
  CHECK(contains(server.log(), "403 no client certificate"));
  CHECK(contains(server.log(), "client certificate not trusted"));
  CHECK(contains(server.log(), "415 Content-Type must be application/pkcs10"));

  // DELETE on an EST route: 405 with Allow.
  auto deleted = server.http(est.trust() + device + "-X DELETE", est.base() + "simpleenroll");
  CHECK(deleted.status == 405);
  CHECK(deleted.header("Allow").find("POST") != std::string::npos);
}

TEST_CASE("EST: manual approval answers 202 until an operator decides", "[serve][est]") {
  ServeFixture server(
      [](nlohmann::json& config) {
        config["est"]["labels"].push_back({{"label", "studio"},
                                           {"ca", "issuing"},
                                           {"profiles", {"nmos-node"}},
                                           {"approval", "manual"},
                                           {"retry_after_seconds", 5},
                                           {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}});
      },
      true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device = EstClient::identity(lab(server, "device.crt.pem"), lab(server, "device.key.pem"));
  const auto before = certificate_rows(server);

  const auto csr = server.pki().csr("approved", "p256", "approved.localhost", "DNS:approved.localhost");
  auto pending = est.post(device, "simpleenroll", csr, "application/pkcs10", "studio");
  INFO(pending.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(pending.status == 202);
  CHECK(pending.header("Retry-After") == "5");
  auto again = est.post(device, "simpleenroll", csr, "application/pkcs10", "studio");
  CHECK(again.status == 202);
  auto listed = server.pki().json("enrollment list --state pending --json");
  REQUIRE(listed.size() == 1);  // the retry did not file a second request
  CHECK(listed[0]["label"] == "studio");
  CHECK(listed[0]["requester"].get<std::string>().starts_with("est:"));
  CHECK(certificate_rows(server) == before);

  server.pki().out("enrollment approve " + std::to_string(listed[0]["id"].get<int>()));
  auto issued = est.post(device, "simpleenroll", csr, "application/pkcs10", "studio");
  INFO(issued.describe());
  REQUIRE(issued.status == 200);
  const auto pem = server.file("approved.pem");
  REQUIRE(est.certificates(issued, pem).exit_code == 0);
  est.check_issued(pem);

  const auto refused_csr = server.pki().csr("rejected", "p256", "rejected.localhost", "DNS:rejected.localhost");
  REQUIRE(est.post(device, "simpleenroll", refused_csr, "application/pkcs10", "studio").status == 202);
  auto waiting = server.pki().json("enrollment list --state pending --json");
  REQUIRE(waiting.size() == 1);
  server.pki().out("enrollment reject " + std::to_string(waiting[0]["id"].get<int>()) + " --reason 'unknown device'");
  auto rejected = est.post(device, "simpleenroll", refused_csr, "application/pkcs10", "studio");
  CHECK(rejected.status == 403);
  CHECK(certificate_rows(server) == before + 1);
}

TEST_CASE("EST listener TLS: BCP-003-01 protocols and suites, an RSA and an ECDSA certificate, stapled OCSP",
          "[serve][est][tls]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  const std::string connect = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(server.https_port()) +
                              " -servername localhost -CAfile " + shell_quote(server.chain_pem().string()) + " ";
  for (const auto* old : {"-tls1_1", "-tls1"}) {
    auto handshake = run(connect + old + " -cipher DEFAULT@SECLEVEL=0 < /dev/null 2>&1");
    INFO(old << "\n" << handshake.output);
    CHECK(handshake.exit_code != 0);
  }
  auto weak = run(connect + "-tls1_2 -cipher ECDHE-RSA-AES128-SHA < /dev/null 2>&1");
  INFO(weak.output);
  CHECK(weak.exit_code != 0);

  // The one SHALL suite of BCP-003-01 needs the RSA certificate; an ECDSA-only client gets the other.
  auto rsa = run(connect + "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -status < /dev/null 2>&1");
  INFO(rsa.output);
  CHECK(rsa.exit_code == 0);
  CHECK(contains(rsa.output, "Server public key is 2048 bit"));
  CHECK(contains(rsa.output, "Verify return code: 0 (ok)"));
  CHECK(contains(rsa.output, "OCSP Response Status: successful"));
  CHECK(contains(rsa.output, "Cert Status: good"));
  auto ecdsa = run(connect + "-tls1_3 -sigalgs ECDSA+SHA256 -status < /dev/null 2>&1");
  INFO(ecdsa.output);
  CHECK(ecdsa.exit_code == 0);
  CHECK(contains(ecdsa.output, "Server public key is 256 bit"));
  CHECK(contains(ecdsa.output, "Cert Status: good"));
  auto by_sigalgs = run(connect + "-tls1_3 -sigalgs rsa_pss_rsae_sha256 < /dev/null 2>&1");
  INFO(by_sigalgs.output);
  CHECK(contains(by_sigalgs.output, "Server public key is 2048 bit"));

  // The issued listener certificates are reused by the next start, not issued again.
  const auto rows = certificate_rows(server);
  server.stop();
  server.start();
  REQUIRE(server.wait_for_log("listening on https://", 2));
  CHECK(certificate_rows(server) == rows);
}

TEST_CASE("EST listener TLS: testssl.sh finds only the BCP-003-01 protocols and suites", "[serve][est][tls][testssl]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  const auto report = server.file("testssl.json");
  auto scan = run("timeout 300 testssl --quiet --color 0 --warnings off --fast -p -E --ip 127.0.0.1 --jsonfile " +
                  shell_quote(report.string()) + " localhost:" + std::to_string(server.https_port()) + " 2>&1");
  INFO(scan.output);
  REQUIRE(std::filesystem::exists(report));
  const auto findings = nlohmann::json::parse(read_file(report));
  // AMWA BCP-003-01's lists, written out here apart from the code's.
  const std::set<std::string> allowed{
      "TLS_AES_128_GCM_SHA256",        "TLS_AES_256_GCM_SHA384",        "TLS_CHACHA20_POLY1305_SHA256",
      "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA256",
      "ECDHE-ECDSA-AES256-SHA384",     "ECDHE-RSA-AES128-GCM-SHA256",   "ECDHE-RSA-AES256-GCM-SHA384",
      "DHE-RSA-AES128-GCM-SHA256",     "DHE-RSA-AES256-GCM-SHA384",     "ECDHE-RSA-AES128-SHA256",
      "ECDHE-RSA-AES256-SHA384",       "DHE-RSA-AES128-SHA256",         "DHE-RSA-AES256-SHA256"};
  std::map<std::string, std::string> protocols;
  std::set<std::string> offered;
  for (const auto& finding : findings) {
    const auto id = finding["id"].get<std::string>();
    const auto text = finding["finding"].get<std::string>();
    if (id == "SSLv2" || id == "SSLv3" || id == "TLS1" || id == "TLS1_1" || id == "TLS1_2" || id == "TLS1_3") protocols[id] = text;
    if (id.starts_with("cipher-tls")) {
      std::istringstream words(text);
      std::string tls, version, hexcode, name;
      words >> tls >> version >> hexcode >> name;
      offered.insert(name);
    }
  }
  for (const auto* refused : {"SSLv2", "SSLv3", "TLS1", "TLS1_1"}) CHECK(protocols[refused].starts_with("not offered"));
  CHECK(protocols["TLS1_2"].starts_with("offered"));
  CHECK(protocols["TLS1_3"].starts_with("offered"));
  CHECK(offered.contains("ECDHE-RSA-AES128-GCM-SHA256"));  // the one SHALL suite: needs the RSA certificate
  CHECK(offered.contains("ECDHE-ECDSA-AES128-GCM-SHA256"));
  CHECK(offered.contains("TLS_AES_128_GCM_SHA256"));
  for (const auto& name : offered) {
    INFO(name);
    CHECK(allowed.contains(name));
  }
}

TEST_CASE("EST listener TLS: a revoked listener certificate is replaced without a restart", "[serve][est][tls]") {
  ServeFixture server({}, true, "--lab");
  wait_for_https(server);
  const std::string connect = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(server.https_port()) +
                              " -servername localhost -CAfile " + shell_quote(server.chain_pem().string()) +
                              " -tls1_3 -sigalgs ECDSA+SHA256 -status < /dev/null 2>/dev/null ";
  // Without -status: s_client would print the stapled response's responder certificate first.
  const auto serial_now = [&] {
    return trim(run("timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(server.https_port()) +
                    " -tls1_3 -sigalgs ECDSA+SHA256 < /dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2")
                    .output);
  };
  const auto before = serial_now();
  REQUIRE(before.size() == 40);
  const pid_t pid = server.pid();

  server.pki().out("revoke " + before + " --reason superseded");
  server.send_signal(SIGHUP);  // runs the scheduler now
  const bool renewed = server.wait_for_log("renewed certificates in use for new connections");
  INFO("server stderr:\n" << server.log());
  REQUIRE(renewed);
  const auto after = serial_now();
  INFO("server stderr:\n" << server.log());
  CHECK(after.size() == 40);
  CHECK(after != before);
  CHECK(server.pid() == pid);
  auto fresh = run(connect);
  CHECK(contains(fresh.output, "Cert Status: good"));
  CHECK(contains(fresh.output, "Verify return code: 0 (ok)"));
}
