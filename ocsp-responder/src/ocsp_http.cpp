#include "fca/ocsp/ocsp_http.hpp"

#include <httplib.h>
#include <openssl/evp.h>

#include <ctime>

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

bool is_media_type(const std::string& header, std::string_view type) {
  // Parameters (";charset=...") do not change the media type; case does not matter.
  std::string value = header.substr(0, header.find(';'));
  while (!value.empty() && value.back() == ' ') value.pop_back();
  if (value.size() != type.size()) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != type[i]) return false;
  }
  return true;
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

void mount(httplib::Server& server, OcspService& service, OcspHttpSettings settings, std::shared_ptr<spdlog::logger> log) {
  auto answer = [&service, settings, log](const httplib::Request& req, httplib::Response& res,
                                           std::span<const std::uint8_t> der) {
    const OcspAnswer result = service.respond(der);
    if (result.outcome != OcspOutcome::successful) {
      log->warn("ocsp {} {} from {}: {} ({})", req.method, req.path.substr(0, 64), req.remote_addr,
                outcome_name(result.outcome), result.reason);
    }
    res.status = 200;  // OCSP errors travel inside a 200 response (RFC 6960 A.1)
    const auto now = std::chrono::system_clock::now();
    if (result.outcome == OcspOutcome::successful && result.cacheable && result.next_update) {
      const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(*result.next_update - now);
      const auto max_age = std::clamp(remaining, std::chrono::seconds(0), settings.max_age_cap);
      const auto etag = etag_of(result.der);
      res.set_header("Cache-Control", "max-age=" + std::to_string(max_age.count()) + ", public, no-transform, must-revalidate");
      res.set_header("Last-Modified", http_date(result.this_update.value_or(result.produced_at)));
      res.set_header("Expires", http_date(*result.next_update));
      res.set_header("ETag", etag);
      if (req.method == "GET" && req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        return;
      }
    } else {
      res.set_header("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate");
    }
    res.set_content(std::string(result.der.begin(), result.der.end()), kResponseType);
  };

  const std::string prefix = settings.path_prefix;
  const std::string post_pattern = prefix.empty() ? "/" : prefix + "/?";
  server.Post(post_pattern, [answer, settings, log](const httplib::Request& req, httplib::Response& res) {
    if (!is_media_type(req.get_header_value("Content-Type"), "application/ocsp-request")) {
      log->warn("ocsp POST from {}: Content-Type '{}' refused", req.remote_addr, req.get_header_value("Content-Type"));
      res.status = 415;
      res.set_content("OCSP requests are POSTed as application/ocsp-request\n", "text/plain");
      return;
    }
    if (req.body.size() > settings.max_request_bytes) {
      res.status = 413;
      res.set_content("OCSP request too large\n", "text/plain");
      return;
    }
    const auto* data = reinterpret_cast<const std::uint8_t*>(req.body.data());
    answer(req, res, std::span<const std::uint8_t>(data, req.body.size()));
  });

  // BCP-003-01: methods the API does not allow get 405, with the ones it does.
  const auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, POST");
    res.set_content("405 Method Not Allowed: OCSP takes GET and POST\n", "text/plain");
  };
  for (const auto& pattern : {post_pattern, prefix + "/(.+)"}) {
    server.Put(pattern, not_allowed);
    server.Patch(pattern, not_allowed);
    server.Delete(pattern, not_allowed);
    if (pattern != post_pattern) server.Post(pattern, not_allowed);
  }

  server.Get(prefix + "/(.+)", [answer, prefix, settings](const httplib::Request& req, httplib::Response& res) {
    // The raw request target, not the decoded path: exactly the prefix and one '/' are removed, so a
    // base64 text starting with '/' or holding "//" survives.
    std::string_view target = req.target;
    target = target.substr(0, target.find('?'));
    std::vector<std::uint8_t> der;
    if (target.starts_with(prefix + "/") && target.size() - prefix.size() - 1 <= settings.max_request_bytes * 2) {
      der = decode_get_request(target.substr(prefix.size() + 1));
    }
    answer(req, res, der);
  });
}

}  // namespace fca::ocsp
