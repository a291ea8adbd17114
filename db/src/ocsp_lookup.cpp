#include "fca/db/ocsp_lookup.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "sqlite.hpp"

namespace fca::db {
namespace {

std::atomic<std::uint64_t> next_source_id{1};

// A reader retrying for this long on a busy database (a checkpoint, a recovery) before failing.
constexpr int kReaderBusyTimeoutMs = 1000;

struct ThreadReader {
  std::uint64_t source_id = 0;
  void* reader = nullptr;
};
thread_local ThreadReader this_thread_reader;

}  // namespace

// The WAL-index header: the first 2 x 48 bytes of the -shm file, two copies of one struct (SQLite's
// WalIndexHdr: version, change counter, page size, last valid frame, page count, frame checksum,
// salts, header checksum; https://www.sqlite.org/walformat.html, a layout every SQLite version that
// shares the file must agree on). A committing writer rewrites copy 1, then copy 0, while it still
// holds the write lock; a reader that sees both copies equal has a consistent header.
using WalIndexHeader = std::array<std::uint32_t, 12>;

class SqliteOcspStatusSource::WalHeaderProbe {
 public:
  // SQLite's own mapping of the -shm file's first region, as `connection` has it (the VFS's xShmMap,
  // no descriptor of ours): a POSIX lock belongs to the process and the inode, so opening and closing
  // a descriptor of the file here would drop every lock this process holds on it, SQLite's shared
  // DMS lock included, and the next process to open the database would take itself for the first,
  // truncate the file under every mapping (SIGBUS) and rebuild the index beside our readers. The
  // region stays mapped while the connection is open; the source keeps it open longer than this probe.
  static std::unique_ptr<WalHeaderProbe> map(sqlite3* connection) {
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(connection, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == nullptr ||
        file->pMethods == nullptr || file->pMethods->iVersion < 2 || file->pMethods->xShmMap == nullptr) {
      return nullptr;
    }
    volatile void* region = nullptr;
    // 32 KiB: SQLite's region size, which every connection sharing the file must use.
    if (file->pMethods->xShmMap(file, 0, 32 * 1024, 0, &region) != SQLITE_OK || region == nullptr) return nullptr;
    return std::unique_ptr<WalHeaderProbe>(new WalHeaderProbe(static_cast<const std::uint32_t*>(const_cast<void*>(region))));
  }
  WalHeaderProbe(const WalHeaderProbe&) = delete;
  WalHeaderProbe& operator=(const WalHeaderProbe&) = delete;

  // std::nullopt while a writer is between the two copies, or before the WAL is initialised.
  std::optional<WalIndexHeader> read() const {
    WalIndexHeader first{};
    WalIndexHeader second{};
    // Copy 0 first, then copy 1: the reverse of the writer's order, as SQLite's own readers do.
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = __atomic_load_n(words_ + i, __ATOMIC_ACQUIRE);
    for (std::size_t i = 0; i < second.size(); ++i) {
      second[i] = __atomic_load_n(words_ + second.size() + i, __ATOMIC_ACQUIRE);
    }
    if (first != second) return std::nullopt;
    const auto is_init = static_cast<std::uint8_t>(first[3] & 0xff);  // byte 12 on little-endian hosts
    if (is_init == 0) return std::nullopt;
    return first;
  }

 private:
  explicit WalHeaderProbe(const std::uint32_t* words) : words_(words) {}
  const std::uint32_t* words_;
};

struct SqliteOcspStatusSource::Reader {
  sqlite::ConnectionPtr connection;
  sqlite::StatementPtr data_version;
  sqlite::StatementPtr revisions;
  sqlite::StatementPtr status;
  std::int64_t seen_data_version = -1;
  std::optional<WalIndexHeader> seen_wal_header;  // as read just before seen_data_version was
  std::unordered_map<std::int64_t, std::int64_t> revision_by_issuer;
};

namespace {

Result<sqlite::StatementPtr> prepare(sqlite3* connection, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(connection, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    return sqlite::storage_error(connection, std::string("cannot prepare OCSP lookup ") + sql);
  }
  return sqlite::StatementPtr(raw);
}

bool is_wal(sqlite3* connection) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(connection, "PRAGMA journal_mode", -1, &raw, nullptr) != SQLITE_OK) return false;
  sqlite::StatementPtr statement(raw);
  if (sqlite3_step(raw) != SQLITE_ROW) return false;
  const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  return mode != nullptr && std::strcmp(mode, "wal") == 0;
}

