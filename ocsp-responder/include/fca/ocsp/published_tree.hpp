#pragma once
// Where an HTTP cache finds a pre-signed answer without asking the responder: the nonce-less SHA-1
// CertID request RFC 5019 clients send for a certificate, and the file path its GET URL maps to
// once a static web server has percent-decoded it (docs/scale-out.md).
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "fca/core/error.hpp"

namespace fca::ocsp {

// DER of an OCSPRequest with one SHA-1 CertID for `serial_hex` under `issuer`, no nonce, no
// extensions: byte for byte what `openssl ocsp -no_nonce` and RFC 5019 clients send.
Result<std::vector<std::uint8_t>> rfc5019_request(const X509* issuer, std::string_view serial_hex);

// The last segment of the GET URL: base64 of the DER with '+', '/' and '=' percent-encoded.
std::string get_path_segment(std::span<const std::uint8_t> request_der);

// The decoded segment as a path below the OCSP prefix's directory: base64 '/' are directory
// separators (a web server maps "a/b" to a file b in a directory a). Empty when no file can carry
// it (the base64 ends in '/'): such a request is left to the responder.
std::filesystem::path file_path_of(std::span<const std::uint8_t> request_der);

}  // namespace fca::ocsp
