#pragma once
// How records look on stdout: aligned tables for people; JSON for scripts (--json) comes from the
// service's shapes (fca/service/json.hpp).
#include <algorithm>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"
#include "fca/service/json.hpp"
#include "fca/service/service.hpp"

#include <fmt/core.h>

namespace fca::app {

using service::iso8601;
// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" with "Z" or "±HH:MM" (UTC when no zone is given).
// Years 1950 to 2200 only: a time outside cannot be meant, and beyond ±292 years of 1970 it would
// overflow the nanosecond clock (signed overflow in <chrono>).
Result<TimePoint> parse_iso8601(std::string_view text);
// An invalidity date lies within the certificate's life so far: not before its notBefore, not after now.
Result<void> check_invalidity_date(TimePoint date, TimePoint not_before, TimePoint now);

// Columns padded to their widest cell; the last column is not padded.
std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// Every item of a paged service listing up to `limit` (0: all of them), one bounded page at a time.
template <typename Item, typename Query, typename Fetch>
Result<std::vector<Item>> collect_pages(Query query, std::size_t limit, Fetch fetch) {
  std::vector<Item> items;
  for (;;) {
    query.limit = limit == 0 ? service::Service::kMaxPage : std::min(service::Service::kMaxPage, limit - items.size());
    auto page = fetch(query);
    if (!page) return std::unexpected(page.error());
    std::ranges::move(page->items, std::back_inserter(items));
    if (!page->next_cursor || (limit != 0 && items.size() >= limit)) return items;
    query.cursor = std::move(page->next_cursor);
  }
}

// --json output of a listing: an array of the service's JSON shapes.
template <typename Items>
void print_json_array(const Items& items) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& item : items) out.push_back(service::to_json(item));
  fmt::print("{}\n", out.dump(2));
}

}  // namespace fca::app
