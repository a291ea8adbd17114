#pragma once
// OCSP over HTTP (RFC 6960 appendix A, RFC 5019): POST application/ocsp-request to the prefix, or
// GET {prefix}/{base64 DER, URL-encoded}. The base64 may hold '/', '+' and '=' (or their percent
// encodings): exactly the prefix is stripped and nothing else of the path is normalised.
#include <chrono>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "fca/core/ocsp.hpp"

namespace httplib {
class Server;
}

namespace fca::ocsp {

struct OcspHttpSettings {
  std::string path_prefix = "/ocsp";                 // no trailing '/'; "" serves at the root
  std::chrono::seconds max_age_cap{std::chrono::hours(1)};  // Cache-Control max-age never exceeds this
  std::size_t max_request_bytes = 64 * 1024;
};

void mount(httplib::Server& server, OcspService& service, OcspHttpSettings settings,
           std::shared_ptr<spdlog::logger> log);

// Decodes a GET request's path remainder (after the prefix and its '/') into DER: percent-decoding
// first, then base64 with '+' kept as '+'. Empty when it is not base64.
std::vector<std::uint8_t> decode_get_request(std::string_view encoded);

}  // namespace fca::ocsp
