#include "fca/api/request.hpp"

#include <algorithm>

#include <ctime>

namespace fca::api {

std::optional<TimePoint> parse_rfc3339(std::string_view text) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || (text[19] != 'Z' && text[19] != 'z')) {
    return std::nullopt;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v * 10 + (text[at + i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = number(0, 4) - 1900;
  tm.tm_mon = number(5, 2) - 1;
  tm.tm_mday = number(8, 2);
  tm.tm_hour = number(11, 2);
  tm.tm_min = number(14, 2);
  tm.tm_sec = number(17, 2);
  // TimePoint counts nanoseconds in 64 bits: it ends in 2262. Nothing here needs a time past 2200.
  if (tm.tm_year < 70 || tm.tm_year > 300) return std::nullopt;
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59) {
    return std::nullopt;
  }
  const std::tm asked = tm;
  const std::time_t seconds = timegm(&tm);
  // timegm normalises 31 February into March: a date that moved was not a date.
  if (tm.tm_mday != asked.tm_mday || tm.tm_mon != asked.tm_mon) return std::nullopt;
  return from_unix(static_cast<std::int64_t>(seconds));
}

Result<JsonBody> JsonBody::parse(std::string_view text, bool empty_allowed) {
  if (text.empty()) {
    if (empty_allowed) return JsonBody(nlohmann::json::object());
    return fail(Errc::invalid_input, "body: a JSON object is required");
  }
  auto document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return fail(Errc::invalid_input, "body: not valid JSON");
  if (!document.is_object()) return fail(Errc::invalid_input, "body: must be a JSON object");
  return JsonBody(std::move(document));
}

void JsonBody::problem(std::string_view field, std::string message) {
  if (!problem_) problem_ = std::string(field) + ": " + message;
}

const nlohmann::json* JsonBody::field(std::string_view name, bool required) {
  known_.emplace(name);
  const auto it = document_.find(std::string(name));
  if (it == document_.end() || it->is_null()) {
    if (required) problem(name, "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> JsonBody::text(std::string_view name, bool required, std::size_t max_length) {
  const auto* value = field(name, required);
  if (!value) return std::nullopt;
  if (!value->is_string()) {
    problem(name, "must be a string");
    return std::nullopt;
  }
  auto text = value->get<std::string>();
  if (text.empty()) {
    problem(name, "must not be empty");
    return std::nullopt;
  }
  if (text.size() > max_length) {
    problem(name, "is longer than " + std::to_string(max_length) + " characters");
    return std::nullopt;
  }
  return text;
}

std::optional<std::int64_t> JsonBody::integer(std::string_view name, bool required, std::int64_t min, std::int64_t max) {
  const auto* value = field(name, required);
  if (!value) return std::nullopt;
  if (!value->is_number_integer()) {
    problem(name, "must be an integer");
    return std::nullopt;
  }
  const auto number = value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(max)
                          ? max + 1
                          : value->get<std::int64_t>();
  if (number < min || number > max) {
    problem(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return number;
}

std::optional<std::vector<std::string>> JsonBody::text_list(std::string_view name, bool required) {
  const auto* value = field(name, required);
  if (!value) return std::nullopt;
  if (!value->is_array() || value->size() > 100) {
    problem(name, "must be an array of at most 100 strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : *value) {
    if (!item.is_string() || item.get<std::string>().empty() || item.get<std::string>().size() > 256) {
      problem(name, "must hold non-empty strings of at most 256 characters");
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<TimePoint> JsonBody::time(std::string_view name, bool required) {
  auto text = this->text(name, required, 64);
  if (!text) return std::nullopt;
  auto parsed = parse_rfc3339(*text);
  if (!parsed) problem(name, "must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z");
  return parsed;
}

Result<void> JsonBody::finish() {
  if (problem_) return fail(Errc::invalid_input, *problem_);
  for (const auto& item : document_.items()) {
    if (!known_.contains(item.key())) return fail(Errc::invalid_input, item.key() + ": unknown field");
  }
  return {};
}

namespace {
// Every segment, empty ones included: "/a/" is {"", "a", ""}, never the same as "/a".
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

std::optional<Params> match_path(std::string_view pattern, std::string_view path) {
  const auto want = segments(pattern);
  const auto got = segments(path);
  if (want.size() != got.size()) return std::nullopt;
  Params params;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i].starts_with('{')) {
      if (got[i].empty()) return std::nullopt;
      params[std::string(want[i].substr(1, want[i].size() - 2))] = std::string(got[i]);
    } else if (want[i] != got[i]) {
      return std::nullopt;
    }
  }
  return params;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        return std::nullopt;
      }
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

Result<Params> parse_query(std::string_view target, std::initializer_list<std::string_view> allowed) {
  Params out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return fail(Errc::invalid_input, "query: bad percent-encoding");
    if (std::ranges::find(allowed, *name) == allowed.end()) return fail(Errc::invalid_input, *name + ": unknown query parameter");
    if (out.contains(*name)) return fail(Errc::invalid_input, *name + ": given twice");
    if (value->empty() || value->size() > 256) return fail(Errc::invalid_input, *name + ": must be 1-256 characters");
    out[*name] = std::move(*value);
  }
  return out;
}

}  // namespace fca::api
