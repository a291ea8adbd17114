// Details of `facility-ca serve` checked against the RFCs: the HTTP headers RFC 5019 6.2 and RFC 9110
// ask for, and a responder mounted at the root path (ocsp.path "") next to the CRL publisher.
#include "serve_fixture.hpp"

using namespace fca::test;

TEST_CASE("serve: OCSP responses carry Date, and Last-Modified is thisUpdate (RFC 5019 6.2)", "[serve][ocsp][rfc5019]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("dated");
  const auto request = server.ocsp_request(leaf, "dated.der");

  auto get = server.http("", "/ocsp/" + percent_encode_base64(base64(read_file(request))));
  INFO(get.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(get.status == 200);
  auto checked = server.check_response(get.body_file, leaf);
  INFO(checked.output);
  REQUIRE(contains(checked.output, ": good"));

  // RFC 9110 6.6.1: an origin server with a clock MUST send Date in 2xx, 3xx and 4xx responses; RFC 5019
  // 6.2 lists it among the headers that let HTTP caches handle OCSP responses (Age needs it).
  const auto date = parse_http_date(get.header("Date"));
  CHECK(date.has_value());
  if (date) CHECK(std::abs(static_cast<long>(*date - std::time(nullptr))) <= 5);

  // RFC 5019 6.2: "Last-Modified ... will be the same as the thisUpdate timestamp" of the response, and
  // Expires the same as nextUpdate.
  const auto this_update = parse_openssl_date(field_after(checked.output, "This Update"));
  const auto next_update = parse_openssl_date(field_after(checked.output, "Next Update"));
  const auto last_modified = parse_http_date(get.header("Last-Modified"));
  const auto expires = parse_http_date(get.header("Expires"));
  REQUIRE(this_update.has_value());
  REQUIRE(next_update.has_value());
  REQUIRE(last_modified.has_value());
  REQUIRE(expires.has_value());
  CHECK(*expires == *next_update);
  CHECK(*last_modified == *this_update);
}

TEST_CASE("serve: CRL responses carry Date, and Last-Modified is the CRL's thisUpdate", "[serve][crl][rfc5019]") {
  ServeFixture server;
  auto crl = server.http("", "/crl/issuing.crl");
  INFO(crl.describe());
  REQUIRE(crl.status == 200);
  CHECK(parse_http_date(crl.header("Date")).has_value());
  auto crl_text = run("openssl crl -inform DER -noout -lastupdate -nextupdate -in " + shell_quote(crl.body_file.string()));
  INFO(crl_text.output);
  const auto last_update_at = crl_text.output.find("lastUpdate=");
  REQUIRE(last_update_at != std::string::npos);
  const auto crl_this_update =
      parse_openssl_date(trim(crl_text.output.substr(last_update_at + 11, crl_text.output.find('\n', last_update_at) - last_update_at - 11)));
  REQUIRE(crl_this_update.has_value());
  CHECK(parse_http_date(crl.header("Last-Modified")) == crl_this_update);
}

TEST_CASE("serve: with ocsp.path \"\" the responder answers at / and /crl, /ca still serve CRLs and certificates",
          "[serve][ocsp][crl][config]") {
  // config.cpp accepts "" ("must be \"\" or a path such as \"/ocsp\""): OCSP at the root, as RFC 5019
  // deployments often do, on the same listener as the CRL publisher (the default front ends).
  ServeFixture server([](nlohmann::json& config) { config["ocsp"]["path"] = ""; });
  const auto leaf = server.issue_leaf("rooted");
  const auto request = server.ocsp_request(leaf, "rooted.der");

  // OCSP works at the root, POST and GET.
  auto post = server.http("--data-binary @" + shell_quote(request.string()) + " -H 'Content-Type: application/ocsp-request'",
                          "/");
  {
    INFO(post.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(post.status == 200);
    auto checked = server.check_response(post.body_file, leaf);
    INFO(checked.output);
    CHECK(contains(checked.output, ": good"));
  }
  auto get = server.http("", "/" + percent_encode_base64(base64(read_file(request))));
  {
    INFO(get.describe());
    REQUIRE(get.status == 200);
    auto checked = server.check_response(get.body_file, leaf);
    INFO(checked.output);
    CHECK(contains(checked.output, ": good"));
  }

  // The CRL and CA certificate URLs the certificates name must still give CRLs and certificates, not
  // OCSP malformedRequest answers.
  auto crl = server.http("", "/crl/issuing.crl");
  {
    INFO(crl.describe() << "\nserver stderr:\n" << server.log());
    CHECK(crl.status == 200);
    CHECK(crl.header("Content-Type") == "application/pkix-crl");
    CHECK(run("openssl crl -inform DER -noout -in " + shell_quote(crl.body_file.string())).exit_code == 0);
  }
  auto pem = server.http("", "/crl/issuing.pem");
  {
    INFO(pem.describe());
    CHECK(pem.status == 200);
    CHECK(pem.body.starts_with("-----BEGIN X509 CRL-----"));
  }
  auto ca = server.http("", "/ca/issuing.crt");
  {
    INFO(ca.describe());
    CHECK(ca.status == 200);
    CHECK(ca.header("Content-Type") == "application/pkix-cert");
  }
}
