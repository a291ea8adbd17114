#include "fca/ocsp/ocsp_http.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <thread>

#include "fca/core/clock.hpp"
#include "fca/core/x509.hpp"

namespace fca::ocsp {
namespace {

constexpr const char* kResponseType = "application/ocsp-response";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string etag_of(const std::vector<std::uint8_t>& der) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), md, &len, EVP_sha256(), nullptr);
  return "\"" + hex_upper(std::span<const std::uint8_t>(md, len)) + "\"";
}

const char* outcome_name(OcspOutcome outcome) {
  switch (outcome) {
    case OcspOutcome::successful: return "successful";
    case OcspOutcome::malformed_request: return "malformedRequest";
    case OcspOutcome::internal_error: return "internalError";
    case OcspOutcome::unauthorized: return "unauthorized";
  }
  return "?";
}

}  // namespace

std::vector<std::uint8_t> decode_get_request(std::string_view encoded) {
  std::string base64;
  base64.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%') {
      if (i + 2 >= encoded.size()) return {};
      const int hi = hex_value(encoded[i + 1]);
      const int lo = hex_value(encoded[i + 2]);
      if (hi < 0 || lo < 0) return {};
      base64 += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      base64 += encoded[i];  // '+' stays '+': this is a path, not a form
    }
  }
  if (base64.empty() || base64.size() % 4 != 0) return {};
  std::vector<std::uint8_t> der(base64.size() / 4 * 3);
  const int len = EVP_DecodeBlock(der.data(), reinterpret_cast<const unsigned char*>(base64.data()), static_cast<int>(base64.size()));
  if (len < 0) return {};
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t padding = 0;
  if (base64.ends_with("==")) padding = 2;
  else if (base64.ends_with("=")) padding = 1;
  der.resize(static_cast<std::size_t>(len) - padding);
  return der;
}

