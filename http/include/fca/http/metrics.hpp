#pragma once
// Counters and latency histograms that the front ends count into and `GET /metrics` (fca::api)
// writes out in the Prometheus text format 0.0.4. A counter or histogram, once made, lives as long as
// the registry and is updated without a lock (hot paths keep the reference); making or finding one
// takes the registry's lock.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fca::http {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Durations in buckets with upper bounds in seconds (cumulative when written out, plus +Inf).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds_seconds);
  void observe(std::chrono::nanoseconds duration);

  const std::vector<double>& bounds() const { return bounds_; }
  std::vector<std::uint64_t> bucket_counts() const;  // per bucket, not cumulative; last is +Inf
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class Metrics {
 public:
  // The counter of family `name` with these labels, made at zero on first use. `help` is taken from
  // the first call for the family.
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds_seconds,
                       const MetricLabels& labels = {});

  // Every family, in the order first made, each with # HELP and # TYPE; label values escaped.
  std::string exposition() const;

 private:
  struct Family {
    std::string name;
    std::string help;
    bool histogram = false;
    std::map<std::string, std::unique_ptr<Counter>> counters;      // by rendered labels
    std::map<std::string, std::unique_ptr<Histogram>> histograms;  // by rendered labels
  };
  Family& family(std::string_view name, std::string_view help, bool histogram);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

// `key="value",...` with the value escaped for the text format (\\, \", \n).
std::string render_labels(const MetricLabels& labels);

}  // namespace fca::http
