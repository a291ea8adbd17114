#include "fca/http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace fca::http {

Router::Router(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

void Router::add(Match match, std::string path, std::vector<std::string> methods, Handler handler, Run run) {
  if (std::ranges::any_of(routes_, [&](const Route& r) { return r.match == match && r.path == path; })) {
    throw std::logic_error("route registered twice: " + path);
  }
  routes_.push_back(Route{match, std::move(path), std::move(methods), {}, std::move(handler), run == Run::io_thread});
}

void Router::add(Match match, std::string path, std::vector<std::string> methods, FastHandler fast, Handler slow) {
  if (std::ranges::any_of(routes_, [&](const Route& r) { return r.match == match && r.path == path; })) {
    throw std::logic_error("route registered twice: " + path);
  }
  routes_.push_back(Route{match, std::move(path), std::move(methods), std::move(fast), std::move(slow), false});
}

const Router::Route* Router::find(std::string_view path) const {
  const Route* best = nullptr;
  for (const auto& route : routes_) {
    if (route.match == Match::exact && route.path == path) return &route;
    if (route.match == Match::prefix && path.starts_with(route.path) && (!best || route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  return best;
}

std::string Router::allow_of(const Route& route) {
  std::string allow;
  const auto add = [&](std::string_view m) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  };
  for (const auto& m : route.methods) {
    add(m);
    if (m == "GET") add("HEAD");
  }
  add("OPTIONS");
  return allow;
}

Response Router::guarded(const Handler& handler, const Request& request) const {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    log_->error("{} {}: unhandled exception: {}", request.method, escape_for_log(request.target, 128), e.what());
  } catch (...) {
    log_->error("{} {}: unhandled exception", request.method, escape_for_log(request.target, 128));
  }
  return text_response(500);
}

bool Router::origin_allowed(const Request& request) const {
  if (cors_origins_.empty() || !request.has_header("Origin")) return false;
  return std::ranges::find(cors_origins_, request.header("Origin")) != cors_origins_.end();
}

Dispatch Router::with_cors(const Request& request, Dispatch dispatch) const {
  if (cors_origins_.empty()) return dispatch;
  const bool allowed = origin_allowed(request);
  std::string origin(request.header("Origin"));
  const auto decorate = [allowed, origin](Response& r) {
    r.set("Vary", "Origin");  // the answer differs by Origin: a shared cache must not mix them
    if (allowed) r.set("Access-Control-Allow-Origin", origin);
  };
  if (dispatch.now) {
    decorate(*dispatch.now);
    if (allowed && request.method == "OPTIONS" && request.has_header("Access-Control-Request-Method")) {
      dispatch.now->set("Access-Control-Allow-Methods", std::string(dispatch.now->header("Allow")));
      dispatch.now->set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Transfer-Encoding, Idempotency-Key");
      dispatch.now->set("Access-Control-Max-Age", "600");
    }
    return dispatch;
  }
  dispatch.later = [handler = std::move(dispatch.later), decorate](const Request& r) {
    Response response = handler(r);
    decorate(response);
    return response;
  };
  return dispatch;
}

Dispatch Router::route(Request& request) const { return with_cors(request, route_without_cors(request)); }

Dispatch Router::route_without_cors(Request& request) const {
  if (request.method == "OPTIONS" && request.target == "*") {
    Response r(204, "");
    r.headers.clear();
    r.set("Allow", "GET, HEAD, POST, OPTIONS");
    return {std::move(r), {}};
  }
  const Route* route = find(request.path());
  if (!route) return {text_response(404), {}};
  if (request.method == "OPTIONS") {
    Response r(204, "");
    r.headers.clear();
    r.set("Allow", allow_of(*route));
    return {std::move(r), {}};
  }
  const bool get_allowed = std::ranges::find(route->methods, "GET") != route->methods.end();
  if (request.method == "HEAD" && get_allowed) request.method = "GET";
  if (std::ranges::find(route->methods, request.method) == route->methods.end()) {
    auto r = text_response(405);
    r.set("Allow", allow_of(*route));
    return {std::move(r), {}};
  }
  if (route->fast) {
    try {
      if (auto answered = route->fast(request)) return {std::move(*answered), {}};
    } catch (const std::exception& e) {
      log_->error("{} {}: unhandled exception: {}", request.method, escape_for_log(request.target, 128), e.what());
      return {text_response(500), {}};
    } catch (...) {
      log_->error("{} {}: unhandled exception", request.method, escape_for_log(request.target, 128));
      return {text_response(500), {}};
    }
  }
  if (route->slow_inline) return {guarded(route->slow, request), {}};
  return {std::nullopt, route->slow};
}

}  // namespace fca::http
