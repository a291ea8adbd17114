// The ready-to-send OCSP index in a real `facility-ca serve`: answers served from memory (the very
// same signed bytes again), a CLI revocation in another process in the next answer, only the changed
// entry re-signed, and unknown serials signed per request rather than indexed. An ECDSA signature
// differs every time it is made, so equal bytes mean an answer was not signed again.
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

void check_answer(const ServeFixture& server, const HttpResponse& response, const std::filesystem::path& cert,
                  const std::string& status) {
  INFO(response.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(response.status == 200);
  auto checked = server.check_response(response.body_file, cert);
  INFO(checked.output);
  CHECK(checked.exit_code == 0);
  CHECK(contains(checked.output, "Response verify OK"));
  CHECK(contains(checked.output, ": " + status + "\n"));
}

}  // namespace

TEST_CASE("serve: the OCSP index serves pre-signed answers and a CLI revocation is in the next answer",
          "[serve][ocsp][index]") {
  ServeFixture server;
  const auto hot = server.issue_leaf("hot");
  const auto cold = server.issue_leaf("cold");
  const auto hot_request = server.ocsp_request(hot, "hot.der");
  const auto cold_request = server.ocsp_request(cold, "cold.der");
  const auto hot_get = "/ocsp/" + percent_encode_base64(base64(read_file(hot_request)));

  auto first = server.http("", hot_get);
  check_answer(server, first, hot, "good");
  auto again = server.post_ocsp(hot_request);
  check_answer(server, again, hot, "good");
  CHECK(again.body == first.body);  // GET and POST alike: the indexed answer, not a new signature
  CHECK(again.header("ETag") == first.header("ETag"));
  auto cold_first = server.post_ocsp(cold_request);
  check_answer(server, cold_first, cold, "good");

  // Another certificate of the same CA revoked by another process: the hot entry is checked, found
  // unchanged and served as it was signed; the cold one is answered revoked at once.
  server.cli("revoke " + server.pki().serial_of(cold) + " --reason superseded");
  auto cold_revoked = server.post_ocsp(cold_request);
  check_answer(server, cold_revoked, cold, "revoked");
  auto hot_unchanged = server.post_ocsp(hot_request);
  check_answer(server, hot_unchanged, hot, "good");
  CHECK(hot_unchanged.body == first.body);

  // Now the hot one: the very next answer, GET or openssl ocsp, says revoked.
  server.cli("revoke " + server.pki().serial_of(hot) + " --reason keyCompromise");
  auto revoked = server.http("", hot_get);
  check_answer(server, revoked, hot, "revoked");
  CHECK(revoked.body != first.body);
  {
    auto queried = server.ocsp_query(hot, "-no_nonce");
    INFO(queried.output << "\nserver stderr:\n" << server.log());
    CHECK(queried.exit_code == 0);
    CHECK(contains(queried.output, "Response verify OK"));
    CHECK(contains(queried.output, ": revoked\n"));
    CHECK(contains(queried.output, "Reason: keyCompromise"));
  }
  // The new answer is indexed in its turn.
  auto revoked_again = server.post_ocsp(hot_request);
  check_answer(server, revoked_again, hot, "revoked");
  CHECK(revoked_again.body == revoked.body);
}

TEST_CASE("serve: unknown serials are answered but never indexed", "[serve][ocsp][index]") {
  ServeFixture server;
  const auto request = server.pki().file("unknown.der");
  auto made = run("openssl ocsp -no_nonce -issuer " + shell_quote(server.pki().issuing_pem().string()) +
                  " -serial 0x1234567890ABCDEF1234567890ABCDEF -reqout " + shell_quote(request.string()));
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  auto first = server.post_ocsp(request);
  auto second = server.post_ocsp(request);
  INFO(first.describe() << "\n" << second.describe() << "\nserver stderr:\n" << server.log());
  REQUIRE(first.status == 200);
  REQUIRE(second.status == 200);
  auto checked = run("openssl ocsp -no_nonce -respin " + shell_quote(second.body_file.string()) + " -issuer " +
                     shell_quote(server.pki().issuing_pem().string()) + " -CAfile " +
                     shell_quote(server.chain_pem().string()) + " -serial 0x1234567890ABCDEF1234567890ABCDEF");
  INFO(checked.output);
  CHECK(contains(checked.output, "Response verify OK"));
  CHECK(contains(checked.output, ": unknown\n"));
  CHECK(first.body != second.body);  // signed for each request: nothing kept for a serial never issued
}
