// `facility-ca serve` as a process: signals, configuration refused at start, keep-alive and
// concurrent clients.
#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

void check_good(const ServeFixture& server, const std::filesystem::path& leaf) {
  auto result = server.ocsp_query(leaf);
  INFO(result.output << "\nserver stderr:\n" << server.log());
  CHECK(result.exit_code == 0);
  CHECK(contains(result.output, "Response verify OK"));
  CHECK(contains(result.output, ": good"));
}

// `serve` that is expected to refuse to start: bounded by timeout(1) (exit 124 when it was still running
// after `seconds`), stdout and stderr together.
CommandResult serve_expecting_refusal(const Pki& pki, int seconds = 20) {
  return run("timeout " + std::to_string(seconds) + " " + pki.command("serve"));
}

}  // namespace

TEST_CASE("serve: SIGHUP keeps serving, and a broken config.json on SIGHUP is refused, not fatal", "[serve][signals]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("hup");
  check_good(server, leaf);

  server.send_signal(SIGHUP);
  SERVE_REQUIRE(server, server.wait_for_log("SIGHUP"));
  SERVE_REQUIRE(server, server.running());
  check_good(server, leaf);
  CHECK(server.http("", "/crl/issuing.crl").status == 200);

  // A new log level is taken on SIGHUP.
  server.pki().edit_config([](nlohmann::json& config) { config["log"]["level"] = "debug"; });
  server.send_signal(SIGHUP);
  SERVE_CHECK(server, server.wait_for_log("SIGHUP: log level debug"));

  // A config.json that no longer parses: logged, the running configuration stays, requests still work.
  const auto config_file = server.pki().dir() / "config.json";
  const auto saved = read_file(config_file);
  write_file(config_file, "{ \"serve\": ");
  server.send_signal(SIGHUP);
  SERVE_CHECK(server, server.wait_for_log("configuration not reloaded"));
  SERVE_REQUIRE(server, server.running());
  check_good(server, leaf);
  write_file(config_file, saved);

  // Several SIGHUPs in a row while requests run: still up.
  for (int i = 0; i < 5; ++i) server.send_signal(SIGHUP);
  check_good(server, leaf);
  SERVE_CHECK(server, server.running());

  const int code = server.stop();
  INFO("server stderr:\n" << server.log());
  CHECK(code == 0);
}

TEST_CASE("serve: an invalid serve configuration stops serve at start, naming the key", "[serve][config]") {
  Pki pki;
  const auto config_file = pki.dir() / "config.json";
  const auto pristine = read_file(config_file);
  const int port = free_loopback_port();
  REQUIRE(port > 0);

  struct Case {
    std::string what;
    std::function<void(nlohmann::json&)> change;
    std::string names;
  };
  const std::vector<Case> cases{
      {"threads 0", [](nlohmann::json& c) { c["serve"]["threads"] = 0; }, "serve.threads"},
      {"threads 257", [](nlohmann::json& c) { c["serve"]["threads"] = 257; }, "serve.threads"},
      {"threads as text", [](nlohmann::json& c) { c["serve"]["threads"] = "eight"; }, "serve.threads"},
      {"no listeners", [](nlohmann::json& c) { c["serve"]["listeners"] = nlohmann::json::array(); }, "serve.listeners"},
      {"port 70000", [](nlohmann::json& c) { c["serve"]["listeners"][0]["port"] = 70000; }, "serve.listeners[0].port"},
      {"unknown front end", [](nlohmann::json& c) { c["serve"]["listeners"][0]["frontends"] = {"smtp"}; },
       "serve.listeners[0].frontends"},
      {"tiny max body", [](nlohmann::json& c) { c["serve"]["max_body_bytes"] = 10; }, "serve.max_body_bytes"},
      {"tiny header limit", [](nlohmann::json& c) { c["serve"]["max_header_bytes"] = 10; }, "serve.max_header_bytes"},
      {"no connections", [](nlohmann::json& c) { c["serve"]["max_connections"] = 0; }, "serve.max_connections"},
      {"negative grace", [](nlohmann::json& c) { c["serve"]["shutdown_grace_seconds"] = -1; }, "serve.shutdown_grace_seconds"},
      {"io_threads 0", [](nlohmann::json& c) { c["serve"]["io_threads"] = 0; }, "serve.io_threads"},
      {"worker_queue as text", [](nlohmann::json& c) { c["serve"]["worker_queue"] = "many"; }, "serve.worker_queue"},
  };
  for (const auto& c : cases) {
    write_file(config_file, pristine);
    pki.edit_config([&](nlohmann::json& config) {
      config["serve"]["listeners"][0]["port"] = port;
      c.change(config);
    });
    const auto started = std::chrono::steady_clock::now();
    auto result = serve_expecting_refusal(pki);
    const auto took = std::chrono::steady_clock::now() - started;
    INFO(c.what << ": exit " << result.exit_code << "\n" << result.output);
    CHECK(result.exit_code != 0);
    CHECK(result.exit_code != 124);  // not stopped by timeout(1): it refused by itself
    CHECK(contains(result.output, c.names));
    CHECK(took < std::chrono::seconds(10));
    CHECK_FALSE(loopback_port_accepts(port));
  }
}

