// EST decisions against a real `facility-ca serve`: what the audit log says about each one (principal,
// trust anchor, label, profile, result), and which manufacturer certificates may enrol — an expired
// one only where the label accepts it (BCP-003-03), a revoked one never. The manufacturer here is a
// CA made by `openssl ca` alone, so its device certificates can carry any validity.
#include "est_client.hpp"

using namespace fca::test;

namespace {

// A device manufacturer: a root, device certificates of chosen validity, a CRL.
class Manufacturer {
 public:
  explicit Manufacturer(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    write_file(dir_ / "index.txt", "");
    write_file(dir_ / "serial", "1000\n");
    write_file(dir_ / "crlnumber", "1000\n");
    write_file(dir_ / "ca.cnf",
               "[ca]\ndefault_ca = m\n"
               "[m]\ndir = .\ndatabase = index.txt\nserial = serial\ncrlnumber = crlnumber\nnew_certs_dir = .\n"
               "certificate = root.pem\nprivate_key = root.key\ndefault_md = sha256\ndefault_crl_days = 2\n"
               "policy = any\nunique_subject = no\ncopy_extensions = none\nx509_extensions = device\n"
               "[any]\ncommonName = supplied\n"
               "[device]\nbasicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\n"
               "extendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n");
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj '/O=Test Maker/CN=Test Maker Root' "
       "-addext 'basicConstraints=critical,CA:true' -addext 'keyUsage=critical,keyCertSign,cRLSign' "
       "-keyout root.key -out root.pem");
  }

  // A device certificate valid from `start` to `end` (openssl ca's YYYYMMDDHHMMSSZ).
  void device(const std::string& name, const std::string& start, const std::string& end) {
    sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + name + "' -keyout " + name +
       ".key -out " + name + ".csr");
    sh("openssl ca -batch -config ca.cnf -notext -in " + name + ".csr -out " + name + ".pem -startdate " + start +
       " -enddate " + end);
  }
  void revoke(const std::string& name) {
    sh("openssl ca -config ca.cnf -revoke " + name + ".pem -crl_reason keyCompromise");
  }
  void publish_crl() { sh("openssl ca -config ca.cnf -gencrl -out crl.pem"); }

  std::filesystem::path path(const std::string& file) const { return dir_ / file; }
  std::string identity(const std::string& name) const {
    return EstClient::identity(path(name + ".pem"), path(name + ".key"));
  }

 private:
  void sh(const std::string& command) const {
    auto done = run("cd " + shell_quote(dir_.string()) + " && " + command + " 2>&1");
    INFO(command << "\n" << done.output);
    REQUIRE(done.exit_code == 0);
  }
  std::filesystem::path dir_;
};

}  // namespace

TEST_CASE("EST: every decision is audited with its principal, trust anchor, label, profile and result",
          "[serve][est][audit]") {
  ServeFixture server(
      [](nlohmann::json& config) {
        config["est"]["labels"].push_back({{"label", "studio"},
                                           {"ca", "issuing"},
                                           {"profiles", {"nmos-node"}},
                                           {"approval", "manual"},
                                           {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}});
      },
      true, "--lab");
  wait_for_https(server);
  EstClient est(server);
  const auto device = EstClient::identity(lab(server, "device.crt.pem"), lab(server, "device.key.pem"));
  const std::string device_subject = subject_of(lab(server, "device.crt.pem"));
  const std::string maker_root = subject_of(lab(server, "manufacturer-root.pem"));

  // Issued: the manufacturer root vouched.
  const auto csr = server.pki().csr("audited", "p256", "audited.localhost", "DNS:audited.localhost");
  auto issued = est.post(device, "simpleenroll", csr);
  INFO(issued.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(issued.status == 200);
  const auto issued_pem = server.file("audited.pem");
  REQUIRE(est.certificates(issued, issued_pem).exit_code == 0);
  const std::string serial = server.pki().serial_of(issued_pem);

  // Renewed: the instance's issuing CA vouched for the certificate presented.
  const auto again = server.pki().csr("audited-2", "p256", "audited.localhost", "DNS:audited.localhost");
  REQUIRE(est.post(EstClient::identity(issued_pem, server.file("audited.key")), "simplereenroll", again).status == 200);

  // Refused: a root nobody trusts, and no certificate at all.
  const auto stranger_key = server.file("stranger.key");
  const auto stranger = server.file("stranger.pem");
  REQUIRE(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=stranger -keyout " +
              shell_quote(stranger_key.string()) + " -out " + shell_quote(stranger.string()) + " 2>&1")
              .exit_code == 0);
  REQUIRE(est.post(EstClient::identity(stranger, stranger_key), "simpleenroll", csr).status == 403);
  REQUIRE(est.post("", "serverkeygen", csr).status == 403);

  // Pending under the manual label.
  REQUIRE(est.post(device, "simpleenroll", csr, "application/pkcs10", "studio").status == 202);

  const auto entries = audit_entries(server, "est.");
  for (const auto& e : entries) INFO(e.dump());
  REQUIRE(entries.size() == 5);

  const auto& enrolled = entries[0];
  CHECK(enrolled["action"] == "est.simpleenroll");
  CHECK(enrolled["actor"] == "est:" + device_subject);
  CHECK(enrolled["object"] == "est:/.well-known/est/simpleenroll");
  CHECK(enrolled["detail"]["trust_anchor"] == maker_root);
  CHECK(enrolled["detail"]["label"] == "");
  CHECK(enrolled["detail"]["profile"] == "nmos-node");
  CHECK(enrolled["detail"]["result"] == "issued");
  CHECK(enrolled["detail"]["serial"] == serial);

  const auto& renewed = entries[1];
  CHECK(renewed["action"] == "est.simplereenroll");
  CHECK(renewed["actor"] == "est:" + subject_of(issued_pem));
  CHECK(renewed["detail"]["trust_anchor"] == subject_of(server.pki().issuing_pem()));
  CHECK(renewed["detail"]["profile"] == "nmos-node");
  CHECK(renewed["detail"]["result"] == "issued");

  const auto& untrusted = entries[2];
  CHECK(untrusted["actor"] == "est:CN=stranger");
  CHECK(untrusted["detail"]["trust_anchor"] == "");
  CHECK(untrusted["detail"]["result"] == "refused");
  CHECK(untrusted["detail"]["status"] == 403);
  CHECK(contains(untrusted["detail"]["reason"].get<std::string>(), "not trusted"));

  const auto& anonymous = entries[3];
  CHECK(anonymous["action"] == "est.serverkeygen");
  CHECK(anonymous["actor"] == "est:(no client certificate)");
  CHECK(anonymous["detail"]["result"] == "refused");
  CHECK(anonymous["detail"]["reason"] == "no client certificate");

  const auto& pending = entries[4];
  CHECK(pending["object"] == "est:/.well-known/est/studio/simpleenroll");
  CHECK(pending["detail"]["label"] == "studio");
  CHECK(pending["detail"]["trust_anchor"] == maker_root);
  CHECK(pending["detail"]["result"] == "pending");

  // The decisions joined the MAC chain like every other entry.
  CHECK(server.pki().fca("verify-audit").exit_code == 0);
}

