#pragma once
// The transport under every listener: event-driven HTTP/1.1 (plain and TLS) on a few I/O threads,
// a request parser that enforces its limits while reading, and a bounded worker pool for handlers
// that sign or block. Front ends see Request/Response and the Router only.
#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "fca/http/router.hpp"
#include "fca/http/tls.hpp"

namespace fca::http {

struct Limits {
  std::size_t max_header_bytes = 16 * 1024;  // request line + header block; beyond: 431, close
  std::size_t max_body_bytes = 64 * 1024;    // whatever the framing, counted while reading; beyond: 413, close
  std::chrono::milliseconds request_timeout{std::chrono::seconds(5)};  // first byte to last byte of a request: 408
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(5)};     // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{std::chrono::seconds(5)};    // sending one response
  std::size_t max_connections = 4096;                                  // per listener; beyond: 503, close
  std::size_t max_requests_per_connection = 1000;
};

struct ServerSettings {
  int io_threads = 2;
  int worker_threads = 4;
  std::size_t worker_queue = 1024;  // requests waiting for a worker; beyond: 503 with Retry-After
  Limits limits;
};

struct ListenerSpec {
  std::string address;  // an address of this machine, bound as given
  int port = 0;         // 0: any free port
  std::shared_ptr<const Router> router;
  std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  int hsts_max_age_seconds = 31536000;  // HTTPS only; 0 leaves Strict-Transport-Security out
};

class Server {
 public:
  // `access` gets one line per request (null: none); make_access_logger() gives one that never
  // makes the request path wait for a disk or a pipe.
  Server(ServerSettings settings, std::shared_ptr<spdlog::logger> log, std::shared_ptr<spdlog::logger> access);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens at once (a port in use is refused here, before anything is served). Returns
  // the port bound; the index of the listener is the order of the calls.
  std::expected<int, std::string> listen(ListenerSpec spec);
  void start();
  // Stops accepting at once; requests in flight get up to `grace` to finish, then every connection
  // is closed, whatever the clients do. Returns when all threads are joined.
  void shutdown(std::chrono::milliseconds grace);
  // New connections on listener `index` use `tls` (certificate reload without a restart).
  void replace_tls(std::size_t index, std::shared_ptr<TlsContext> tls);
  std::size_t connections(std::size_t index) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fca::http
