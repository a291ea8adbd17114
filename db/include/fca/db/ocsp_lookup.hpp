#pragma once
// The OCSP index's read path: certificate statuses and revocation revisions read on read-only
// connections of their own, one per thread, so OCSP answers never wait on Database's mutex (a CRL
// build, an audit verification, a listing, a write) and see other processes' commits at once.
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "fca/core/ocsp_index.hpp"

namespace fca::db {

class SqliteOcspStatusSource final : public OcspStatusSource {
 public:
  // The database must exist and be migrated already (Database::open does that).
  static Result<std::shared_ptr<SqliteOcspStatusSource>> open(const std::filesystem::path& file);
  ~SqliteOcspStatusSource() override;

  // Per call, the WAL-index header in the -shm file is compared with the one seen at this thread's
  // last check: every commit, by any connection in any process, rewrites it before the commit returns,
  // so an unchanged header means no commit since, and the answer needs no SQL and no lock. When it
  // changed (or cannot be read: no WAL, no -shm), PRAGMA data_version is read, and only when that
  // moved are the revisions read again.
  Result<std::int64_t> revocation_revision(std::int64_t issuer_id) override;
  Result<std::optional<OcspCertStatus>> certificate_status(std::int64_t issuer_id, std::string_view serial) override;

  // How many times this source re-read the revisions table, and how many calls asked SQLite at all
  // (PRAGMA data_version), for tests.
  std::int64_t revision_reads() const;
  std::int64_t version_checks() const;

 private:
  struct Reader;
  explicit SqliteOcspStatusSource(std::filesystem::path file);
  Result<Reader*> reader();
  Result<std::unique_ptr<Reader>> open_reader();
  Result<void> read_revisions(Reader& reader);

  std::filesystem::path file_;
  std::uint64_t id_;  // never reused, so a thread's cached reader of a destroyed source is never taken for ours
  std::mutex readers_mutex_;  // taken once per thread, when it first asks
  std::vector<std::unique_ptr<Reader>> readers_;
  bool start_reader_claimed_ = false;  // the reader open() made goes to the first thread that asks
  std::atomic<std::int64_t> revision_reads_{0};
  std::atomic<std::int64_t> version_checks_{0};
  class WalHeaderProbe;
  std::unique_ptr<WalHeaderProbe> wal_header_;  // null: every call asks SQLite
};

}  // namespace fca::db
