#pragma once
// How the last background refresh of one CA's revocation data went (CRL, OCSP responder, OCSP cache),
// kept per CA so one CA whose key cannot be used neither stops the others nor hides among them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fca/core/clock.hpp"
#include "fca/core/error.hpp"

namespace fca {

struct CaRefreshStatus {
  std::string ca_name;
  std::optional<TimePoint> last_success;
  std::optional<TimePoint> last_failure;
  std::string last_error;  // the last failure's message, kept after a later success for the record
  bool failing = false;    // the last attempt failed
  std::uint64_t failures = 0;  // failed attempts since the process started
};

// Per-CA outcomes of one kind of refresh, by CA id.
class RefreshStatusBoard {
 public:
  void succeeded(std::int64_t ca_id, const std::string& ca_name, TimePoint at) {
    auto& status = board_[ca_id];
    status.ca_name = ca_name;
    status.last_success = at;
    status.failing = false;
  }
  void failed(std::int64_t ca_id, const std::string& ca_name, TimePoint at, std::string error) {
    auto& status = board_[ca_id];
    status.ca_name = ca_name;
    status.last_failure = at;
    status.last_error = std::move(error);
    status.failing = true;
    ++status.failures;
  }
  const std::map<std::int64_t, CaRefreshStatus>& by_ca() const { return board_; }

 private:
  std::map<std::int64_t, CaRefreshStatus> board_;
};

// Collects the failures of one pass over every CA and turns them into one error naming each CA.
class PassFailures {
 public:
  void add(const std::string& ca_name, const Error& error) {
    if (!first_code_) first_code_ = error.code;
    if (!message_.empty()) message_ += "; ";
    message_ += "CA '" + ca_name + "': " + error.message;
  }
  bool empty() const { return !first_code_; }
  std::unexpected<Error> error(const std::string& what) const {
    return fail(*first_code_, what + " failed for " + message_);
  }

 private:
  std::optional<Errc> first_code_;
  std::string message_;
};

}  // namespace fca
