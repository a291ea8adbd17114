// /metrics of a real `facility-ca serve` (init --lab: EST and the API on one HTTPS listener, OCSP and
// CRLs on plain HTTP), read line by line as Prometheus text, before and after an API issuance and
// revocation, a refused API call, an OCSP request and an EST enrolment (one issued, one refused).
#include "prometheus_text.hpp"
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

struct LabServer {
  ServeFixture server{{}, true, "--lab"};
  std::string admin;

  LabServer() {
    REQUIRE(server.wait_for_log("listening on https://"));
    admin = trim(read_file(server.pki().dir() / "secrets" / "api-admin-token"));
    REQUIRE(admin.starts_with("fca_"));
  }
  std::string https(const std::string& path) const {
    return "https://localhost:" + std::to_string(server.https_port()) + path;
  }
  std::string trust() const {
    return "--resolve localhost:" + std::to_string(server.https_port()) + ":127.0.0.1 --cacert " +
           shell_quote(server.chain_pem().string()) + " ";
  }
  HttpResponse api(const std::string& method, const std::string& path, const std::optional<std::string>& body = std::nullopt) {
    std::string args = trust() + "-X " + method + " -H " + shell_quote("Authorization: Bearer " + admin) + " ";
    if (body) {
      const auto file = server.file("api-body-" + std::to_string(++bodies) + ".json");
      write_file(file, *body);
      args += "-H 'Content-Type: application/json' --data-binary @" + shell_quote(file.string()) + " ";
    }
    return server.http(args, https(path));
  }
  std::map<std::string, double> metrics() {
    auto r = api("GET", "/metrics");
    INFO(r.describe() << "\n" << r.body.substr(0, 2000));
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    return parse_metrics(r.body);
  }
  int bodies = 0;
};

}  // namespace

