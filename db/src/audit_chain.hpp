#pragma once
// The audit log's chain: how one entry's hash or MAC is computed, and the head file kept outside the
// database. Kept apart from SQL so the encoding is stated once.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fca/core/repository.hpp"

namespace fca::db {

// Lowercase hex SHA-256 over a length-prefixed encoding of the entry (sequence, at, actor,
// action, object, detail, previous_hash) under a version tag. Length prefixes make the encoding
// unambiguous: moving bytes from one field into the next changes the hash. The chain of entries
// written before the instance had an audit key.
Result<std::string> audit_entry_hash(std::int64_t sequence, const AuditEvent& event, std::string_view previous_hash);
// Lowercase hex HMAC-SHA256 with `key` over the same encoding under its own tag: without the key,
// nobody can compute it, so an edited entry cannot be given a matching MAC.
Result<std::string> audit_entry_mac(std::span<const unsigned char> key, std::int64_t sequence, const AuditEvent& event,
                                    std::string_view previous_hash);

// What the head file vouches for: entries keyed_from.. carry a MAC; `count` entries existed, the last
// with MAC (or, when count < keyed_from, hash) `mac`.
struct AuditHead {
  std::int64_t keyed_from = 1;
  std::int64_t count = 0;
  std::string mac;
};

// What a head file holds: the newest intact head and the slot it is in (see audit_chain.cpp).
struct AuditHeadFile {
  std::optional<AuditHead> head;  // none when the file is empty
  std::size_t slot = 0;
  bool empty = false;
};
// The head file's content, parsed; Errc::storage when it is too large or no slot holds a head.
Result<AuditHeadFile> parse_audit_head_file(std::string_view content, const std::filesystem::path& file);

// std::nullopt when the file does not exist; Errc::storage when it cannot be read or parsed.
Result<std::optional<AuditHead>> read_audit_head(const std::filesystem::path& file);
// Writes the head into the older of the file's two checksummed slots, in place, and fdatasyncs it
// (a torn write leaves the other slot's head), unless the file already has `count` or more entries:
// writers in several processes, each finishing its commit at its own pace, can only move the head
// forward. Serialised by flock on "<file>.lock"; keyed_from of an existing head is kept.
Result<void> advance_audit_head(const std::filesystem::path& file, const AuditHead& head);

}  // namespace fca::db
