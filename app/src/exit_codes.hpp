#pragma once
// The process exit status is part of the CLI's contract with scripts (docs/cli.md).
#include "fca/core/error.hpp"

namespace fca::app {

enum ExitCode : int {
  exit_ok = 0,
  exit_failure = 1,    // internal, storage or key failure; broken audit chain
  exit_usage = 2,      // bad command line or invalid config.json
  exit_refused = 3,    // invalid input or policy refusal (bad CSR, forbidden name, weak key, CA:TRUE)
  exit_not_found = 4,  // no such CA, certificate or data directory
  exit_conflict = 5,   // exists already, already revoked, newer database schema
};

constexpr int exit_code_for(Errc code) {
  switch (code) {
    case Errc::invalid_input:
    case Errc::policy_refused: return exit_refused;
    case Errc::not_found: return exit_not_found;
    case Errc::conflict: return exit_conflict;
    case Errc::key_failure:
    case Errc::storage:
    case Errc::internal: return exit_failure;
  }
  return exit_failure;
}

}  // namespace fca::app
