// The HTTP transport under attack and misuse, against a real `facility-ca serve` on loopback, with
// raw-socket clients that send exactly the bytes each case needs. Every load is bounded in count and
// time; every socket is closed by its RawClient, also when a check fails.
#include <memory>
#include <thread>
#include <vector>

#include "raw_http.hpp"

using namespace fca::test;

namespace {

using namespace std::chrono_literals;

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

// Slow clients that send one byte of a never-ending header every `every`, on one thread.
class Slowloris {
 public:
  Slowloris(int port, int count, std::chrono::milliseconds every) {
    for (int i = 0; i < count; ++i) {
      clients_.push_back(std::make_unique<RawClient>(port));
      REQUIRE(clients_.back()->connected());
      REQUIRE(clients_.back()->send_all("GET /ocsp/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    }
    thread_ = std::thread([this, every] {
      while (!stop_) {
        for (auto& c : clients_) c->send_all("a");
        for (auto waited = 0ms; waited < every && !stop_; waited += 10ms) std::this_thread::sleep_for(10ms);
      }
    });
  }
  ~Slowloris() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int open_now() {
    int n = 0;
    for (auto& c : clients_) n += c->open_now() ? 1 : 0;
    return n;
  }
  std::vector<std::unique_ptr<RawClient>>& clients() { return clients_; }

 private:
  std::vector<std::unique_ptr<RawClient>> clients_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The GET path of a nonce-less OCSP request for a fresh leaf, and the leaf.
struct OcspGet {
  std::filesystem::path leaf;
  std::filesystem::path request;
  std::string path;
};

OcspGet ocsp_get(ServeFixture& server, const std::string& name) {
  OcspGet made;
  made.leaf = server.issue_leaf(name);
  made.request = server.ocsp_request(made.leaf, name + ".der");
  made.path = "/ocsp/" + percent_encode_base64(base64(read_file(made.request)));
  return made;
}

void check_ocsp_good(ServeFixture& server, const RawResponse& response, const std::filesystem::path& leaf, const std::string& name) {
  REQUIRE(response.status == 200);
  const auto file = server.file(name);
  write_file(file, response.body);
  auto checked = server.check_response(file, leaf);
  INFO(checked.output);
  CHECK(contains(checked.output, "Response verify OK"));
  CHECK(contains(checked.output, ": good"));
}

}  // namespace

TEST_CASE("transport: 16 slowloris clients and 256 idle keep-alive connections do not delay a new client",
          "[serve][transport][slowloris]") {
  // Deadlines long enough that the attackers stay connected for the whole test: the point is that
  // the responder answers while they are there, not that it eventually drops them.
  ServeFixture server([](nlohmann::json& config) {
    config["serve"]["read_timeout_seconds"] = 60;
    config["serve"]["keep_alive_timeout_seconds"] = 60;
  });
  const auto ocsp = ocsp_get(server, "crowded");
  {
    RawClient warm(server.port());  // the answer is pre-signed before the crowd arrives
    REQUIRE(warm.send_all(get(ocsp.path)));
    auto first = warm.response();
    REQUIRE(first);
    REQUIRE(first->status == 200);
  }

  Slowloris slow(server.port(), 16, 200ms);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 256; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    REQUIRE(idle.back()->connected());
    REQUIRE(idle.back()->send_all(get("/ca/issuing.crt")));
    auto answered = idle.back()->response();
    REQUIRE(answered);
    REQUIRE(answered->status == 200);  // now idle on a kept-alive connection
  }
  std::this_thread::sleep_for(500ms);

  const auto started = std::chrono::steady_clock::now();
  RawClient fresh(server.port());
  REQUIRE(fresh.connected());
  REQUIRE(fresh.send_all(get(ocsp.path)));
  auto answer = fresh.response(5s);
  const auto took = std::chrono::steady_clock::now() - started;
  SERVE_REQUIRE(server, answer.has_value());
  CHECK(took < 1s);
  check_ocsp_good(server, *answer, ocsp.leaf, "crowded-answer.der");

  // The crowd is really there: every attacker and idle connection is still open.
  CHECK(slow.open_now() == 16);
  int idle_open = 0;
  for (auto& c : idle) idle_open += c->open_now() ? 1 : 0;
  CHECK(idle_open == 256);
  SERVE_CHECK(server, server.running());
}

TEST_CASE("transport: a request not complete within serve.read_timeout_seconds gets 408 and is closed",
          "[serve][transport][deadline]") {
  ServeFixture server([](nlohmann::json& config) {
    config["serve"]["read_timeout_seconds"] = 1;
    config["serve"]["keep_alive_timeout_seconds"] = 1;
  });
  Slowloris slow(server.port(), 2, 100ms);
  RawClient& first = *slow.clients()[0];
  auto refused = first.response(4s);
  SERVE_REQUIRE(server, refused.has_value());
  CHECK(refused->status == 408);
  CHECK(first.closed_within(2s));

  // An idle keep-alive connection is closed after serve.keep_alive_timeout_seconds, without an answer.
  RawClient idle(server.port());
  REQUIRE(idle.send_all(get("/ca/issuing.crt")));
  auto answered = idle.response();
  REQUIRE(answered);
  CHECK(answered->header("Keep-Alive") == "timeout=1");
  CHECK(idle.closed_within(3s));
  CHECK(idle.buffered().empty());
}

TEST_CASE("transport: a 300 MB chunked body and compressed bodies are refused without the server's memory growing",
          "[serve][transport][memory]") {
  ServeFixture server;
  const auto rss_before = proc_status_bytes(server.pid(), "VmRSS");
  REQUIRE(rss_before > 0);

  // 300 MB in 64 KiB chunks, to an OCSP route and to a path that does not exist: the limit holds on
  // every path. The body is one buffer sent again and again, never allocated whole.
  const std::string chunk_data(64 * 1024, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk_data.size());
  const std::string chunk = size_line + chunk_data + "\r\n";
  for (const std::string target : {"/ocsp", "/no/such/path"}) {
    RawClient client(server.port());
    REQUIRE(client.send_all("POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"));
    std::size_t sent = 0;
    const std::size_t total = 300u * 1024 * 1024;
    while (sent < total && client.send_all_bounded(chunk, 2s)) sent += chunk_data.size();
    INFO(target << ": sent " << sent << " bytes of " << total);
    CHECK(sent < total);  // the server stopped taking the body
    auto answer = client.response(3s);
    SERVE_REQUIRE(server, answer.has_value());
    CHECK(answer->status == 413);
    CHECK(client.closed_within(3s));
  }

  // A 1 KB gzip body that inflates to 1 MB, and the same bytes announced as brotli: no request
  // content-coding is taken, so nothing is ever inflated.
  const auto bomb = server.file("bomb.gz");
  REQUIRE(run("head -c 1048576 /dev/zero | gzip -9 > " + shell_quote(bomb.string())).exit_code == 0);
  const auto bomb_bytes = read_file(bomb);
  REQUIRE(bomb_bytes.size() < 1200);
  for (const std::string coding : {"gzip", "br", "deflate"}) {
    RawClient client(server.port());
    REQUIRE(client.send_all("POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                            "Content-Encoding: " + coding + "\r\nContent-Length: " + std::to_string(bomb_bytes.size()) +
                            "\r\n\r\n" + bomb_bytes));
    auto answer = client.response();
    INFO(coding);
    SERVE_REQUIRE(server, answer.has_value());
    CHECK(answer->status == 415);
  }

  const auto peak = proc_status_bytes(server.pid(), "VmHWM");
  INFO("VmRSS before " << rss_before << ", VmHWM after " << peak);
  CHECK(peak < rss_before + 20u * 1024 * 1024);
  SERVE_CHECK(server, server.running());
}

TEST_CASE("transport: a 1 MB header line is refused with 431", "[serve][transport][limits]") {
  ServeFixture server;
  RawClient client(server.port());
  REQUIRE(client.send_all("GET /ca/issuing.crt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: "));
  const std::string filler(64 * 1024, 'a');
  std::size_t sent = 0;
  while (sent < 1024 * 1024 && client.send_all_bounded(filler, 2s)) sent += filler.size();
  auto answer = client.response(3s);
  SERVE_REQUIRE(server, answer.has_value());
  CHECK(answer->status == 431);
  CHECK(client.closed_within(3s));

  // Many small headers are bounded by the same block limit.
  RawClient many(server.port());
  std::string headers = "GET /ca/issuing.crt HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 5000; ++i) headers += "X-" + std::to_string(i) + ": a\r\n";
  many.send_all_bounded(headers + "\r\n", 2s);
  auto refused = many.response(3s);
  REQUIRE(refused);
  CHECK(refused->status == 431);
}

TEST_CASE("transport: pipelined requests in one write are each answered, in order", "[serve][transport][pipelining]") {
  ServeFixture server;
  const auto ocsp = ocsp_get(server, "piped");
  const auto post_body = read_file(ocsp.request);
  RawClient client(server.port());
  REQUIRE(client.send_all(get(ocsp.path) + get("/crl/issuing.crl") + get("/nope") +
                          "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: " +
                          std::to_string(post_body.size()) + "\r\n\r\n" + post_body + "HEAD /ca/issuing.pem HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
                          get("/ca/issuing.pem", "Connection: close\r\n")));
  auto a = client.response();
  auto b = client.response();
  auto c = client.response();
  auto d = client.response();
  auto e = client.response(5s, true);
  auto f = client.response();
  SERVE_REQUIRE(server, (a && b && c && d && e && f));
  check_ocsp_good(server, *a, ocsp.leaf, "piped-get.der");
  CHECK(b->status == 200);
  CHECK(b->header("Content-Type") == "application/pkix-crl");
  const auto crl_file = server.file("piped.crl");
  write_file(crl_file, b->body);
  CHECK(run("openssl crl -inform DER -noout -in " + shell_quote(crl_file.string())).exit_code == 0);
  CHECK(c->status == 404);
  check_ocsp_good(server, *d, ocsp.leaf, "piped-post.der");
  // HEAD: the GET's headers and length, no body.
  CHECK(e->status == 200);
  CHECK(f->status == 200);
  CHECK(e->header("Content-Length") == std::to_string(f->body.size()));
  CHECK(f->body.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(client.closed_within(2s));
  CHECK(client.buffered().empty());
}

TEST_CASE("transport: malformed framing is refused with 400 and the connection closed; chunk extensions are ignored",
          "[serve][transport][framing]") {
  ServeFixture server;
  const auto ocsp = ocsp_get(server, "framed");
  const auto der = read_file(ocsp.request);
  const std::string post = "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n";
  const std::vector<std::pair<std::string, std::string>> refused{
      {"two Content-Length", post + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
      {"two different Content-Length", post + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"Content-Length list", post + "Content-Length: 3, 3\r\n\r\nabc"},
      {"Content-Length: 87abc", post + "Content-Length: 87abc\r\n\r\nabc"},
      {"Content-Length: -1", post + "Content-Length: -1\r\n\r\n"},
      {"Transfer-Encoding with a space before the colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"},
      {"Content-Length and chunked", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"Transfer-Encoding other than chunked", post + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc"},
      {"HTTP/1.1 without Host", "GET /ca/issuing.crt HTTP/1.1\r\n\r\n"},
      {"two Host headers", "GET /ca/issuing.crt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"bad chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
  };
  for (const auto& [what, bytes] : refused) {
    RawClient client(server.port());
    REQUIRE(client.send_all(bytes));
    auto answer = client.response(3s);
    INFO(what << "\nserver stderr:\n" << server.log());
    REQUIRE(answer.has_value());
    CHECK(answer->status == 400);
    CHECK(answer->header("Connection") == "close");
    CHECK(client.closed_within(3s));
  }

  // A chunk extension is accepted and ignored (RFC 9112 7.1.1).
  {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", der.size());
    RawClient client(server.port());
    REQUIRE(client.send_all(post + "Transfer-Encoding: chunked\r\n\r\n" + size + ";name=value;flag\r\n" + der +
                            "\r\n0;last=yes\r\n\r\n"));
    auto answer = client.response();
    SERVE_REQUIRE(server, answer.has_value());
    check_ocsp_good(server, *answer, ocsp.leaf, "chunk-extension.der");
  }
  // HTTP/1.0 needs no Host.
  {
    RawClient client(server.port());
    REQUIRE(client.send_all("GET /ca/issuing.crt HTTP/1.0\r\n\r\n"));
    auto answer = client.response();
    REQUIRE(answer);
    CHECK(answer->status == 200);
  }
  SERVE_CHECK(server, server.running());
}

TEST_CASE("transport: OPTIONS answers 204 with Allow, HEAD follows GET, unknown methods get 405 with Allow",
          "[serve][transport][methods]") {
  ServeFixture server;
  const auto ocsp = ocsp_get(server, "methods");
  struct Case {
    std::string target;
    std::vector<std::string> allowed;
  };
  for (const auto& c : std::vector<Case>{{"/ocsp", {"GET", "HEAD", "POST", "OPTIONS"}},
                                         {ocsp.path, {"GET", "HEAD", "POST", "OPTIONS"}},
                                         {"/crl/issuing.crl", {"GET", "HEAD", "OPTIONS"}},
                                         {"/ca/issuing.pem", {"GET", "HEAD", "OPTIONS"}}}) {
    RawClient client(server.port());
    REQUIRE(client.send_all("OPTIONS " + c.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + "BREW " + c.target +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    auto options = client.response();
    auto brew = client.response();
    INFO(c.target);
    REQUIRE((options && brew));
    CHECK(options->status == 204);
    CHECK(brew->status == 405);
    for (const auto& m : c.allowed) {
      CHECK(contains(options->header("Allow"), m));
      CHECK(contains(brew->header("Allow"), m));
    }
    if (std::ranges::find(c.allowed, "POST") == c.allowed.end()) CHECK_FALSE(contains(options->header("Allow"), "POST"));
    CHECK(!options->header("Date").empty());
  }
  // An unknown path is 404 for OPTIONS too.
  {
    RawClient client(server.port());
    REQUIRE(client.send_all("OPTIONS /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    auto answer = client.response();
    REQUIRE(answer);
    CHECK(answer->status == 404);
  }
  // HEAD on the OCSP GET route: status and headers of the GET, no body.
  {
    RawClient client(server.port());
    REQUIRE(client.send_all("HEAD " + ocsp.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get(ocsp.path)));
    auto head = client.response(5s, true);
    auto full = client.response();
    REQUIRE((head && full));
    CHECK(head->status == 200);
    CHECK(head->header("Content-Type") == "application/ocsp-response");
    CHECK(head->header("Content-Length") == std::to_string(full->body.size()));
    CHECK(head->header("ETag") == full->header("ETag"));
  }
  // Ranges are not served: a request for 2,000 ranges of a CA certificate gets the whole thing once.
  {
    std::string ranges = "bytes=0-0";
    for (int i = 1; i < 1000; ++i) ranges += "," + std::to_string(i) + "-" + std::to_string(i);
    RawClient client(server.port());
    REQUIRE(client.send_all(get("/ca/issuing.pem", "Range: " + ranges + "\r\n")));
    auto answer = client.response();
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(answer->body.starts_with("-----BEGIN CERTIFICATE-----"));
    CHECK(answer->body.size() < 8192);
  }
}

TEST_CASE("transport: beyond serve.max_connections a client gets 503 and is closed", "[serve][transport][limits]") {
  ServeFixture server([](nlohmann::json& config) { config["serve"]["max_connections"] = 8; });
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<RawClient>(server.port()));
    REQUIRE(held.back()->send_all(get("/ca/issuing.crt")));
    auto answer = held.back()->response();
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
  }
  RawClient ninth(server.port());
  auto refused = ninth.response(3s);
  SERVE_REQUIRE(server, refused.has_value());
  CHECK(refused->status == 503);
  CHECK(!refused->header("Date").empty());
  CHECK(refused->body == "503: too many connections\n");
  CHECK(ninth.closed_within(2s));
  SERVE_CHECK(server, server.wait_for_log("serve.max_connections"));
  // One leaves, a newcomer is served.
  held.pop_back();
  std::this_thread::sleep_for(200ms);
  RawClient newcomer(server.port());
  REQUIRE(newcomer.send_all(get("/ca/issuing.crt")));
  auto served = newcomer.response();
  REQUIRE(served);
  CHECK(served->status == 200);
}

TEST_CASE("transport: SIGTERM with slow clients connected stops accepting at once and exits 0 within the grace time",
          "[serve][transport][shutdown]") {
  ServeFixture server([](nlohmann::json& config) {
    config["serve"]["shutdown_grace_seconds"] = 2;
    config["serve"]["read_timeout_seconds"] = 60;
    config["serve"]["keep_alive_timeout_seconds"] = 60;
  });
  Slowloris slow(server.port(), 8, 200ms);
  RawClient idle(server.port());
  REQUIRE(idle.send_all(get("/ca/issuing.crt")));
  REQUIRE(idle.response());
  std::this_thread::sleep_for(300ms);
  REQUIRE(slow.open_now() == 8);

  const auto started = std::chrono::steady_clock::now();
  server.send_signal(SIGTERM);
  // The listening socket goes at once.
  bool refused_new = false;
  for (auto waited = 0ms; waited < 1000ms && !refused_new; waited += 20ms) {
    refused_new = !loopback_port_accepts(server.port());
    if (!refused_new) std::this_thread::sleep_for(20ms);
  }
  CHECK(refused_new);
  // The idle keep-alive connection is closed at once, the slow ones at the end of the grace time.
  CHECK(idle.closed_within(1s));
  while (server.running() && std::chrono::steady_clock::now() - started < 6s) std::this_thread::sleep_for(20ms);
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("server stderr:\n" << server.log());
  CHECK_FALSE(server.running());
  CHECK(took < 3500ms);
  CHECK(server.stop() == 0);
}
