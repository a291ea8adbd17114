#include "output.hpp"

#include <charconv>
#include <ctime>

#include <fmt/format.h>

namespace fca::app {
namespace {

// Reads exactly `digits` decimal digits at `pos`.
bool read_number(std::string_view text, std::size_t pos, std::size_t digits, int& out) {
  if (pos + digits > text.size()) return false;
  for (std::size_t i = pos; i < pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return std::from_chars(text.data() + pos, text.data() + pos + digits, out).ec == std::errc();
}

constexpr int kEarliestYear = 1950;
constexpr int kLatestYear = 2200;

}  // namespace

Result<void> check_invalidity_date(TimePoint date, TimePoint not_before, TimePoint now) {
  if (date < not_before) {
    return fail(Errc::invalid_input, "the invalidity date " + iso8601(date) + " lies before the certificate's notBefore " +
                                         iso8601(not_before));
  }
  if (date > now) return fail(Errc::invalid_input, "the invalidity date " + iso8601(date) + " lies in the future");
  return {};
}

Result<TimePoint> parse_iso8601(std::string_view text) {
  auto invalid = [&] {
    return fail(Errc::invalid_input, "'" + std::string(text) +
                                         "' is not an ISO 8601 time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
  };
  std::tm fields{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_number(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || !read_number(text, 5, 2, month) ||
      text[7] != '-' || !read_number(text, 8, 2, day)) {
    return invalid();
  }
  std::size_t pos = 10;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return invalid();
    if (!read_number(text, pos + 1, 2, hour) || text.size() < pos + 6 || text[pos + 3] != ':' ||
        !read_number(text, pos + 4, 2, minute)) {
      return invalid();
    }
    pos += 6;
    if (pos < text.size() && text[pos] == ':') {
      if (!read_number(text, pos + 1, 2, second)) return invalid();
      pos += 3;
    }
  }
  long offset_seconds = 0;
  if (pos < text.size()) {
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int zone_hours = 0, zone_minutes = 0;
      if (!read_number(text, pos + 1, 2, zone_hours) || text.size() < pos + 6 || text[pos + 3] != ':' ||
          !read_number(text, pos + 4, 2, zone_minutes)) {
        return invalid();
      }
      offset_seconds = (text[pos] == '+' ? 1 : -1) * (zone_hours * 3600L + zone_minutes * 60L);
      pos += 6;
    }
  }
  if (pos != text.size() || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return invalid();
  }
  if (year < kEarliestYear || year > kLatestYear) {
    return fail(Errc::invalid_input, "'" + std::string(text) + "' lies outside the years " + std::to_string(kEarliestYear) +
                                         " to " + std::to_string(kLatestYear));
  }
  fields.tm_year = year - 1900;
  fields.tm_mon = month - 1;
  fields.tm_mday = day;
  fields.tm_hour = hour;
  fields.tm_min = minute;
  fields.tm_sec = second;
  const std::time_t utc = ::timegm(&fields);
  // timegm normalises 31 February into March; a date that moved was not a date.
  if (fields.tm_mday != day || fields.tm_mon != month - 1) return invalid();
  return from_unix(static_cast<std::int64_t>(utc) - offset_seconds);
}

std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 == cells.size()) {
        out += cells[i];
      } else {
        out += fmt::format("{:<{}}  ", cells[i], widths[i]);
      }
    }
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& row : rows) out += line(row);
  return out;
}

}  // namespace fca::app