// Resets on every exit, so the read transaction the step opened ends with it.
struct ResetOnExit {
  sqlite3_stmt* statement;
  ~ResetOnExit() {
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
  }
};

}  // namespace

SqliteOcspStatusSource::SqliteOcspStatusSource(std::filesystem::path file)
    : file_(std::move(file)), id_(next_source_id.fetch_add(1)) {}

SqliteOcspStatusSource::~SqliteOcspStatusSource() = default;

Result<std::shared_ptr<SqliteOcspStatusSource>> SqliteOcspStatusSource::open(const std::filesystem::path& file) {
  std::shared_ptr<SqliteOcspStatusSource> source(new SqliteOcspStatusSource(file));
  // One reader now, so a missing file or schema is reported at start-up rather than per request.
  auto first = source->open_reader();
  if (!first) return std::unexpected(first.error());
  // A read makes SQLite open (and if need be initialise) the WAL index before it is mapped.
  if (auto checked = source->read_revisions(**first); !checked) return std::unexpected(checked.error());
  if (is_wal(first->get()->connection.get())) source->wal_header_ = WalHeaderProbe::map(first->get()->connection.get());
  std::lock_guard lock(source->readers_mutex_);
  source->readers_.push_back(std::move(*first));
  return source;
}

Result<std::unique_ptr<SqliteOcspStatusSource::Reader>> SqliteOcspStatusSource::open_reader() {
  auto reader = std::make_unique<Reader>();
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file_.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                                 nullptr);
  reader->connection.reset(raw);
  if (rc != SQLITE_OK) return sqlite::storage_error(raw, "cannot open database " + file_.string() + " for OCSP lookups");
  sqlite3_busy_timeout(raw, kReaderBusyTimeoutMs);
  auto data_version = prepare(raw, "PRAGMA data_version");
  if (!data_version) return std::unexpected(data_version.error());
  auto revisions = prepare(raw, "SELECT issuer_id, revision FROM revocation_revisions");
  if (!revisions) return std::unexpected(revisions.error());
  auto status = prepare(raw,
                        "SELECT status, revoked_at, revocation_reason, invalidity_date, issued_at FROM certificates "
                        "WHERE issuer_id = ?1 AND serial = ?2");
  if (!status) return std::unexpected(status.error());
  reader->data_version = std::move(*data_version);
  reader->revisions = std::move(*revisions);
  reader->status = std::move(*status);
  return reader;
}

Result<SqliteOcspStatusSource::Reader*> SqliteOcspStatusSource::reader() {
  if (this_thread_reader.source_id == id_) return static_cast<Reader*>(this_thread_reader.reader);
  // First use on this thread: a reader of its own (the one opened at start-up, if still free).
  std::lock_guard lock(readers_mutex_);
  if (!start_reader_claimed_ && !readers_.empty()) {
    start_reader_claimed_ = true;
  } else {
    auto opened = open_reader();
    if (!opened) return std::unexpected(opened.error());
    readers_.push_back(std::move(*opened));
  }
  this_thread_reader = {id_, readers_.back().get()};
  return readers_.back().get();
}

