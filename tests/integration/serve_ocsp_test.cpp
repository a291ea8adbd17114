// `facility-ca serve` as an OCSP responder, asked by real clients (openssl ocsp, curl) on loopback.
#include <random>

#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// The status openssl ocsp printed for a certificate: "<name>: good" and the lines after it.
void check_status(const CommandResult& result, const std::string& status) {
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(contains(result.output, "Response verify OK"));
  CHECK(contains(result.output, ": " + status + "\n"));
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

}  // namespace

TEST_CASE("serve: openssl ocsp sees good, revoked, on hold, released and unknown", "[serve][ocsp]") {
  ServeFixture server;
  const auto victim = server.issue_leaf("victim");
  const auto held = server.issue_leaf("held");
  const auto victim_serial = server.pki().serial_of(victim);
  const auto held_serial = server.pki().serial_of(held);

  // Each state is asked twice: with a nonce (signed afresh) and without (the responder's cached answer),
  // so a stale cache cannot hide behind a fresh signature.
  const std::vector<std::string> variants{"-nonce", "-no_nonce"};
  for (const auto& variant : variants) {
    INFO("openssl ocsp " << variant << "\nserver stderr:\n" << server.log());
    check_status(server.ocsp_query(victim, variant), "good");
    check_status(server.ocsp_query(held, variant), "good");
  }
  {
    auto with_nonce = server.ocsp_query(victim, "-nonce");
    INFO(with_nonce.output);
    CHECK_FALSE(contains(with_nonce.output, "WARNING: no nonce in response"));
    CHECK_FALSE(contains(with_nonce.output, "Nonce Verify error"));
  }

  // A CLI revoke in another process, while the server runs.
  server.cli("revoke " + victim_serial + " --reason keyCompromise");
  for (const auto& variant : variants) {
    INFO("openssl ocsp " << variant << "\nserver stderr:\n" << server.log());
    auto revoked = server.ocsp_query(victim, variant);
    check_status(revoked, "revoked");
    CHECK(contains(revoked.output, "Reason: keyCompromise"));
    CHECK(contains(revoked.output, "Revocation Time: "));
  }

  server.cli("hold " + held_serial);
  for (const auto& variant : variants) {
    INFO("openssl ocsp " << variant << "\nserver stderr:\n" << server.log());
    auto on_hold = server.ocsp_query(held, variant);
    check_status(on_hold, "revoked");
    CHECK(contains(on_hold.output, "Reason: certificateHold"));
  }

  server.cli("unhold " + held_serial);
  for (const auto& variant : variants) {
    INFO("openssl ocsp " << variant << "\nserver stderr:\n" << server.log());
    auto released = server.ocsp_query(held, variant);
    check_status(released, "good");
    CHECK_FALSE(contains(released.output, "Reason:"));
    // The revoked one stays revoked.
    check_status(server.ocsp_query(victim, variant), "revoked");
  }

  // A serial this CA never issued.
  for (const auto& variant : variants) {
    INFO("openssl ocsp " << variant << "\nserver stderr:\n" << server.log());
    check_status(server.ocsp_query_serial("1234567890ABCDEF1234567890ABCDEF", variant), "unknown");
  }

  // Two certificates in one request: one answer each, in one signed response.
  {
    auto both = server.ocsp_query(victim, "-cert " + shell_quote(held.string()));
    INFO(both.output << "\nserver stderr:\n" << server.log());
    CHECK(both.exit_code == 0);
    CHECK(contains(both.output, "Response verify OK"));
    CHECK(contains(both.output, victim.string() + ": revoked"));
    CHECK(contains(both.output, held.string() + ": good"));
  }
  // The root answers for the issuing CA certificate through its own delegated responder.
  {
    auto issuing = run("openssl ocsp -timeout 10 -issuer " + shell_quote(server.pki().root_pem().string()) + " -cert " +
                       shell_quote(server.pki().issuing_pem().string()) + " -url " + shell_quote(server.ocsp_url()) +
                       " -CAfile " + shell_quote(server.chain_pem().string()));
    INFO(issuing.output << "\nserver stderr:\n" << server.log());
    check_status(issuing, "good");
  }

  // The response is signed by a delegated responder certificate: issued by the issuing CA, with the
  // OCSPSigning EKU, not the CA certificate itself. openssl's "Response verify OK" above checked the
  // chain to the root; here is what signed it.
  auto text = server.ocsp_query(victim, "-resp_text");
  INFO(text.output);
  CHECK(text.exit_code == 0);
  CHECK(contains(text.output, "Response verify OK"));
  CHECK(contains(text.output, "Responder Id: "));
  CHECK(contains(text.output, "OCSP Signing"));
  CHECK(contains(text.output, "Subject: CN=Facility Issuing CA OCSP Responder"));
  CHECK(contains(text.output, "Issuer: CN=Facility Issuing CA\n"));
  // Trusting only the root is not enough without the issuing CA: the responder chains through it.
  auto root_only = run("openssl ocsp -timeout 10 -issuer " + shell_quote(server.pki().issuing_pem().string()) + " -cert " +
                       shell_quote(victim.string()) + " -url " + shell_quote(server.ocsp_url()) + " -CAfile " +
                       shell_quote(server.pki().root_pem().string()) + " -verify_other " +
                       shell_quote(server.pki().issuing_pem().string()));
  INFO(root_only.output);
  CHECK(contains(root_only.output, "Response verify OK"));
}

