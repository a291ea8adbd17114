#include "fca/http/message.hpp"

#include <ostream>

#include <boost/beast/http/status.hpp>

namespace fca::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

bool is_media_type(std::string_view header, std::string_view media_type) {
  auto value = header.substr(0, header.find(';'));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  return iequals(value, media_type);
}

std::string_view Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return {};
}

bool Request::has_header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return true;
  }
  return false;
}

std::string_view Request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

Response::Response(int status_code, std::string content, std::string content_type) : status(status_code), body(std::move(content)) {
  headers.emplace_back("Content-Type", std::move(content_type));
}

Response& Response::set(std::string name, std::string value) {
  for (auto& [n, v] : headers) {
    if (iequals(n, name)) {
      v = std::move(value);
      return *this;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

std::string_view Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return {};
}

Response text_response(int status, std::string_view detail) {
  std::string body = std::to_string(status) + " ";
  body += std::string(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status)));
  if (!detail.empty()) {
    body += ": ";
    body += detail;
  }
  body += "\n";
  return Response(status, std::move(body));
}

int status_of(Errc code) {
  switch (code) {
    case Errc::invalid_input: return 400;
    case Errc::policy_refused: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::key_failure:
    case Errc::storage: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

Response error_response(const Error& error) {
  // Server-side failures keep their detail for the log, not for the client.
  const int status = status_of(error.code);
  return text_response(status, status >= 500 ? std::string_view{} : std::string_view(error.message));
}

std::string escape_for_log(std::string_view text, std::size_t max) {
  static constexpr char digits[] = "0123456789abcdef";
  const auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; };
  std::string out;
  const auto n = std::min(text.size(), max);
  out.reserve(n + 8);
  // Runs of plain characters are copied at once: on the access-log path nearly every line is one run.
  for (std::size_t i = 0; i < n;) {
    std::size_t end = i;
    while (end < n && plain(static_cast<unsigned char>(text[end]))) ++end;
    out.append(text.data() + i, end - i);
    if (end == n) break;
    const auto c = static_cast<unsigned char>(text[end]);
    out += "\\x";
    out += digits[c >> 4];
    out += digits[c & 15];
    i = end + 1;
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace fca::http
