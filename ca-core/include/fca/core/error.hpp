#pragma once
// Domain errors: every core and repository call returns Result<T>; front ends map Errc to their protocol.
#include <expected>
#include <string>

namespace fca {

enum class Errc {
  invalid_input,   // malformed DER/PEM, bad CSR signature, unknown profile name
  policy_refused,  // well-formed, but policy forbids it (name, key size, CA:TRUE, ...)
  not_found,
  conflict,        // state does not allow it: revoking twice, duplicate name, newer schema
  key_failure,     // key store could not open, generate or use a key
  storage,         // database failure
  internal,        // a bug or an environment failure (lint failure, OpenSSL refused)
};

struct Error {
  Errc code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

const char* to_string(Errc code);

// Drains OpenSSL's error queue into one line ("" when empty), so a failure reason is kept.
std::string openssl_error_text();

// fail(code, "what: <openssl reason>") for a failed OpenSSL call.
std::unexpected<Error> fail_openssl(Errc code, std::string_view what);

}  // namespace fca
