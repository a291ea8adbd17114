// The OCSP read path must leave this process's SQLite locks on the -shm file alone. POSIX record locks
// belong to a process and an inode: closing any descriptor of the file drops them all, SQLite's too.
// Without its shared lock on the "DMS" byte, the next process to open the database takes itself for
// the first, truncates the -shm file under every mapping of it (SIGBUS in `serve` during a CRL build
// by another process, seen with 10^6 certificates) or, as the last to close, deletes it.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_fixture.hpp"
#include "fca/db/ocsp_lookup.hpp"

namespace {

// SQLite's unix VFS: the WAL-index lock bytes start at 120; the DMS byte follows the 8 locks.
constexpr off_t kDmsByte = 128;

// Asked from another process (F_GETLK never reports the asker's own locks): could it take an
// exclusive lock on the DMS byte, i.e. does no process hold it shared?
bool dms_byte_free_for_another_process(const std::filesystem::path& shm) {
  const pid_t child = ::fork();
  if (child == 0) {
    const int fd = ::open(shm.c_str(), O_RDWR);
    if (fd < 0) ::_exit(2);
    struct flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = kDmsByte;
    lock.l_len = 1;
    if (::fcntl(fd, F_GETLK, &lock) != 0) ::_exit(2);
    ::_exit(lock.l_type == F_UNLCK ? 1 : 0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 2);
  return WEXITSTATUS(status) == 1;
}

}  // namespace

TEST_CASE("OCSP status source: opening it keeps the process's lock on the WAL index", "[ocsp][db]") {
  fca::test::TempDir dir;
  const auto file = dir / "ca.db";
  auto database = fca::test::db::open_database(file);
  const auto shm = std::filesystem::path(file.string() + "-shm");
  REQUIRE(std::filesystem::exists(shm));
  REQUIRE_FALSE(dms_byte_free_for_another_process(shm));  // the Database's connections hold it

  auto source = fca::db::SqliteOcspStatusSource::open(file);
  REQUIRE(source.has_value());
  REQUIRE((*source)->revocation_revision(1).has_value());
  CHECK_FALSE(dms_byte_free_for_another_process(shm));

  // Another process opens and closes the database: it must see this one and leave the -shm file be.
  struct stat before{};
  REQUIRE(::stat(shm.c_str(), &before) == 0);
  CHECK(fca::test::db::sqlite_cli(file, "SELECT count(*) FROM revocation_revisions") == "0");
  struct stat after{};
  REQUIRE(::stat(shm.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_size >= 32768);
  CHECK((*source)->revocation_revision(1).has_value());
}