TEST_CASE("serve: a second serve on a port in use exits non-zero; the first keeps serving", "[serve][config]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("first");
  // A serve that binds cannot be told from one that hangs but by time: 3 s is ample to refuse in.
  auto second = serve_expecting_refusal(server.pki(), 3);
  INFO(second.output);
  CHECK(second.exit_code != 0);
  CHECK(second.exit_code != 124);
  CHECK(contains(second.output, "cannot listen on 127.0.0.1:" + std::to_string(server.port())));
  SERVE_REQUIRE(server, server.running());
  check_good(server, leaf);
}

TEST_CASE("serve: keep-alive carries several requests on one connection; concurrent clients all answered",
          "[serve][http]") {
  ServeFixture server;
  const auto leaf = server.issue_leaf("alive");
  const auto request = server.ocsp_request(leaf, "alive.der");
  const auto b64 = percent_encode_base64(base64(read_file(request)));

  // Two URLs in one curl: the second request re-uses the connection.
  {
    auto both = run("curl -sv --max-time 10 -o /dev/null -o /dev/null " + shell_quote(server.url("/crl/issuing.crl")) +
                    " " + shell_quote(server.url("/ocsp/" + b64)));
    INFO(both.output << "\nserver stderr:\n" << server.log());
    CHECK(both.exit_code == 0);
    CHECK(occurrences_of(both.output, "< HTTP/1.1 200") == 2);
    CHECK(contains(lowercase(both.output), "re-using existing connection"));
    CHECK(contains(lowercase(both.output), "keep-alive"));
  }
  // POST, GET and GET again (different methods, front ends) on one connection with --next.
  {
    const auto a = server.file("ka-a.der");
    const auto b = server.file("ka-b.crl");
    const auto c = server.file("ka-c.der");
    auto mixed = run("curl -sv --max-time 10 --data-binary @" + shell_quote(request.string()) +
                     " -H 'Content-Type: application/ocsp-request' -o " + shell_quote(a.string()) + " " +
                     shell_quote(server.url("/ocsp")) + " --next -o " + shell_quote(b.string()) + " " +
                     shell_quote(server.url("/crl/issuing.crl")) + " --next -o " + shell_quote(c.string()) + " " +
                     shell_quote(server.url("/ocsp/" + b64)));
    INFO(mixed.output << "\nserver stderr:\n" << server.log());
    CHECK(mixed.exit_code == 0);
    CHECK(occurrences_of(mixed.output, "< HTTP/1.1 200") == 3);
    CHECK(occurrences_of(lowercase(mixed.output), "re-using existing connection") == 2);
    auto checked_post = server.check_response(a, leaf);
    auto checked_get = server.check_response(c, leaf);
    INFO(checked_post.output << checked_get.output);
    CHECK(contains(checked_post.output, ": good"));
    CHECK(contains(checked_get.output, ": good"));
    CHECK(run("openssl crl -inform DER -noout -in " + shell_quote(b.string())).exit_code == 0);
  }

  // 48 clients, 12 at a time, alternating OCSP POST and CRL GET: every one gets 200.
  {
    const auto script = server.file("client.sh");
    write_file(script, "if [ $(( $1 % 2 )) -eq 0 ]; then\n"
                       "  curl -s --max-time 10 -o /dev/null -w '%{http_code}\\n' --data-binary @" +
                           shell_quote(request.string()) + " -H 'Content-Type: application/ocsp-request' " +
                           shell_quote(server.ocsp_url()) +
                           "\nelse\n"
                           "  curl -s --max-time 10 -o /dev/null -w '%{http_code}\\n' " +
                           shell_quote(server.url("/crl/issuing.crl")) + "\nfi\n");
    auto burst = run("seq 48 | xargs -P 12 -I{} sh " + shell_quote(script.string()) + " {}");
    INFO(burst.output << "\nserver stderr:\n" << server.log());
    CHECK(occurrences_of(burst.output, "200\n") == 48);
  }
  SERVE_REQUIRE(server, server.running());
  check_good(server, leaf);
}