TEST_CASE("api: /metrics is Prometheus text and moves with issuance, revocation, refusal, OCSP and EST", "[api][integration][metrics]") {
  LabServer lab;
  auto& server = lab.server;
  const auto before = lab.metrics();

  // Present from the start, with sane values.
  for (const auto* series : {"fca_certificates{ca=\"issuing\",status=\"valid\"}", "fca_crl_number{ca=\"issuing\"}",
                             "fca_crl_age_seconds{ca=\"issuing\"}", "fca_crl_next_update_seconds{ca=\"issuing\"}",
                             "fca_scheduler_failing{ca=\"issuing\",task=\"crl\"}",
                             "fca_scheduler_failures_total{ca=\"issuing\",task=\"ocsp_signer\"}",
                             "fca_leaf_soonest_expiry_seconds", "fca_ca_soonest_expiry_seconds",
                             "fca_ocsp_requests_total{status=\"successful\"}", "fca_ocsp_request_duration_seconds_count",
                             "fca_api_authentication_failures_total"}) {
    INFO(series);
    CHECK(before.contains(series));
  }
  CHECK(before.at("fca_crl_age_seconds{ca=\"issuing\"}") >= 0);
  CHECK(before.at("fca_crl_next_update_seconds{ca=\"issuing\"}") > 0);
  CHECK(before.at("fca_ca_soonest_expiry_seconds") > 86400);
  CHECK(before.at("fca_leaf_soonest_expiry_seconds") > 0);
  CHECK(before.at("fca_scheduler_failing{ca=\"issuing\",task=\"crl\"}") == 0);

  // An issuance and a revocation over the API.
  const auto csr = read_file(server.pki().csr("metrics", "p256", "metrics.example.test", "DNS:metrics.example.test"));
  auto issued = lab.api("POST", "/api/v1/certificates", nlohmann::json{{"csr", csr}, {"profile", "nmos-node"}}.dump());
  INFO(issued.describe() << "\n" << issued.body);
  REQUIRE(issued.status == 201);
  const auto issued_json = nlohmann::json::parse(issued.body);
  const std::string serial = issued_json["certificate"]["serial"];
  const auto leaf = server.file("metrics-leaf.pem");
  write_file(leaf, issued_json["certificate_pem"].get<std::string>());
  const int rebuilds = occurrences_of(server.log(), "rebuilt 1 full CRL(s)");
  auto revoked = lab.api("POST", "/api/v1/certificates/" + serial + "/revoke", nlohmann::json{{"reason", "keyCompromise"}}.dump());
  REQUIRE(revoked.status == 200);
  // The full CRL (whose number the metrics show) is rebuilt by serve in the background.
  REQUIRE(server.wait_for_log("rebuilt 1 full CRL(s)", rebuilds + 1));
  // A refused API call.
  CHECK(lab.api("POST", "/api/v1/certificates", R"({"profile":"nmos-node","surprise":1})").status == 400);
  // One OCSP request.
  auto ocsp = server.ocsp_query(leaf);
  INFO(ocsp.output);
  CHECK(contains(ocsp.output, ": revoked"));
  // One EST enrolment with the lab device's certificate, one without a client certificate.
  const auto device = "--cert " + shell_quote((server.pki().dir() / "lab" / "device.crt.pem").string()) + " --key " +
                      shell_quote((server.pki().dir() / "lab" / "device.key.pem").string()) + " ";
  const auto est_csr = server.pki().csr("metrics-node", "p256", "metrics-node.localhost", "DNS:metrics-node.localhost");
  const auto enrol = [&](const std::string& identity) {
    return server.http(lab.trust() + identity + "-H 'Content-Type: application/pkcs10' --data-binary @" + shell_quote(est_csr.string()),
                       lab.https("/.well-known/est/simpleenroll"));
  };
  auto enrolled = enrol(device);
  INFO(enrolled.describe() << "\n" << server.log());
  CHECK(enrolled.status == 200);
  CHECK(enrol("").status == 403);

  const auto after = lab.metrics();
  const auto delta = [&](const std::string& series) { return metric(after, series) - metric(before, series); };
  CHECK(delta("fca_issuances_total{ca=\"issuing\",frontend=\"api\"}") == 1);
  CHECK(delta("fca_issuances_total{ca=\"issuing\",frontend=\"est\"}") == 1);
  CHECK(delta("fca_revocations_total{ca=\"issuing\",reason=\"keyCompromise\"}") == 1);
  CHECK(delta("fca_refusals_total{frontend=\"api\",reason=\"invalid_input\"}") == 1);
  CHECK(delta("fca_certificates{ca=\"issuing\",status=\"revoked\"}") == 1);
  CHECK(delta("fca_certificates{ca=\"issuing\",status=\"valid\"}") == 1);  // the EST one
  CHECK(delta("fca_crl_number{ca=\"issuing\"}") >= 1);
  CHECK(delta("fca_ocsp_requests_total{status=\"successful\"}") == 1);
  CHECK(delta("fca_ocsp_request_duration_seconds_count") == 1);
  CHECK(delta("fca_ocsp_request_duration_seconds_bucket{le=\"+Inf\"}") == 1);
  CHECK(delta("fca_ocsp_request_duration_seconds_sum") > 0);
  CHECK(delta("fca_est_enrollments_total{label=\"\",operation=\"simpleenroll\",result=\"issued\"}") == 1);
  CHECK(delta("fca_est_enrollments_total{label=\"\",operation=\"simpleenroll\",result=\"refused\"}") == 1);
  CHECK(delta("fca_api_authentication_failures_total") == 0);

  // A bad token counts as a failed authentication and a refusal.
  CHECK(server.http(lab.trust() + "-H 'Authorization: Bearer fca_not-a-token'", lab.https("/metrics")).status == 401);
  const auto later = lab.metrics();
  CHECK(metric(later, "fca_api_authentication_failures_total") - metric(after, "fca_api_authentication_failures_total") == 1);
  CHECK(metric(later, "fca_refusals_total{frontend=\"api\",reason=\"unauthorized\"}") -
            metric(after, "fca_refusals_total{frontend=\"api\",reason=\"unauthorized\"}") == 1);
}

TEST_CASE("the Prometheus text reader refuses what the format does not allow", "[metrics]") {
  // The reader is this suite's check of /metrics: show that it can fail.
  const std::string good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"a\\\"b\"} 3\n"
                           "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";
  const auto parsed = read_metrics(good);
  CHECK(parsed.problems.empty());
  CHECK(parsed.samples.at("a_total{x=\"1\",y=\"a\\\"b\"}") == 3);
  CHECK(parsed.samples.at("h_count") == 2);
  const std::vector<std::pair<std::string, std::string>> broken{
      {"# TYPE a counter\na 1\n", "TYPE before HELP"},
      {"# HELP a A.\n# TYPE a counter\na 1", "newline"},
      {"# HELP a A.\n# TYPE a counter\na one\n", "not a sample"},
      {"# HELP a A.\n# TYPE a counter\na{x=1} 1\n", "malformed labels"},
      {"# HELP a A.\n# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n", "twice"},
      {"# HELP a A.\n# TYPE a counter\na 1\na 2\n", "the series twice"},
      {"# HELP a A.\n# TYPE a counter\na -1\n", "negative"},
      {"# HELP a A.\n# TYPE a counter\nb 1\n", "outside its family"},
      {"# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\nb 1\na 1\n", "outside its family"},
      {"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "not cumulative"},
      {"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "_count differs"},
      {"# HELP a A.\n# TYPE a counter\n# just a note\na 1\n", "neither HELP nor TYPE"},
  };
  for (const auto& [text, expected] : broken) {
    const auto read = read_metrics(text);
    std::string problems;
    for (const auto& p : read.problems) problems += p + "\n";
    INFO(text << "\n-> " << problems);
    CHECK(contains(problems, expected));
  }
}