OcspFrontEnd::OcspFrontEnd(OcspService& service, OcspHttpSettings settings, std::shared_ptr<spdlog::logger> log,
                           http::Metrics* metrics, std::shared_ptr<LabOcspFaults> lab_faults)
    : service_(service), settings_(std::move(settings)), log_(std::move(log)), lab_faults_(std::move(lab_faults)) {
  static_assert(static_cast<std::size_t>(OcspOutcome::unauthorized) + 1 == kRefused);
  if (!metrics) return;
  // Made once here: the I/O threads only add to them.
  constexpr std::string_view help = "OCSP requests answered since start, by OCSPResponseStatus (http_refused: 413/415 before decoding).";
  for (auto outcome : {OcspOutcome::successful, OcspOutcome::malformed_request, OcspOutcome::internal_error, OcspOutcome::unauthorized}) {
    requests_[static_cast<std::size_t>(outcome)] = &metrics->counter("fca_ocsp_requests_total", help, {{"status", outcome_name(outcome)}});
  }
  requests_[kRefused] = &metrics->counter("fca_ocsp_requests_total", help, {{"status", "http_refused"}});
  latency_ = &metrics->histogram("fca_ocsp_request_duration_seconds",
                                 "Time from decoding an OCSP request to its formatted answer (signing included, queueing not).",
                                 {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
}

OcspFrontEnd::Decoded OcspFrontEnd::decode(const http::Request& request) const {
  Decoded decoded;
  if (request.method == "POST") {
    if (!http::is_media_type(request.header("Content-Type"), "application/ocsp-request")) {
      log_->warn("ocsp POST from {}: Content-Type '{}' refused", request.peer, http::escape_for_log(request.header("Content-Type"), 64));
      decoded.refused = http::Response(415, "OCSP requests are POSTed as application/ocsp-request\n");
      return decoded;
    }
    if (request.body.size() > settings_.max_request_bytes) {
      decoded.refused = http::text_response(413, "OCSP request too large");
      return decoded;
    }
    const auto* data = reinterpret_cast<const std::uint8_t*>(request.body.data());
    decoded.der.assign(data, data + request.body.size());
    return decoded;
  }
  // The raw request target, not a decoded path: exactly the prefix and one '/' are removed, so a
  // base64 text starting with '/' or holding "//" survives.
  const std::string_view target = request.path();
  const std::string with_slash = settings_.path_prefix + "/";
  if (target.starts_with(with_slash) && target.size() - with_slash.size() <= settings_.max_request_bytes * 2) {
    decoded.der = decode_get_request(target.substr(with_slash.size()));
  }
  return decoded;
}

http::Response OcspFrontEnd::format(const http::Request& request, const OcspAnswer& result) const {
  if (result.outcome != OcspOutcome::successful) {
    log_->warn("ocsp {} {} from {}: {} ({})", request.method, http::escape_for_log(request.target, 64), request.peer,
               outcome_name(result.outcome), result.reason);
  }
  // OCSP errors travel inside a 200 response (RFC 6960 A.1).
  http::Response response(200, std::string(result.der.begin(), result.der.end()), kResponseType);
  const auto now = std::chrono::system_clock::now();
  if (result.outcome == OcspOutcome::successful && result.cacheable && result.next_update) {
    const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(*result.next_update - now);
    const auto max_age = std::clamp(remaining, std::chrono::seconds(0), settings_.max_age_cap);
    response.set("Cache-Control", "max-age=" + std::to_string(max_age.count()) + ", public, no-transform, must-revalidate");
    // An indexed answer carries its fields made once when it was signed; others get them made here.
    std::string etag;
    if (result.headers) {
      etag = result.headers->etag;
      response.set("Last-Modified", result.headers->last_modified);
      response.set("Expires", result.headers->expires);
    } else {
      etag = etag_of(result.der);
      response.set("Last-Modified", http_date(result.this_update.value_or(result.produced_at)));
      response.set("Expires", http_date(*result.next_update));
    }
    response.set("ETag", etag);
    if (request.method == "GET" && request.header("If-None-Match") == etag) {
      response.status = 304;
      response.body.clear();
    }
  } else {
    response.set("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate");
  }
  return response;
}

void OcspFrontEnd::count(std::size_t status, std::chrono::steady_clock::time_point started) const {
  if (!latency_) return;
  requests_[status]->add();
  latency_->observe(std::chrono::steady_clock::now() - started);
}

std::optional<http::Response> OcspFrontEnd::answer_cached(const http::Request& request) const {
  const auto started = std::chrono::steady_clock::now();
  auto decoded = decode(request);
  if (decoded.refused) {
    count(kRefused, started);
    return std::move(decoded.refused);
  }
  auto result = service_.respond_cached(decoded.der);
  if (!result) return std::nullopt;  // counted by answer()
  auto response = format(request, *result);
  count(static_cast<std::size_t>(result->outcome), started);
  return response;
}

http::Response OcspFrontEnd::answer(const http::Request& request) const {
  const auto started = std::chrono::steady_clock::now();
  auto decoded = decode(request);
  if (decoded.refused) {
    count(kRefused, started);
    return std::move(*decoded.refused);
  }
  const auto result = service_.respond(decoded.der);
  auto response = format(request, result);
  count(static_cast<std::size_t>(result.outcome), started);
  return response;
}

// A request a fault applies to goes to the worker pool (a fault may sign or wait); the faulty answer
// is made there and never enters the index.
std::optional<http::Response> OcspFrontEnd::answer_cached_unless_faulty(const http::Request& request) const {
  // Decoded twice when no fault applies: a lab instance's price, never paid elsewhere.
  auto decoded = decode(request);
  if (!decoded.refused && lab_faults_->fault_for(decoded.der)) return std::nullopt;
  return answer_cached(request);
}

http::Response OcspFrontEnd::answer_with_faults(const http::Request& request) const {
  const auto started = std::chrono::steady_clock::now();
  auto decoded = decode(request);
  auto fault = decoded.refused ? std::nullopt : lab_faults_->fault_for(decoded.der);
  if (!fault) return answer(request);
  log_->info("ocsp {} from {}: lab fault {} ({}) applies", request.method, request.peer, fault->id, fault->mode);
  auto faulty = lab_faults_->answer(*fault, decoded.der);
  if (faulty.close_connection) {
    http::Response closed;
    closed.close_without_answer = true;
    return closed;
  }
  if (faulty.delay.count() > 0) std::this_thread::sleep_for(faulty.delay);
  auto response = format(request, faulty.answer);
  count(static_cast<std::size_t>(faulty.answer.outcome), started);
  return response;
}

void OcspFrontEnd::mount(http::Router& router) const {
  const auto fast = lab_faults_ ? http::FastHandler([this](const http::Request& r) { return answer_cached_unless_faulty(r); })
                                : http::FastHandler([this](const http::Request& r) { return answer_cached(r); });
  const auto slow = lab_faults_ ? http::Handler([this](const http::Request& r) { return answer_with_faults(r); })
                                : http::Handler([this](const http::Request& r) { return answer(r); });
  const std::vector<std::string> methods{"GET", "POST"};
  if (settings_.path_prefix.empty()) {
    router.add(http::Match::prefix, "/", methods, fast, slow);
  } else {
    router.add(http::Match::exact, settings_.path_prefix, methods, fast, slow);
    router.add(http::Match::prefix, settings_.path_prefix + "/", methods, fast, slow);
  }
}

}  // namespace fca::ocsp
