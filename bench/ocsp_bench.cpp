// OCSP responder throughput against a running `facility-ca serve` on loopback: a bounded number of
// POSTs per mode, printed as requests/second and as a ratio to the keep-alive, pre-signed baseline
// measured in the same run. bench/ocsp_bench.sh starts the server and makes the request files.
//   usage: ocsp_bench HOST PORT PATH REQUEST_NO_NONCE.der REQUEST_NONCE.der [REQUESTS]
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  int ok = 0;
  double seconds = 0;
};

Run post_many(const std::string& host, int port, const std::string& path, const std::string& body, int count,
              bool keep_alive) {
  httplib::Client client(host, port);
  client.set_keep_alive(keep_alive);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(5, 0);
  Run run;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    auto res = client.Post(path, body, "application/ocsp-request");
    if (res && res->status == 200 && !res->body.empty()) ++run.ok;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s HOST PORT PATH REQUEST_NO_NONCE.der REQUEST_NONCE.der [REQUESTS]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1];
  const int port = std::stoi(argv[2]);
  const std::string path = argv[3];
  const std::string cached = read_file(argv[4]);
  const std::string nonce = read_file(argv[5]);
  const int count = argc > 6 ? std::stoi(argv[6]) : 2000;

  post_many(host, port, path, cached, 50, true);  // warm the pre-signed cache and the connection pool

  struct Mode {
    const char* name;
    const std::string* body;
    bool keep_alive;
  };
  const Mode modes[] = {{"keep-alive, pre-signed", &cached, true},
                        {"new connection, pre-signed", &cached, false},
                        {"keep-alive, nonce (signed each time)", &nonce, true}};
  std::printf("%-38s %9s %9s %10s %8s\n", "mode", "requests", "ok", "req/s", "ratio");
  double baseline = 0;
  int failures = 0;
  for (const auto& mode : modes) {
    const Run run = post_many(host, port, path, *mode.body, count, mode.keep_alive);
    const double rate = run.ok / run.seconds;
    if (baseline == 0) baseline = rate;
    failures += count - run.ok;
    std::printf("%-38s %9d %9d %10.0f %8.2f\n", mode.name, count, run.ok, rate, rate / baseline);
  }
  std::printf("ratio: requests/second relative to the first row, same server, same run\n");
  return failures == 0 ? 0 : 1;
}
