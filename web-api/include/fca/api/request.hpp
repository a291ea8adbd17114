#pragma once
// Reading a request of the API: path parameters, the query, and the JSON body. Pure functions of
// their input (the fuzz target fuzz/api_request.cpp drives them).
//
// A JSON request body read against its documented shape: every field is asked for by name and type,
// and finish() reports fields nobody asked for. The first problem names the field.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"

namespace fca::api {

class JsonBody {
 public:
  // Errc::invalid_input unless `text` is one JSON object (an empty body is an empty object when allowed).
  static Result<JsonBody> parse(std::string_view text, bool empty_allowed);

  std::optional<std::string> text(std::string_view field, bool required, std::size_t max_length = 64 * 1024);
  std::optional<std::int64_t> integer(std::string_view field, bool required, std::int64_t min, std::int64_t max);
  std::optional<std::vector<std::string>> text_list(std::string_view field, bool required);
  std::optional<TimePoint> time(std::string_view field, bool required);
  bool present(std::string_view field) const { return document_.contains(std::string(field)); }

  // The first problem found, or an unknown field.
  Result<void> finish();

 private:
  explicit JsonBody(nlohmann::json document) : document_(std::move(document)) {}
  const nlohmann::json* field(std::string_view name, bool required);
  void problem(std::string_view field, std::string message);

  nlohmann::json document_;
  std::set<std::string, std::less<>> known_;
  std::optional<std::string> problem_;
};

// "2026-01-31T12:00:00Z" (RFC 3339, UTC, whole seconds), years 1970-2200.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

using Params = std::map<std::string, std::string>;
// Matches "/api/v1/certificates/{serial}" against a path; a parameter takes one non-empty segment.
std::optional<Params> match_path(std::string_view pattern, std::string_view path);
// %XX and '+' (a space) decoded; std::nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view text);
// The query of `target` as name → value; a parameter outside `allowed`, a repeated or empty one, or a
// bad escape is Errc::invalid_input naming it.
Result<Params> parse_query(std::string_view target, std::initializer_list<std::string_view> allowed);

}  // namespace fca::api
