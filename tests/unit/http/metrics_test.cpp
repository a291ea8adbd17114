#include <catch2/catch.hpp>

#include "fca/http/metrics.hpp"

using namespace fca::http;
using namespace std::chrono_literals;

TEST_CASE("metrics: counters by labels, histogram buckets inclusive of their bound, escaped label values", "[http][metrics]") {
  Metrics metrics;
  auto& a = metrics.counter("t_total", "Test.", {{"ca", "x\"y\\z\nw"}});
  a.add();
  a.add(2);
  CHECK(&metrics.counter("t_total", "ignored", {{"ca", "x\"y\\z\nw"}}) == &a);  // the same series
  metrics.counter("t_total", "ignored", {{"ca", "other"}});
  auto& h = metrics.histogram("t_seconds", "Latency.", {0.001, 0.01});
  h.observe(1ms);    // on the bound: in le="0.001"
  h.observe(2ms);    // le="0.01"
  h.observe(500ms);  // +Inf only
  CHECK(h.count() == 3);
  CHECK(h.sum_seconds() == Approx(0.503));
  const auto text = metrics.exposition();
  CHECK(text ==
        "# HELP t_total Test.\n# TYPE t_total counter\n"
        "t_total{ca=\"other\"} 0\n"
        "t_total{ca=\"x\\\"y\\\\z\\nw\"} 3\n"
        "# HELP t_seconds Latency.\n# TYPE t_seconds histogram\n"
        "t_seconds_bucket{le=\"0.001\"} 1\n"
        "t_seconds_bucket{le=\"0.01\"} 2\n"
        "t_seconds_bucket{le=\"+Inf\"} 3\n"
        "t_seconds_sum 0.503\n"
        "t_seconds_count 3\n");
  CHECK_THROWS(metrics.counter("t_seconds", "a histogram already"));
}
