#pragma once
// The project's own HTTP request and response. Front ends (OCSP, CRL, later EST and the API) see
// only these; the library under the transport stays inside http/src.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/types.h>

#include "fca/core/error.hpp"

namespace fca::http {

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // the raw request-target: never decoded or normalised ('/', '+', '=' survive)
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;
  std::string peer;  // "address:port" of the client
  bool tls = false;
  // DER of the client's certificate chain when it presented one over TLS, leaf first. Whether it
  // was verified is the listener's TLS setup's business (its SSL_CTX verify callback).
  std::vector<std::vector<std::uint8_t>> client_chain;
  // The same chain as the TLS layer parsed it (empty where a Request is made without a handshake):
  // under OpenSSL 3.0 decoding a certificate costs as much as verifying it, so it is decoded once.
  std::vector<std::shared_ptr<X509>> client_certificates;
  // The TLS channel binding of the connection (RFC 5929 tls-unique for TLS 1.2, the RFC 9266
  // tls-exporter for TLS 1.3), for proof of possession in a CSR's challengePassword (RFC 7030 §3.5).
  std::string channel_binding_type;  // "tls-unique", "tls-exporter", "" (plain HTTP)
  std::vector<std::uint8_t> channel_binding;

  // The first header named `name` (ASCII case-insensitive); "" when absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // The target without its query.
  std::string_view path() const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send nothing and close the connection (a lab's revocation fault: docs/lab.md).
  bool close_without_answer = false;

  Response() = default;
  Response(int status_code, std::string content, std::string content_type = "text/plain");

  Response& set(std::string name, std::string value);  // replaces a header of the same name
  std::string_view header(std::string_view name) const;
};

// A short text/plain answer ("404 Not Found\n" unless `detail` says more).
Response text_response(int status, std::string_view detail = {});

// The one mapping from a domain error to an HTTP status, for every front end.
int status_of(Errc code);
Response error_response(const Error& error);

bool iequals(std::string_view a, std::string_view b);
// True when `header` names `media_type`; parameters (";charset=...") and case are ignored.
bool is_media_type(std::string_view header, std::string_view media_type);

// For log lines: control characters, DEL, '"' and '\\' and bytes >= 0x80 become \xNN; the result is
// at most `max` input bytes long (then "..." follows), so a line can never be split or forged.
std::string escape_for_log(std::string_view text, std::size_t max = 256);

}  // namespace fca::http
