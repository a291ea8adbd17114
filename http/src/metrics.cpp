#include "fca/http/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace fca::http {
namespace {

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

std::string with(const std::string& labels, const std::string& more) {
  if (labels.empty()) return more;
  return labels + "," + more;
}

}  // namespace

std::string render_labels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ',';
    out += key + "=\"" + escape_label_value(value) + "\"";
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds_seconds)
    : bounds_(std::move(bounds_seconds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  std::ranges::sort(bounds_);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(std::chrono::nanoseconds duration) {
  const double seconds = static_cast<double>(duration.count()) / 1e9;
  const auto at = static_cast<std::size_t>(std::ranges::lower_bound(bounds_, seconds) - bounds_.begin());
  buckets_[at].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())), std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

Metrics::Family& Metrics::family(std::string_view name, std::string_view help, bool histogram) {
  for (auto& f : families_) {
    if (f->name == name) {
      // One name, one type: a programming error, not a run-time condition.
      if (f->histogram != histogram) throw std::logic_error("metric " + std::string(name) + " used as two types");
      return *f;
    }
  }
  families_.push_back(std::make_unique<Family>(Family{std::string(name), std::string(help), histogram, {}, {}}));
  return *families_.back();
}

Counter& Metrics::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, false).counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds_seconds,
                              const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, true).histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds_seconds);
  return *slot;
}

std::string Metrics::exposition() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f->name + " " + f->help + "\n";
    out += "# TYPE " + f->name + (f->histogram ? " histogram\n" : " counter\n");
    for (const auto& [labels, counter] : f->counters) {
      out += f->name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(counter->value()) + "\n";
    }
    for (const auto& [labels, histogram] : f->histograms) {
      // Read once: the buckets, the count and the sum may move while this is written; the count is
      // the buckets' total so the +Inf bucket and _count agree.
      const auto counts = histogram->bucket_counts();
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const auto le = i < histogram->bounds().size() ? number(histogram->bounds()[i]) : std::string("+Inf");
        out += f->name + "_bucket{" + with(labels, "le=\"" + le + "\"") + "} " + std::to_string(cumulative) + "\n";
      }
      const auto braces = labels.empty() ? std::string() : "{" + labels + "}";
      out += f->name + "_sum" + braces + " " + number(histogram->sum_seconds()) + "\n";
      out += f->name + "_count" + braces + " " + std::to_string(cumulative) + "\n";
    }
  }
  return out;
}

}  // namespace fca::http
