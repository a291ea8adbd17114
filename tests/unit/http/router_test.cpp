// The router and the message helpers without sockets: what every listener answers before a front
// end sees a request.
#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>

#include "fca/http/router.hpp"
#include "fca/ocsp/ocsp_http.hpp"

using namespace fca::http;

namespace {

std::shared_ptr<spdlog::logger> quiet() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

Request request(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

Handler echo(std::string who) {
  return [who](const Request& r) { return Response(200, who + " " + r.method + " " + r.target); };
}

}  // namespace

TEST_CASE("router: exact beats prefix, the longest prefix wins, unknown paths are 404", "[http][router]") {
  Router router(quiet());
  router.add(Match::prefix, "/", {"GET"}, echo("root"), Run::io_thread);
  router.add(Match::prefix, "/crl/", {"GET"}, echo("crl"), Run::io_thread);
  router.add(Match::exact, "/crl/special", {"GET"}, echo("special"), Run::io_thread);

  auto r = request("GET", "/crl/issuing.crl");
  CHECK(router.route(r).now->body == "crl GET /crl/issuing.crl");
  r = request("GET", "/crl/special");
  CHECK(router.route(r).now->body == "special GET /crl/special");
  r = request("GET", "/other");
  CHECK(router.route(r).now->body == "root GET /other");

  Router narrow(quiet());
  narrow.add(Match::exact, "/ocsp", {"POST"}, echo("ocsp"), Run::io_thread);
  r = request("GET", "/ocsp/x");
  CHECK(narrow.route(r).now->status == 404);
  r = request("POST", "/ocsp?x=1");  // the query is not part of the path
  CHECK(narrow.route(r).now->status == 200);
}

TEST_CASE("router: 405 with Allow, OPTIONS 204 with Allow, HEAD runs the GET handler", "[http][router]") {
  Router router(quiet());
  router.add(Match::prefix, "/ca/", {"GET"}, echo("ca"), Run::io_thread);
  router.add(Match::exact, "/ocsp", {"GET", "POST"}, echo("ocsp"), Run::io_thread);

  auto r = request("DELETE", "/ca/x.pem");
  auto d = router.route(r);
  REQUIRE(d.now);
  CHECK(d.now->status == 405);
  CHECK(d.now->header("Allow") == "GET, HEAD, OPTIONS");

  r = request("OPTIONS", "/ocsp");
  d = router.route(r);
  CHECK(d.now->status == 204);
  CHECK(d.now->header("Allow") == "GET, HEAD, POST, OPTIONS");
  CHECK(d.now->body.empty());

  r = request("OPTIONS", "*");
  CHECK(router.route(r).now->status == 204);
  r = request("OPTIONS", "/nowhere");
  CHECK(router.route(r).now->status == 404);

  r = request("HEAD", "/ca/x.pem");
  d = router.route(r);
  CHECK(d.now->status == 200);
  CHECK(d.now->body == "ca GET /ca/x.pem");  // the transport drops the body on the wire
  CHECK(r.method == "GET");
}

TEST_CASE("router: pool handlers are handed back, fast handlers answer inline or defer, exceptions are 500",
          "[http][router]") {
  Router router(quiet());
  router.add(Match::exact, "/slow", {"GET"}, echo("slow"));  // worker pool by default
  router.add(Match::exact, "/fast", {"GET"},
             FastHandler([](const Request& r) -> std::optional<Response> {
               if (r.target == "/fast") return Response(200, "cached");
               return std::nullopt;
             }),
             echo("signed"));
  router.add(Match::prefix, "/fast/", {"GET"}, FastHandler([](const Request&) { return std::optional<Response>(); }), echo("signed"));
  router.add(Match::exact, "/throws", {"GET"}, Handler([](const Request&) -> Response { throw std::runtime_error("bug"); }),
             Run::io_thread);
  router.add(Match::exact, "/throws-later", {"GET"}, Handler([](const Request&) -> Response { throw 42; }));

  auto r = request("GET", "/slow");
  auto d = router.route(r);
  CHECK_FALSE(d.now);
  REQUIRE(d.later);
  CHECK(router.guarded(d.later, r).body == "slow GET /slow");

  r = request("GET", "/fast");
  d = router.route(r);
  REQUIRE(d.now);
  CHECK(d.now->body == "cached");

  r = request("GET", "/fast/miss");
  d = router.route(r);
  CHECK_FALSE(d.now);
  REQUIRE(d.later);
  CHECK(router.guarded(d.later, r).body == "signed GET /fast/miss");

  r = request("GET", "/throws");
  CHECK(router.route(r).now->status == 500);
  r = request("GET", "/throws-later");
  d = router.route(r);
  REQUIRE(d.later);
  CHECK(router.guarded(d.later, r).status == 500);

  CHECK_THROWS_AS(router.add(Match::exact, "/slow", {"GET"}, echo("again")), std::logic_error);
}

TEST_CASE("http: log escaping, media types, error statuses", "[http][message]") {
  CHECK(escape_for_log("GET /a b") == "GET /a b");
  CHECK(escape_for_log("a\r\nforged 200\x01\x7f\"\\\xff") == "a\\x0d\\x0aforged 200\\x01\\x7f\\x22\\x5c\\xff");
  CHECK(escape_for_log(std::string(300, 'a'), 10) == "aaaaaaaaaa...");
  CHECK(escape_for_log("\x01" + std::string(20, 'b'), 4) == "\\x01bbb...");  // the cut counts input bytes
  CHECK(is_media_type("Application/OCSP-Request; charset=x", "application/ocsp-request"));
  CHECK_FALSE(is_media_type("application/ocsp-requests", "application/ocsp-request"));
  CHECK(status_of(fca::Errc::not_found) == 404);
  CHECK(status_of(fca::Errc::invalid_input) == 400);
  CHECK(status_of(fca::Errc::internal) == 500);
  // Server-side detail is not sent to clients.
  CHECK(error_response(fca::Error{fca::Errc::storage, "disk /var/lib/x failed"}).body.find("/var") == std::string::npos);

  Request r;
  r.headers = {{"content-TYPE", "a/b"}, {"Host", "x"}};
  CHECK(r.header("Content-Type") == "a/b");
  CHECK(r.has_header("host"));
  CHECK(r.header("Accept").empty());
}

TEST_CASE("ocsp GET decoding keeps '/', '+' and '=' and takes percent-encodings", "[http][ocsp]") {
  using fca::ocsp::decode_get_request;
  // base64 "+/8=" is 0xfb 0xff; percent-encoded forms decode to the same bytes.
  CHECK(decode_get_request("+/8=") == std::vector<std::uint8_t>{0xfb, 0xff});
  CHECK(decode_get_request("%2B%2F8%3D") == std::vector<std::uint8_t>{0xfb, 0xff});
  CHECK(decode_get_request("%2b%2f8%3d") == std::vector<std::uint8_t>{0xfb, 0xff});
  CHECK(decode_get_request("").empty());
  CHECK(decode_get_request("abc").empty());   // not a multiple of 4
  CHECK(decode_get_request("%4").empty());    // broken escape
  CHECK(decode_get_request("%ZZAA").empty());
}

TEST_CASE("router: CORS headers only for a configured origin, on inline and pool answers and preflights",
          "[http][router][cors]") {
  Router router(quiet());
  router.add(Match::exact, "/x", {"GET", "POST"}, echo("x"));
  const auto with_origin = [](std::string method, std::string origin) {
    auto r = request(std::move(method), "/x");
    r.headers.emplace_back("Origin", std::move(origin));
    return r;
  };
  // Off by default: no header, whatever the Origin.
  auto off = with_origin("GET", "https://ui.example");
  auto plain = router.route(off);
  REQUIRE(plain.later);
  CHECK(plain.later(off).header("Access-Control-Allow-Origin").empty());

  router.allow_origins({"https://ui.example"});
  auto ok = with_origin("GET", "https://ui.example");
  auto pool = router.route(ok);
  REQUIRE(pool.later);
  const auto answered = pool.later(ok);
  CHECK(answered.header("Access-Control-Allow-Origin") == "https://ui.example");
  CHECK(answered.header("Vary") == "Origin");
  auto other = with_origin("GET", "https://ui.example.evil");
  auto refused = router.route(other);
  CHECK(refused.later(other).header("Access-Control-Allow-Origin").empty());

  auto preflight = with_origin("OPTIONS", "https://ui.example");
  preflight.headers.emplace_back("Access-Control-Request-Method", "POST");
  auto pre = router.route(preflight);
  REQUIRE(pre.now);
  CHECK(pre.now->status == 204);
  CHECK(pre.now->header("Access-Control-Allow-Origin") == "https://ui.example");
  CHECK(pre.now->header("Access-Control-Allow-Methods") == "GET, HEAD, POST, OPTIONS");
  auto missing = request("GET", "/nowhere");
  missing.headers.emplace_back("Origin", "https://ui.example");
  auto not_found = router.route(missing);
  REQUIRE(not_found.now);
  CHECK(not_found.now->status == 404);
  CHECK(not_found.now->header("Access-Control-Allow-Origin") == "https://ui.example");
}
