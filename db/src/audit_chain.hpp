#pragma once
// The audit log's hash chain: how one entry's hash is computed, kept apart from SQL so the
// encoding is stated once.
#include <cstdint>
#include <string>

#include "fca/core/repository.hpp"

namespace fca::db {

// Lowercase hex SHA-256 over a length-prefixed encoding of the entry (sequence, at, actor,
// action, object, detail, previous_hash) under a version tag. Length prefixes make the encoding
// unambiguous: moving bytes from one field into the next changes the hash.
Result<std::string> audit_entry_hash(std::int64_t sequence, const AuditEvent& event, std::string_view previous_hash);

}  // namespace fca::db