Result<void> SqliteOcspStatusSource::read_revisions(Reader& r) {
  // Before data_version: a commit between the two leaves a header that the next call sees as moved.
  const auto header = wal_header_ ? wal_header_->read() : std::nullopt;
  version_checks_.fetch_add(1, std::memory_order_relaxed);
  std::int64_t data_version = 0;
  {
    ResetOnExit reset{r.data_version.get()};
    if (sqlite3_step(r.data_version.get()) != SQLITE_ROW) {
      return sqlite::storage_error(r.connection.get(), "cannot read the data version");
    }
    data_version = sqlite3_column_int64(r.data_version.get(), 0);
  }
  if (data_version != r.seen_data_version) {
    // Read after data_version: the revisions are at least as new as the version they are kept for.
    std::unordered_map<std::int64_t, std::int64_t> revisions;
    ResetOnExit reset{r.revisions.get()};
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(r.revisions.get())) == SQLITE_ROW) {
      revisions[sqlite3_column_int64(r.revisions.get(), 0)] = sqlite3_column_int64(r.revisions.get(), 1);
    }
    if (rc != SQLITE_DONE) return sqlite::storage_error(r.connection.get(), "cannot read revocation revisions");
    r.revision_by_issuer = std::move(revisions);
    r.seen_data_version = data_version;
    revision_reads_.fetch_add(1, std::memory_order_relaxed);
  }
  r.seen_wal_header = header;
  return {};
}

Result<std::int64_t> SqliteOcspStatusSource::revocation_revision(std::int64_t issuer_id) {
  auto reader = this->reader();
  if (!reader) return std::unexpected(reader.error());
  Reader& r = **reader;
  const bool unchanged = wal_header_ && r.seen_wal_header && wal_header_->read() == r.seen_wal_header;
  if (!unchanged) {
    if (auto read = read_revisions(r); !read) return std::unexpected(read.error());
  }
  auto found = r.revision_by_issuer.find(issuer_id);
  return found == r.revision_by_issuer.end() ? 0 : found->second;
}

Result<std::optional<OcspCertStatus>> SqliteOcspStatusSource::certificate_status(std::int64_t issuer_id,
                                                                                 std::string_view serial) {
  auto reader = this->reader();
  if (!reader) return std::unexpected(reader.error());
  sqlite3_stmt* statement = (**reader).status.get();
  sqlite3* connection = (**reader).connection.get();
  ResetOnExit reset{statement};
  sqlite3_bind_int64(statement, 1, issuer_id);
  sqlite3_bind_text64(statement, 2, serial.data(), serial.size(), SQLITE_STATIC, SQLITE_UTF8);
  const int rc = sqlite3_step(statement);
  if (rc == SQLITE_DONE) return std::optional<OcspCertStatus>();
  if (rc != SQLITE_ROW) return sqlite::storage_error(connection, "cannot read a certificate status");
  OcspCertStatus status;
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  auto parsed = parse_certificate_status(text ? text : "");
  if (!parsed) return fail(Errc::storage, "corrupt certificate row: " + parsed.error().message);
  status.status = *parsed;
  if (sqlite3_column_type(statement, 1) != SQLITE_NULL) status.revoked_at = from_unix(sqlite3_column_int64(statement, 1));
  if (sqlite3_column_type(statement, 2) != SQLITE_NULL) {
    const auto code = sqlite3_column_int64(statement, 2);
    if (code < 0 || code > 10 || code == 7) {
      return fail(Errc::storage, "corrupt certificate row: unknown revocation reason code " + std::to_string(code));
    }
    status.reason = static_cast<RevocationReason>(code);
  }
  if (sqlite3_column_type(statement, 3) != SQLITE_NULL) {
    status.invalidity_date = from_unix(sqlite3_column_int64(statement, 3));
  }
  status.issued_at = from_unix(sqlite3_column_int64(statement, 4));
  return std::optional<OcspCertStatus>(status);
}

std::int64_t SqliteOcspStatusSource::revision_reads() const { return revision_reads_.load(); }
std::int64_t SqliteOcspStatusSource::version_checks() const { return version_checks_.load(); }

}  // namespace fca::db
