// The transport's own ceiling: fca::http serving one fixed body on every GET and POST, inline on the
// I/O threads, with serve's default limits. bench/transport_bench.sh and bench/run.sh run it next to
// facility-ca and nginx, so the table separates what the transport costs from what the OCSP path costs.
//   usage: http_fixed PORT BODY_FILE [IO_THREADS]
#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include <spdlog/sinks/null_sink.h>

#include "fca/http/server.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: http_fixed PORT BODY_FILE [IO_THREADS]\n";
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::stringstream body;
  body << in.rdbuf();
  const std::string fixed = body.str();

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto quiet = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto router = std::make_shared<fca::http::Router>(quiet);
  router->add(
      fca::http::Match::prefix, "/", {"GET", "POST"},
      [&fixed](const fca::http::Request&) { return fca::http::Response(200, fixed, "application/ocsp-response"); },
      fca::http::Run::io_thread);
  fca::http::ServerSettings settings;
  if (argc > 3) settings.io_threads = std::atoi(argv[3]);
  fca::http::Server server(settings, quiet, nullptr);
  fca::http::ListenerSpec spec;
  spec.address = "127.0.0.1";
  spec.port = std::atoi(argv[1]);
  spec.router = router;
  if (auto port = server.listen(std::move(spec)); !port) {
    std::cerr << port.error() << "\n";
    return 1;
  }
  server.start();
  int received = 0;
  sigwait(&signals, &received);
  server.shutdown(std::chrono::seconds(1));
  return 0;
}
