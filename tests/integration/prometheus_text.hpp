#pragma once
// A strict reader of the Prometheus text exposition format 0.0.4, line by line: every line is a
// HELP, a TYPE or a sample; each family has one HELP and then one TYPE before its samples, and its
// samples are together; a sample's name is its family's (or _bucket/_sum/_count of a histogram);
// labels are well formed, unique and escaped; no series appears twice; counters are not negative; a
// histogram's buckets are cumulative, end in le="+Inf" and agree with _count.
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fca::test {

struct MetricsText {
  std::map<std::string, double> samples;  // "name{labels as written}" → value
  std::vector<std::string> problems;      // "line N: what", empty when the text is well formed
};

inline MetricsText read_metrics(const std::string& text) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|Inf|NaN))$)");
  static const std::regex label(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((\\[\\"n]|[^"\\\n])*)"(,|$))re");
  MetricsText out;
  std::map<std::string, std::string> types;  // family → type
  std::set<std::string> helped, finished;
  std::string current;                              // the family whose samples come now
  std::map<std::string, double> last_bucket, inf_bucket;  // per histogram series (labels without le)
  if (text.empty() || text.back() != '\n') out.problems.push_back("the text does not end with a newline");
  std::size_t start = 0;
  for (int number = 1; start < text.size(); ++number) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    start = end + 1;
    const auto problem = [&](const std::string& what) { out.problems.push_back("line " + std::to_string(number) + " (" + line + "): " + what); };
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      if (helped.contains(m[1])) problem("a second HELP");
      helped.insert(m[1]);
      continue;
    }
    if (std::regex_match(line, m, type)) {
      const std::string family = m[1];
      if (types.contains(family)) problem("a second TYPE");
      if (!helped.contains(family)) problem("TYPE before HELP");
      types[family] = m[2];
      if (!current.empty()) finished.insert(current);
      current = family;
      continue;
    }
    if (line.starts_with("#")) {
      problem("a comment that is neither HELP nor TYPE");
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      problem("not a sample");
      continue;
    }
    const std::string name = m[1];
    const auto family_type = types.contains(current) ? types.at(current) : std::string();
    std::string family = name;
    if (family_type == "histogram") {
      for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (name == current + suffix) family = current;
      }
    }
    if (family != current) problem("a sample outside its family's TYPE block");
    if (finished.contains(family)) problem("the family's samples are not together");
    std::string labels = m[3];
    std::set<std::string> keys;
    std::string le, without_le;
    bool labels_ok = true;
    while (!labels.empty()) {
      std::smatch l;
      if (!std::regex_search(labels, l, label, std::regex_constants::match_continuous)) {
        problem("malformed labels");
        labels_ok = false;
        break;
      }
      if (keys.contains(l[1])) problem("label " + l[1].str() + " twice");
      keys.insert(l[1]);
      if (l[1] == "le") {
        le = l[2];
      } else {
        without_le += l[0].str();
      }
      labels = l.suffix();
    }
    if (!labels_ok) continue;
    const double value = std::stod(m[4]);  // strtod reads Inf and NaN too
    const auto key = line.substr(0, line.rfind(' '));
    if (out.samples.contains(key)) problem("the series twice");
    out.samples[key] = value;
    if (family_type == "counter" && value < 0) problem("a negative counter");
    if (family_type == "histogram") {
      const auto series = current + "{" + without_le + "}";
      if (name == current + "_bucket") {
        if (le.empty()) problem("a bucket without le");
        if (inf_bucket.contains(series)) problem("a bucket after le=\"+Inf\"");
        if (value < last_bucket[series]) problem("buckets not cumulative");
        last_bucket[series] = value;
        if (le == "+Inf") inf_bucket[series] = value;
      } else if (name == current + "_count") {
        if (!inf_bucket.contains(series)) problem("_count without a le=\"+Inf\" bucket");
        else if (inf_bucket.at(series) != value) problem("_count differs from the +Inf bucket");
      }
    } else if (!le.empty()) {
      problem("le outside a histogram");
    }
  }
  return out;
}

// The samples of a text that must be well formed (the test fails naming every problem).
inline std::map<std::string, double> parse_metrics(const std::string& text) {
  auto read = read_metrics(text);
  std::string problems;
  for (const auto& p : read.problems) problems += p + "\n";
  INFO(problems);
  REQUIRE(read.problems.empty());
  return read.samples;
}

// The value of one series, 0 when absent (a counter not made yet).
inline double metric(const std::map<std::string, double>& samples, const std::string& series) {
  const auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

}  // namespace fca::test
