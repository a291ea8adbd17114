#pragma once
// The REST admin API for scripts and monitoring, mounted on a listener whose `frontends` name "api":
//   /api/v1/...  bearer-token JSON resources (docs/api.md), /api/v1/openapi.json
//   /healthz /readyz  unauthenticated;  /metrics  Prometheus text, any token
// Every call goes through fca::service as Principal::api(<token name>, ...); the service decides who
// may do what, the API maps its errors to statuses (http::status_of) and shapes.
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "fca/core/api_repository.hpp"
#include "fca/core/crl.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/http/metrics.hpp"
#include "fca/http/router.hpp"
#include "fca/service/lab_faults.hpp"
#include "fca/service/service.hpp"
#include "fca/service/tokens.hpp"

namespace fca::api {

// The caller a TLS client certificate chain (DER, leaf first) stands for, or Errc::policy_refused
// with the reason; made by the app from api.client_certificates (trust stores, roles, scope).
using ClientCertificateAuthenticator =
    std::function<Result<service::Principal>(const std::vector<std::vector<std::uint8_t>>& chain)>;

struct ApiSettings {
  std::size_t max_body_bytes = 64 * 1024;
  // Failed authentications per client address and minute before it is answered 429 until the minute ends.
  int max_auth_failures_per_minute = 10;
  // Empty: bearer tokens only. A request without an Authorization header that presents a client
  // certificate is authenticated by it; a bearer token always wins.
  ClientCertificateAuthenticator client_certificates;
};

struct ApiDependencies {
  service::Service& service;
  service::TokenService& tokens;
  IdempotencyRepository& idempotency;
  StoreStatistics& statistics;
  CrlService& crls;
  OcspService& ocsp;
  const Clock& clock;
  http::Metrics& metrics;  // shared with the other front ends; /metrics writes it out
  service::LabFaultService& lab_faults;  // refuses every call on an instance that is not a lab
};

// One route of the API, as mounted and as documented (openapi.json is made from this table).
struct RouteInfo {
  std::string method;
  std::string pattern;  // "/api/v1/certificates/{serial}"
  std::string summary;
  std::string request_schema;             // "" when the request has no body
  std::vector<int> statuses;              // the documented answers besides the common errors
  bool authenticated = true;
};
const std::vector<RouteInfo>& routes();
nlohmann::ordered_json openapi_document();

class ApiFrontEnd {
 public:
  ApiFrontEnd(ApiDependencies dependencies, ApiSettings settings, std::shared_ptr<spdlog::logger> log);
  ~ApiFrontEnd();
  ApiFrontEnd(const ApiFrontEnd&) = delete;
  ApiFrontEnd& operator=(const ApiFrontEnd&) = delete;

  // Any request under the API's paths, as the router hands it over.
  http::Response handle(const http::Request& request) const;
  void mount(http::Router& router) const;

  struct State;  // the failure limiter

 private:
  http::Response answer(const http::Request& request) const;

  ApiDependencies deps_;
  ApiSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<State> state_;
};

}  // namespace fca::api
