#pragma once
// A spdlog formatter that escapes control characters in the whole formatted line (escape.hpp), so no
// message -- whatever outside text it carries -- can start a line of its own or reach the terminal raw.
#include <memory>

#include <spdlog/formatter.h>

#include "fca/core/escape.hpp"

namespace fca::app {

class EscapingFormatter final : public spdlog::formatter {
 public:
  explicit EscapingFormatter(std::unique_ptr<spdlog::formatter> inner) : inner_(std::move(inner)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t line;
    inner_->format(msg, line);
    std::string_view text(line.data(), line.size());
    // The formatter's own end of line stays; everything before it is escaped.
    const bool eol = text.ends_with('\n');
    if (eol) text.remove_suffix(1);
    const auto escaped = escape_control(text);
    dest.append(escaped.data(), escaped.data() + escaped.size());
    if (eol) dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<EscapingFormatter>(inner_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

}  // namespace fca::app
