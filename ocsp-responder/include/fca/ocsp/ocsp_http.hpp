#pragma once
// OCSP over HTTP (RFC 6960 appendix A, RFC 5019): POST application/ocsp-request to the prefix, or
// GET {prefix}/{base64 DER, URL-encoded}. The base64 may hold '/', '+' and '=' (or their percent
// encodings): exactly the prefix is stripped from the raw target and nothing else is normalised.
//
// Pre-signed answers are given on the I/O thread (OcspService::respond_cached); what needs a
// signature (a nonce, a miss, a status change) goes to the worker pool, so a slow signer never
// delays the answers that are ready.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "fca/core/lab_faults.hpp"
#include "fca/core/ocsp.hpp"
#include "fca/http/metrics.hpp"
#include "fca/http/router.hpp"

namespace fca::ocsp {

struct OcspHttpSettings {
  std::string path_prefix = "/ocsp";                        // no trailing '/'; "" serves at the root
  std::chrono::seconds max_age_cap{std::chrono::hours(1)};  // Cache-Control max-age never exceeds this
  std::size_t max_request_bytes = 64 * 1024;
};

class OcspFrontEnd {
 public:
  // With `metrics`: fca_ocsp_requests_total{status} and fca_ocsp_request_duration_seconds. With lab
  // faults (a lab instance only), every request first asks them whether a fault applies; without,
  // the routes are exactly the plain ones.
  OcspFrontEnd(OcspService& service, OcspHttpSettings settings, std::shared_ptr<spdlog::logger> log,
               http::Metrics* metrics = nullptr, std::shared_ptr<LabOcspFaults> lab_faults = nullptr);

  // The answer when it is ready without signing; nullopt when answer() must make it.
  std::optional<http::Response> answer_cached(const http::Request& request) const;
  // Always an answer; may sign (or wait for a PKCS#11 token): for the worker pool.
  http::Response answer(const http::Request& request) const;

  // GET and POST at the prefix and below it.
  void mount(http::Router& router) const;

 private:
  struct Decoded {
    std::optional<http::Response> refused;  // an HTTP-level refusal (415, 413)
    std::vector<std::uint8_t> der;
  };
  Decoded decode(const http::Request& request) const;
  http::Response format(const http::Request& request, const OcspAnswer& result) const;
  std::optional<http::Response> answer_cached_unless_faulty(const http::Request& request) const;
  http::Response answer_with_faults(const http::Request& request) const;

  void count(std::size_t status, std::chrono::steady_clock::time_point started) const;

  static constexpr std::size_t kRefused = 4;  // after the four OcspOutcome values: 413, 415, ...
  http::Counter* requests_[kRefused + 1] = {};
  http::Histogram* latency_ = nullptr;

  OcspService& service_;
  OcspHttpSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<LabOcspFaults> lab_faults_;
};

// Decodes a GET request's path remainder (after the prefix and its '/') into DER: percent-decoding
// first, then base64 with '+' kept as '+'. Empty when it is not base64.
std::vector<std::uint8_t> decode_get_request(std::string_view encoded);

}  // namespace fca::ocsp
