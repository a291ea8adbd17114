#pragma once
// Routing done once for every listener: exact and prefix routes, 404, 405 with Allow, OPTIONS,
// HEAD on every GET route, and a catch-all that turns an escaping exception into a 500.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "fca/http/message.hpp"

namespace fca::http {

using Handler = std::function<Response(const Request&)>;
// Answers when it can without blocking (a pre-signed OCSP answer), nullopt when the request needs
// the worker pool (signing, a cache miss, the database).
using FastHandler = std::function<std::optional<Response>(const Request&)>;

enum class Match { exact, prefix };
// Where a handler runs: on the I/O thread (only for work that never blocks) or on the worker pool.
enum class Run { io_thread, worker_pool };

// What the router decided: an answer now, or a handler for the worker pool.
struct Dispatch {
  std::optional<Response> now;
  Handler later;
};

class Router {
 public:
  explicit Router(std::shared_ptr<spdlog::logger> log);

  // `methods` without HEAD and OPTIONS: HEAD follows GET (its handler sees "GET" and the body is
  // dropped on the wire), OPTIONS is answered here. Registering one path twice is a programming error.
  void add(Match match, std::string path, std::vector<std::string> methods, Handler handler, Run run = Run::worker_pool);
  void add(Match match, std::string path, std::vector<std::string> methods, FastHandler fast, Handler slow);

  // CORS, off unless origins are given: a request whose Origin is one of them (exact, as the browser
  // serialises it: "https://ui.example:8443") gets Access-Control-Allow-Origin on its answer, and its
  // preflight OPTIONS gets the route's methods and the request headers the front ends read. Other
  // origins get no CORS header at all.
  void allow_origins(std::vector<std::string> origins) { cors_origins_ = std::move(origins); }

  // Turns HEAD into GET in `request` (the transport remembers it asked HEAD).
  Dispatch route(Request& request) const;

  // Runs a handler with the catch-all: an exception is logged and answered 500.
  Response guarded(const Handler& handler, const Request& request) const;

 private:
  struct Route {
    Match match;
    std::string path;
    std::vector<std::string> methods;
    FastHandler fast;
    Handler slow;
    bool slow_inline = false;
  };
  const Route* find(std::string_view path) const;
  static std::string allow_of(const Route& route);
  bool origin_allowed(const Request& request) const;
  Dispatch with_cors(const Request& request, Dispatch dispatch) const;
  Dispatch route_without_cors(Request& request) const;

  std::shared_ptr<spdlog::logger> log_;
  std::vector<Route> routes_;
  std::vector<std::string> cors_origins_;
};

}  // namespace fca::http
