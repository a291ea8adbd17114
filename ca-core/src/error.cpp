#include "fca/core/error.hpp"

#include <openssl/err.h>

namespace fca {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::invalid_input: return "invalid input";
    case Errc::policy_refused: return "refused by policy";
    case Errc::not_found: return "not found";
    case Errc::conflict: return "conflict";
    case Errc::key_failure: return "key failure";
    case Errc::storage: return "storage failure";
    case Errc::internal: return "internal error";
  }
  return "unknown error";
}

std::string openssl_error_text() {
  std::string text;
  unsigned long code = 0;
  const char* data = nullptr;
  int flags = 0;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
    if (data && (flags & ERR_TXT_STRING) && *data) {
      text += " (";
      text += data;
      text += ")";
    }
  }
  return text;
}

std::unexpected<Error> fail_openssl(Errc code, std::string_view what) {
  std::string message(what);
  const auto reason = openssl_error_text();
  if (!reason.empty()) message += ": " + reason;
  return fail(code, std::move(message));
}

}  // namespace fca