TEST_CASE("serve: OCSP over GET and POST, nonces, RFC 5019 caching headers, 415 and 405", "[serve][ocsp][http]") {
  ServeFixture server([](nlohmann::json& config) { config["ocsp"]["max_age_seconds"] = 600; });
  const auto leaf = server.issue_leaf("web");

  // --- a nonce-less request (cacheable): SHA-256 CertID, 115 bytes, so its base64 ends in '='.
  const auto plain = server.ocsp_request(leaf, "plain.der", "-no_nonce -sha256");
  const auto plain_b64 = base64(read_file(plain));
  REQUIRE(plain_b64.ends_with("="));

  auto post = server.post_ocsp(plain);
  {
    INFO(post.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(post.status == 200);
    CHECK(post.header("Content-Type") == "application/ocsp-response");
    auto checked = server.check_response(post.body_file, leaf, "-sha256");
    INFO(checked.output);
    CHECK(checked.exit_code == 0);
    CHECK(contains(checked.output, "Response verify OK"));
    CHECK(contains(checked.output, ": good"));

    // RFC 5019 6.2 headers on a cacheable answer.
    const auto cache_control = post.header("Cache-Control");
    const long max_age = max_age_of(cache_control);
    CHECK(max_age > 0);
    CHECK(max_age <= 600);  // ocsp.max_age_seconds
    CHECK(contains(cache_control, "public"));
    CHECK(contains(cache_control, "no-transform"));
    CHECK(contains(cache_control, "must-revalidate"));
    CHECK_FALSE(contains(cache_control, "no-cache"));
    const auto last_modified = parse_http_date(post.header("Last-Modified"));
    const auto expires = parse_http_date(post.header("Expires"));
    CHECK(last_modified.has_value());
    REQUIRE(expires.has_value());
    CHECK(!post.header("ETag").empty());
    if (last_modified) CHECK(*expires > *last_modified);
    // Expires is the response's nextUpdate.
    const auto next_update = parse_openssl_date(field_after(checked.output, "Next Update"));
    REQUIRE(next_update.has_value());
    CHECK(*expires == *next_update);
    // max-age ends no later than nextUpdate (a little slack for the second boundaries).
    CHECK(std::time(nullptr) + max_age <= *next_update + 2);
  }

  // GET with the raw base64 and with '/', '+', '=' percent-encoded.
  for (const auto& encoded : {plain_b64, percent_encode_base64(plain_b64)}) {
    auto get = server.http("", "/ocsp/" + encoded);
    INFO("GET /ocsp/" << encoded << "\n" << get.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(get.status == 200);
    CHECK(get.header("Content-Type") == "application/ocsp-response");
    auto checked = server.check_response(get.body_file, leaf, "-sha256");
    INFO(checked.output);
    CHECK(contains(checked.output, "Response verify OK"));
    CHECK(contains(checked.output, ": good"));
    const long max_age = max_age_of(get.header("Cache-Control"));
    CHECK(max_age > 0);
    CHECK(max_age <= 600);
    CHECK(contains(get.header("Cache-Control"), "public"));
    CHECK(!get.header("ETag").empty());
    CHECK(!get.header("Last-Modified").empty());
    CHECK(!get.header("Expires").empty());

    // A conditional GET with the ETag gets 304 and no body.
    const auto etag = get.header("ETag");
    if (!etag.empty()) {
      auto again = server.http("-H " + shell_quote("If-None-Match: " + etag), "/ocsp/" + encoded);
      INFO(again.describe());
      CHECK(again.status == 304);
      CHECK(again.body.empty());
    }
  }

  // --- requests with a nonce: loop until the base64 holds '/', '+' and '=' (SHA-1 CertID plus a
  // 16-byte nonce is 124 bytes, so '==' always; the random nonce varies the rest). Bounded.
  std::filesystem::path nonce_request;
  std::string nonce_b64;
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto candidate = server.ocsp_request(leaf, "nonce.der", "-nonce");
    auto text = base64(read_file(candidate));
    if (contains(text, "/") && contains(text, "+") && contains(text, "=")) {
      nonce_request = candidate;
      nonce_b64 = text;
      break;
    }
  }
  REQUIRE(!nonce_b64.empty());

  std::vector<HttpResponse> nonce_answers;
  nonce_answers.push_back(server.http("", "/ocsp/" + nonce_b64));
  nonce_answers.push_back(server.http("", "/ocsp/" + percent_encode_base64(nonce_b64)));
  nonce_answers.push_back(server.post_ocsp(nonce_request));
  for (const auto& answer : nonce_answers) {
    INFO(answer.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(answer.status == 200);
    CHECK(answer.header("Content-Type") == "application/ocsp-response");
    // -reqin without -cert: openssl compares the response's nonce with the request's.
    auto nonce_check = run("openssl ocsp -reqin " + shell_quote(nonce_request.string()) + " -respin " +
                           shell_quote(answer.body_file.string()) + " -issuer " +
                           shell_quote(server.pki().issuing_pem().string()) + " -CAfile " +
                           shell_quote(server.chain_pem().string()));
    INFO(nonce_check.output);
    CHECK(nonce_check.exit_code == 0);
    CHECK(contains(nonce_check.output, "Response verify OK"));
    CHECK_FALSE(contains(nonce_check.output, "WARNING: no nonce in response"));
    CHECK_FALSE(contains(nonce_check.output, "Nonce Verify error"));
    auto checked = server.check_response(answer.body_file, leaf);
    INFO(checked.output);
    CHECK(contains(checked.output, ": good"));
    // An answer to a nonce is for this client only.
    const auto cache_control = answer.header("Cache-Control");
    CHECK((max_age_of(cache_control) == 0 || contains(cache_control, "no-cache")));
    CHECK_FALSE(contains(cache_control, "public"));
  }
  // The same through openssl's own HTTP client.
  {
    auto own = server.ocsp_query(leaf, "-nonce");
    INFO(own.output);
    CHECK(contains(own.output, ": good"));
    CHECK_FALSE(contains(own.output, "WARNING: no nonce in response"));
  }

  // --- a malformed request's answer is not cacheable either.
  {
    auto error = server.http("", "/ocsp/AAAA");
    INFO(error.describe());
    CHECK(error.status == 200);
    CHECK(error.body == ocsp_error_der(1));
    const auto cache_control = error.header("Cache-Control");
    CHECK((max_age_of(cache_control) == 0 || contains(cache_control, "no-cache")));
    CHECK_FALSE(contains(cache_control, "public"));
  }

  // --- wrong media type on POST: 415.
  for (const auto& type : {"-H 'Content-Type: text/plain'", "-H 'Content-Type: application/octet-stream'", ""}) {
    auto refused = server.http(std::string("--data-binary @") + shell_quote(plain.string()) + " " + type, "/ocsp");
    INFO(type << "\n" << refused.describe());
    CHECK(refused.status == 415);
  }
  // Parameters and case do not change the media type.
  {
    auto with_parameter = server.http("--data-binary @" + shell_quote(plain.string()) +
                                          " -H 'Content-Type: Application/OCSP-Request; charset=binary'",
                                      "/ocsp");
    INFO(with_parameter.describe());
    CHECK(with_parameter.status == 200);
    CHECK(with_parameter.header("Content-Type") == "application/ocsp-response");
  }

  // --- methods that are not allowed: 405 with Allow.
  for (const auto& method : {"PUT", "DELETE", "PATCH"}) {
    for (const auto& target : {std::string("/ocsp"), "/ocsp/" + plain_b64}) {
      auto refused = server.http(std::string("-X ") + method + " -d ''", target);
      INFO(method << " " << target << "\n" << refused.describe());
      CHECK(refused.status == 405);
      const auto allow = refused.header("Allow");
      CHECK(contains(allow, "GET"));
      CHECK(contains(allow, "POST"));
    }
  }
  for (const auto& method : {"PUT", "DELETE", "POST", "PATCH"}) {
    for (const auto* target : {"/crl/issuing.crl", "/crl/issuing.pem", "/ca/issuing.crt"}) {
      auto refused = server.http(std::string("-X ") + method + " -d ''", target);
      INFO(method << " " << target << "\n" << refused.describe());
      CHECK(refused.status == 405);
      CHECK(contains(refused.header("Allow"), "GET"));
    }
  }

  // --- after a revoke, the same cacheable GET gets a new answer (and a new ETag), not the cached one.
  const auto etag_before = server.http("", "/ocsp/" + plain_b64).header("ETag");
  server.cli("revoke " + server.pki().serial_of(leaf) + " --reason superseded");
  auto after = server.http("-H " + shell_quote("If-None-Match: " + etag_before), "/ocsp/" + plain_b64);
  INFO(after.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(after.status == 200);
  CHECK(after.header("ETag") != etag_before);
  auto checked = server.check_response(after.body_file, leaf, "-sha256");
  INFO(checked.output);
  CHECK(contains(checked.output, ": revoked"));
  CHECK(contains(checked.output, "Reason: superseded"));
}

TEST_CASE("serve: malformed and oversized OCSP requests never crash the responder", "[serve][ocsp][robustness]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("sturdy");
  const auto good = server.ocsp_request(leaf, "good.der");
  const auto good_der = read_file(good);
  REQUIRE(good_der.size() > 10);

  std::mt19937 rng(20240601);
  std::vector<std::pair<std::string, std::string>> bodies{
      {"empty body", ""},
      {"one byte", "\x30"},
      {"random 7 bytes", random_bytes(rng, 7)},
      {"random 100 bytes", random_bytes(rng, 100)},
      {"random 60000 bytes", random_bytes(rng, 60000)},
      {"truncated DER (half)", good_der.substr(0, good_der.size() / 2)},
      {"truncated DER (last byte missing)", good_der.substr(0, good_der.size() - 1)},
      {"valid DER then a trailing byte", good_der + std::string(1, '\0')},
      {"SEQUENCE claiming 4 GiB", std::string("\x30\x84\xff\xff\xff\xff\x30\x00", 8)},
      {"empty SEQUENCE", std::string("\x30\x00", 2)},
      {"request list with no requests", std::string("\x30\x06\x30\x04\x30\x02\x30\x00", 8)},
  };
  int n = 0;
  for (const auto& [what, body] : bodies) {
    const auto file = server.file("bad-" + std::to_string(++n) + ".der");
    write_file(file, body);
    auto answer = server.post_ocsp(file);
    INFO(what << "\n" << answer.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(answer.status == 200);
    CHECK(answer.header("Content-Type") == "application/ocsp-response");
    CHECK(hex_bytes(answer.body) == hex_bytes(ocsp_error_der(1)));  // malformedRequest
    auto text = run("openssl ocsp -respin " + shell_quote(answer.body_file.string()) + " -resp_text -noverify");
    INFO(text.output);
    CHECK(contains(text.output, "malformedrequest"));
  }

  // The same through GET: not base64, broken percent-escapes, base64 of garbage.
  for (const auto& encoded : {std::string("AAAA"), std::string("%ZZ"), std::string("%4"), std::string("!!!!"),
                              std::string("===="), base64(random_bytes(rng, 90)), base64(good_der).substr(1)}) {
    auto answer = server.http("", "/ocsp/" + encoded);
    INFO("GET /ocsp/" << encoded << "\n" << answer.describe() << "\nserver stderr:\n" << server.log());
    REQUIRE(answer.status == 200);
    CHECK(hex_bytes(answer.body) == hex_bytes(ocsp_error_der(1)));
  }

  // A request about a CA this server does not run: unauthorized (6), not a crash.
  {
    const auto foreign_key = server.file("foreign.key");
    const auto foreign = server.file("foreign.pem");
    auto made = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=Elsewhere -keyout " +
                    shell_quote(foreign_key.string()) + " -out " + shell_quote(foreign.string()));
    INFO(made.output);
    REQUIRE(made.exit_code == 0);
    const auto request = server.file("foreign.der");
    auto written = run("openssl ocsp -no_nonce -issuer " + shell_quote(foreign.string()) + " -serial 0x01 -reqout " +
                       shell_quote(request.string()));
    REQUIRE(written.exit_code == 0);
    auto answer = server.post_ocsp(request);
    INFO(answer.describe() << "\nserver stderr:\n" << server.log());
    CHECK(answer.status == 200);
    CHECK(hex_bytes(answer.body) == hex_bytes(ocsp_error_der(6)));
  }

  // Bodies above serve.max_body_bytes (64 KiB by default): 413, with Content-Length or chunked.
  const auto just_over = server.file("just-over.bin");
  write_file(just_over, random_bytes(rng, 64 * 1024 + 1));
  const auto mebibyte = server.file("mebibyte.bin");
  write_file(mebibyte, random_bytes(rng, 1024 * 1024));
  for (const auto& [what, args] : std::vector<std::pair<std::string, std::string>>{
           {"64 KiB + 1", "--data-binary @" + shell_quote(just_over.string())},
           {"1 MiB", "--data-binary @" + shell_quote(mebibyte.string())},
           {"1 MiB chunked", "--data-binary @" + shell_quote(mebibyte.string()) + " -H 'Transfer-Encoding: chunked'"},
       }) {
    auto answer = server.http(args + " -H 'Content-Type: application/ocsp-request'", "/ocsp");
    INFO(what << "\n" << answer.describe() << "\nserver stderr:\n" << server.log());
    CHECK(answer.status == 413);
  }
  // A GET whose URL is far too long: refused with a 4xx, not a crash.
  {
    auto answer = server.http("", "/ocsp/" + std::string(30000, 'A'));
    INFO(answer.describe());
    CHECK(answer.status >= 400);
    CHECK(answer.status < 500);
  }

  // Still alive, still right.
  SERVE_REQUIRE(server, server.running());
  auto still = server.post_ocsp(good);
  INFO(still.describe());
  REQUIRE(still.status == 200);
  auto checked = server.check_response(still.body_file, leaf);
  INFO(checked.output);
  CHECK(contains(checked.output, "Response verify OK"));
  CHECK(contains(checked.output, ": good"));
  check_status(server.ocsp_query(leaf), "good");
  // The rejects were logged as warnings, and the process is still the one that started.
  CHECK(contains(server.log(), "malformedRequest"));
  SERVE_CHECK(server, server.running());
}