TEST_CASE("EST: an expired manufacturer certificate enrols only where the label accepts it, a revoked one never",
          "[serve][est][trust]") {
  ServeFixture server({}, false, "--lab");
  Manufacturer maker(server.file("maker"));
  maker.device("expired-device", "20240101000000Z", "20250101000000Z");
  maker.device("expired-revoked", "20240101000000Z", "20250101000000Z");
  maker.device("current-device", "20250101000000Z", "20991231000000Z");
  maker.revoke("expired-revoked");
  maker.publish_crl();
  server.pki().edit_config([&](nlohmann::json& config) {
    const nlohmann::json trust = {{"roots", {maker.path("root.pem").string()}}, {"crl_files", {maker.path("crl.pem").string()}}};
    auto lenient = trust;
    lenient["accept_expired"] = true;
    config["est"]["labels"].push_back({{"label", "lenient"}, {"ca", "issuing"}, {"profiles", {"nmos-node"}}, {"trust", lenient}});
    config["est"]["labels"].push_back({{"label", "strict"}, {"ca", "issuing"}, {"profiles", {"nmos-node"}}, {"trust", trust}});
  });
  server.start();
  wait_for_https(server);
  EstClient est(server);

  struct Case {
    std::string device;
    std::string label;
    int status;
  };
  const std::vector<Case> cases{
      {"expired-device", "lenient", 200},  // BCP-003-03: expired but not revoked, where configured
      {"expired-device", "strict", 403},   // not configured: refused
      {"expired-revoked", "lenient", 403}, // revoked: never, expired or not
      {"current-device", "strict", 200},
  };
  const auto before = certificate_rows(server);
  int n = 0;
  for (const auto& c : cases) {
    const std::string name = "dev" + std::to_string(++n);
    const auto csr = server.pki().csr(name, "p256", name + ".localhost", "DNS:" + name + ".localhost");
    auto answer = est.post(maker.identity(c.device), "simpleenroll", csr, "application/pkcs10", c.label);
    INFO(c.device << " on " << c.label << ": " << answer.describe() << "\nserver stderr:\n" << server.log());
    CHECK(answer.status == c.status);
    if (c.status == 200) {
      const auto pem = server.file(name + ".pem");
      REQUIRE(est.certificates(answer, pem).exit_code == 0);
      est.check_issued(pem);
    }
  }
  CHECK(certificate_rows(server) == before + 2);
  CHECK(contains(server.log(), "certificate has expired"));
  CHECK(contains(server.log(), "certificate revoked"));

  // The audit log says which root vouched for the expired certificate that was let in.
  const auto entries = audit_entries(server, "est.simpleenroll");
  REQUIRE(entries.size() == cases.size());
  CHECK(entries[0]["detail"]["result"] == "issued");
  CHECK(entries[0]["detail"]["trust_anchor"] == subject_of(maker.path("root.pem")));
  CHECK(entries[1]["detail"]["result"] == "refused");
  CHECK(entries[2]["detail"]["result"] == "refused");
}
