// Proof of possession by TLS channel binding (RFC 7030 §3.5) on a label that requires it, against a
// real `facility-ca serve`: the CSR's challengePassword carries the connection's tls-unique (TLS 1.2,
// read by Python's ssl module) or tls-exporter (TLS 1.3, RFC 9266, read by openssl s_client), made
// and sent on that same connection by tests/integration/est_channel_binding_client.py.
#include "est_client.hpp"

using namespace fca::test;

TEST_CASE("EST channel binding: the right tls-unique / tls-exporter in challengePassword enrols, a wrong or missing one is 403",
          "[serve][est][channel-binding]") {
  ServeFixture server(
      [](nlohmann::json& config) {
        config["est"]["labels"].push_back({{"label", "bound"},
                                           {"ca", "issuing"},
                                           {"profiles", {"nmos-node"}},
                                           {"channel_binding", true},
                                           {"trust", {{"roots", {"lab/manufacturer-root.pem"}}}}});
      },
      true, "--lab");
  wait_for_https(server);
  EstClient est(server);

  // csrattrs asks for challengePassword on the label that requires it, and only there.
  const auto asked = [&](const std::string& label) {
    auto attributes = est.get("csrattrs", label);
    REQUIRE(attributes.status == 200);
    return run("openssl base64 -d -in " + shell_quote(attributes.body_file.string()) + " | openssl asn1parse -inform DER").output;
  };
  CHECK(contains(asked("bound"), "challengePassword"));
  CHECK_FALSE(contains(asked(""), "challengePassword"));

  struct Case {
    std::string tls;
    std::string binding;
    int status;
  };
  const std::vector<Case> cases{{"1.2", "right", 200}, {"1.2", "wrong", 403}, {"1.3", "right", 200},
                                {"1.3", "wrong", 403}, {"1.3", "none", 403}};
  const auto before = certificate_rows(server);
  int n = 0;
  for (const auto& c : cases) {
    const std::string name = "bound" + std::to_string(++n);
    const auto body = server.file(name + ".body");
    auto done = run("timeout 60 python3 " + shell_quote(FCA_EST_CHANNEL_BINDING_CLIENT) + " --port " +
                    std::to_string(server.https_port()) + " --cafile " + shell_quote(server.chain_pem().string()) +
                    " --cert " + shell_quote(lab(server, "device.crt.pem").string()) + " --key " +
                    shell_quote(lab(server, "device.key.pem").string()) +
                    " --path /.well-known/est/bound/simpleenroll --tls " + c.tls + " --binding " + c.binding + " --dir " +
                    shell_quote(server.file("").string()) + " --name " + name + " --body " + shell_quote(body.string()) +
                    " 2>&1");
    INFO("TLS " << c.tls << ", " << c.binding << " binding: " << done.output << "\nserver stderr:\n" << server.log());
    REQUIRE(done.exit_code == 0);
    CHECK(contains(done.output, "STATUS " + std::to_string(c.status)));
    if (c.status == 200) {
      HttpResponse answer;
      answer.body_file = body;
      const auto pem = server.file(name + ".pem");
      REQUIRE(est.certificates(answer, pem).exit_code == 0);
      est.check_issued(pem);
    }
  }
  CHECK(certificate_rows(server) == before + 2);
  CHECK(contains(server.log(), "is not this connection's tls-unique"));
  CHECK(contains(server.log(), "is not this connection's tls-exporter"));
  CHECK(contains(server.log(), "in the CSR's challengePassword"));

  // A plain curl CSR (no challengePassword) is refused here, still enrols on the default label.
  const auto device = EstClient::identity(lab(server, "device.crt.pem"), lab(server, "device.key.pem"));
  const auto plain = server.pki().csr("plain", "p256", "plain.localhost", "DNS:plain.localhost");
  CHECK(est.post(device, "simpleenroll", plain, "application/pkcs10", "bound").status == 403);
  CHECK(est.post(device, "simpleenroll", plain).status == 200);
}
