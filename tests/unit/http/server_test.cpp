// fca::http::Server on a loopback port with handlers the test controls: the worker pool is held
// busy deterministically (handlers wait for the test), so what the I/O threads still answer, and
// when the queue refuses, is shown without timing luck.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include <spdlog/sinks/null_sink.h>

#include "../../integration/raw_http.hpp"
#include "fca/http/server.hpp"

using namespace fca;
using namespace std::chrono_literals;

namespace {

// Handlers on the pool block here until the test opens the gate.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  bool open = false;

  void pass() {
    std::unique_lock lock(mutex);
    ++entered;
    changed.notify_all();
    changed.wait(lock, [this] { return open; });
  }
  bool wait_entered(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return entered >= n; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"; }

}  // namespace

TEST_CASE("server: a busy worker pool does not hold up inline answers, and a full queue answers 503 at once",
          "[http][server]") {
  auto quiet = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  Gate gate;
  auto router = std::make_shared<http::Router>(quiet);
  router->add(http::Match::exact, "/slow", {"GET"}, [&gate](const http::Request&) {
    gate.pass();
    return http::Response(200, "signed");
  });
  router->add(http::Match::exact, "/fast", {"GET"}, [](const http::Request&) { return http::Response(200, "cached"); },
              http::Run::io_thread);

  http::ServerSettings settings;
  settings.io_threads = 1;
  settings.worker_threads = 2;
  settings.worker_queue = 2;
  http::Server server(settings, quiet, nullptr);
  http::ListenerSpec spec;
  spec.address = "127.0.0.1";
  spec.port = 0;
  spec.router = router;
  auto port = server.listen(spec);
  REQUIRE(port);
  server.start();

  // Two requests take both workers; two more wait in the queue.
  std::vector<std::unique_ptr<test::RawClient>> slow;
  for (int i = 0; i < 2; ++i) {
    slow.push_back(std::make_unique<test::RawClient>(*port));
    REQUIRE(slow.back()->send_all(get("/slow")));
  }
  const bool busy = gate.wait_entered(2, 5s);
  if (!busy) gate.release();
  REQUIRE(busy);
  for (int i = 0; i < 2; ++i) {
    slow.push_back(std::make_unique<test::RawClient>(*port));
    REQUIRE(slow.back()->send_all(get("/slow")));
  }
  std::this_thread::sleep_for(100ms);  // let the I/O thread queue them; nothing below depends on it for success

  // The fifth is refused at once, not queued without bound.
  test::RawClient fifth(*port);
  REQUIRE(fifth.send_all(get("/slow")));
  auto refused = fifth.response(2s);
  // An inline answer is given while every worker is blocked.
  test::RawClient fast(*port);
  REQUIRE(fast.send_all(get("/fast")));
  const auto asked = std::chrono::steady_clock::now();
  auto answered = fast.response(2s);
  const auto took = std::chrono::steady_clock::now() - asked;
  gate.release();

  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->header("Retry-After") == "1");
  REQUIRE(answered);
  CHECK(answered->status == 200);
  CHECK(answered->body == "cached");
  CHECK(took < 1s);
  // Once released, every queued request is answered.
  for (auto& client : slow) {
    auto done = client->response(5s);
    REQUIRE(done);
    CHECK(done->status == 200);
    CHECK(done->body == "signed");
  }
  server.shutdown(1s);
}

TEST_CASE("server: a port in use is refused at listen, and a TLS context takes two certificates", "[http][server]") {
  auto quiet = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto router = std::make_shared<http::Router>(quiet);
  http::Server first(http::ServerSettings{}, quiet, nullptr);
  auto port = first.listen(http::ListenerSpec{"127.0.0.1", 0, router, nullptr, 0});
  REQUIRE(port);
  http::Server second(http::ServerSettings{}, quiet, nullptr);
  auto again = second.listen(http::ListenerSpec{"127.0.0.1", *port, router, nullptr, 0});
  REQUIRE_FALSE(again);
  CHECK(again.error().find("cannot listen on 127.0.0.1:" + std::to_string(*port)) != std::string::npos);
  CHECK_FALSE(first.listen(http::ListenerSpec{"not-an-address", 0, router, nullptr, 0}));

  // An RSA and an ECDSA certificate side by side on one context (what the EST listeners need).
  test::TempDir dir;
  for (const auto* key : {"rsa:2048", "ec -pkeyopt ec_paramgen_curve:P-256"}) {
    const std::string name = std::string(key).starts_with("rsa") ? "rsa" : "ec";
    auto made = test::run("openssl req -x509 -newkey " + std::string(key) + " -nodes -days 1 -subj /CN=localhost -keyout " +
                          test::shell_quote((dir / (name + ".key")).string()) + " -out " +
                          test::shell_quote((dir / (name + ".pem")).string()));
    REQUIRE(made.exit_code == 0);
  }
  auto tls = http::TlsContext::bcp003_server();
  REQUIRE(tls);
  REQUIRE((*tls)->add_certificate((dir / "rsa.pem").string(), (dir / "rsa.key").string()));
  REQUIRE((*tls)->add_certificate((dir / "ec.pem").string(), (dir / "ec.key").string()));
  CHECK_FALSE((*tls)->add_certificate((dir / "rsa.pem").string(), (dir / "ec.key").string()));
  CHECK(SSL_CTX_get_min_proto_version((*tls)->native()) == TLS1_2_VERSION);
}
