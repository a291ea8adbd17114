// Group commit of certificate inserts: concurrent inserts share one durable transaction and one
// audit-head update, a failing insert in a batch leaves the others in, and a process that ends at any
// step of a commit leaves every answered certificate on disk and an audit chain that verifies. The
// batches are formed and the process ended through the commit hook, never by timing.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db_fixture.hpp"
#include "fca/db/database.hpp"
#include "test_support.hpp"

namespace {

using fca::AuditEvent;
using fca::CertificateRecord;
using fca::Errc;
using fca::from_unix;
using fca::db::AuditSeal;
using fca::db::Database;
using CommitPoint = fca::db::Database::CommitPoint;
using fca::test::TempDir;
using fca::test::db::count_rows;
using fca::test::db::kDay;
using fca::test::db::kNow;
using fca::test::db::make_ca;

AuditEvent event(const std::string& object) {
  return AuditEvent{.actor = "test:db", .action = "certificate.issue", .object = object, .detail = "{}", .at = from_unix(kNow)};
}

CertificateRecord make_certificate(std::int64_t issuer_id, std::string serial) {
  CertificateRecord cert;
  cert.issuer_id = issuer_id;
  cert.serial = std::move(serial);
  cert.common_name = "node-" + cert.serial + ".example";
  cert.subject = "CN=" + cert.common_name;
  cert.sans = {"DNS:" + cert.common_name};
  cert.profile = "server";
  cert.key_type = "p256";
  cert.not_before = from_unix(kNow - 300);
  cert.not_after = from_unix(kNow + 90 * kDay);
  cert.der = {0x30, 0x03, 0x02, 0x01, 0x01};
  cert.fingerprint_sha256 = "ab" + cert.serial;
  cert.requester = "test";
  cert.issued_at = from_unix(kNow);
  return cert;
}

struct SealedDirectory {
  TempDir dir;
  std::filesystem::path file = dir / "ca.db";
  std::filesystem::path head_file = dir / "audit-head";

  AuditSeal seal() {
    auto key = fca::db::load_or_create_audit_key(dir / "audit-key");
    REQUIRE(key.has_value());
    return AuditSeal{*key, head_file};
  }
  std::unique_ptr<Database> open() {
    auto opened = Database::open(file, seal());
    INFO((opened ? std::string() : opened.error().message));
    REQUIRE(opened.has_value());
    return std::move(*opened);
  }
};

// Polls `done` until it holds or 10 s pass (a guard against a hang, not a timing assumption).
template <class Condition>
bool eventually(Condition done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::set<std::string> stored_serials(const std::filesystem::path& file) {
  std::istringstream rows(fca::test::db::sqlite_cli(file, "SELECT serial FROM certificates"));
  std::set<std::string> serials;
  for (std::string serial; std::getline(rows, serial);) serials.insert(serial);
  return serials;
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("concurrent certificate inserts all land, with distinct rows and a chain that verifies", "[db][group-commit]") {
  SealedDirectory sealed;
  auto db = sealed.open();
  auto ca = db->insert_ca(make_ca("issuing", true), event("ca:issuing"));
  REQUIRE(ca.has_value());
  std::mutex sizes_mutex;
  std::vector<std::size_t> sizes;
  db->set_commit_hook([&](CommitPoint point, std::size_t size) {
    if (point != CommitPoint::after_commit) return;
    std::lock_guard lock(sizes_mutex);
    sizes.push_back(size);
  });

  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string serial = std::to_string(t + 1) + "00" + std::to_string(i);
        if (!db->insert_certificate(make_certificate(*ca, serial), event(serial))) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(*db->count_certificates() == kThreads * kPerThread);
  CHECK(count_rows(sealed.file, "certificates") == kThreads * kPerThread);
  // Every insert was in exactly one committed batch.
  std::size_t committed = 0;
  for (auto size : sizes) committed += size;
  CHECK(committed == kThreads * kPerThread);
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
  CHECK(verification->entries == kThreads * kPerThread + 1);
  // Every call has returned, so the head has caught up with the last batch.
  CHECK(verification->head_count == verification->entries);
}

TEST_CASE("inserts queued behind a commit share the next batch, and one failing leaves the others in",
          "[db][group-commit]") {
  SealedDirectory sealed;
  auto db = sealed.open();
  auto ca = db->insert_ca(make_ca("issuing", true), event("ca:issuing"));
  REQUIRE(ca.has_value());

  // One insert's audit entry is refused after its certificate row went in: its savepoint must take
  // the row back out.
  fca::test::db::sqlite_cli(sealed.file, "CREATE TRIGGER test_refuse_e7 BEFORE INSERT ON audit_log WHEN NEW.object = 'E7' "
                                         "BEGIN SELECT RAISE(ABORT, 'audit entry refused (simulated)'); END;");

  // The first batch is held open in its transaction until seven more inserts have queued behind it.
  std::atomic<bool> first_in_commit{false};
  std::atomic<bool> seven_queued{false};
  std::mutex sizes_mutex;
  std::vector<std::size_t> sizes;
  db->set_commit_hook([&](CommitPoint point, std::size_t size) {
    if (point != CommitPoint::before_commit) return;
    bool first = false;
    {
      std::lock_guard lock(sizes_mutex);
      sizes.push_back(size);
      first = sizes.size() == 1;
    }
    if (!first) return;
    first_in_commit = true;
    seven_queued = eventually([&] { return db->queued_inserts() == 7; });
  });

  std::optional<fca::Result<std::int64_t>> first;
  std::thread leader([&] { first = db->insert_certificate(make_certificate(*ca, "A0"), event("A0")); });
  REQUIRE(eventually([&] { return first_in_commit.load(); }));

  struct Attempt {
    std::int64_t issuer;
    std::string serial;
    std::optional<fca::Result<std::int64_t>> result;
  };
  std::vector<Attempt> attempts{{*ca, "B1", {}}, {*ca, "A0", {}},         {*ca, "C5", {}}, {*ca, "C5", {}},
                                {*ca, "E7", {}}, {*ca + 999, "D1", {}}, {*ca, "B3", {}}};
  std::vector<std::thread> followers;
  for (auto& attempt : attempts) {
    followers.emplace_back([&] {
      attempt.result = db->insert_certificate(make_certificate(attempt.issuer, attempt.serial), event(attempt.serial));
    });
  }
  leader.join();
  for (auto& follower : followers) follower.join();

  CHECK(seven_queued);
  CHECK(sizes == std::vector<std::size_t>{1, 7});
  REQUIRE(first.has_value());
  CHECK(first->has_value());
  auto outcome = [&](std::size_t i) { return attempts[i].result->has_value() ? Errc::internal : attempts[i].result->error().code; };
  for (auto& attempt : attempts) REQUIRE(attempt.result.has_value());
  CHECK(attempts[0].result->has_value());             // B1
  CHECK(outcome(1) == Errc::conflict);                // A0 again: committed by the first batch
  CHECK(attempts[2].result->has_value() != attempts[3].result->has_value());  // C5 twice in one batch: one wins
  CHECK(outcome(attempts[2].result->has_value() ? 3 : 2) == Errc::conflict);
  CHECK(outcome(4) == Errc::storage);                 // E7: row in, audit entry refused, both rolled back
  CHECK(outcome(5) == Errc::not_found);               // no such CA
  CHECK(attempts[6].result->has_value());             // B3, after the failures in the same batch

  CHECK(stored_serials(sealed.file) == std::set<std::string>{"A0", "B1", "B3", "C5"});
  CHECK(count_rows(sealed.file, "audit_log") == 5);   // the CA and the four certificates: no entry for a failure
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
  CHECK(verification->head_count == 5);
}

TEST_CASE("audit entries of their own join the certificates' group commit; a refused one leaves the batch in",
          "[db][group-commit]") {
  SealedDirectory sealed;
  auto db = sealed.open();
  auto ca = db->insert_ca(make_ca("issuing", true), event("ca:issuing"));
  REQUIRE(ca.has_value());
  fca::test::db::sqlite_cli(sealed.file, "CREATE TRIGGER test_refuse_x2 BEFORE INSERT ON audit_log WHEN NEW.object = 'X2' "
                                         "BEGIN SELECT RAISE(ABORT, 'audit entry refused (simulated)'); END;");

  // The first batch is held open until two inserts and two appends have queued behind it.
  std::atomic<bool> first_in_commit{false};
  std::atomic<bool> four_queued{false};
  std::mutex sizes_mutex;
  std::vector<std::size_t> sizes;
  db->set_commit_hook([&](CommitPoint point, std::size_t size) {
    if (point != CommitPoint::before_commit) return;
    {
      std::lock_guard lock(sizes_mutex);
      sizes.push_back(size);
      if (sizes.size() != 1) return;
    }
    first_in_commit = true;
    four_queued = eventually([&] { return db->queued_inserts() == 4; });
  });
  std::optional<fca::Result<std::int64_t>> first;
  std::thread leader([&] { first = db->insert_certificate(make_certificate(*ca, "A0"), event("A0")); });
  REQUIRE(eventually([&] { return first_in_commit.load(); }));

  std::optional<fca::Result<std::int64_t>> b1, b2;
  std::optional<fca::Result<void>> x1, x2;
  std::vector<std::thread> followers;
  followers.emplace_back([&] { b1 = db->insert_certificate(make_certificate(*ca, "B1"), event("B1")); });
  followers.emplace_back([&] { x1 = db->append(event("X1")); });
  followers.emplace_back([&] { x2 = db->append(event("X2")); });
  followers.emplace_back([&] { b2 = db->insert_certificate(make_certificate(*ca, "B2"), event("B2")); });
  leader.join();
  for (auto& follower : followers) follower.join();

  CHECK(four_queued);
  CHECK(sizes == std::vector<std::size_t>{1, 4});
  REQUIRE((first && b1 && b2 && x1 && x2));
  CHECK(first->has_value());
  CHECK(b1->has_value());
  CHECK(b2->has_value());
  CHECK(x1->has_value());
  REQUIRE_FALSE(x2->has_value());
  CHECK(x2->error().code == Errc::storage);
  CHECK(stored_serials(sealed.file) == std::set<std::string>{"A0", "B1", "B2"});
  CHECK(fca::test::db::sqlite_cli(sealed.file, "SELECT object FROM audit_log WHERE object LIKE 'X%'") == "X1");
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  CHECK(verification->intact);
  CHECK(verification->head_count == 5);  // the CA, A0, B1, B2 and X1
}

TEST_CASE("reads are answered while a group commit holds the writer", "[db][group-commit]") {
  SealedDirectory sealed;
  auto db = sealed.open();
  auto ca = db->insert_ca(make_ca("issuing", true), event("ca:issuing"));
  REQUIRE(ca.has_value());
  REQUIRE(db->insert_certificate(make_certificate(*ca, "01"), event("01")).has_value());

  // Inside the second batch's transaction, before its COMMIT: another thread reads. It must not
  // wait for the writer (it sees the last committed state), or the get below times out.
  std::optional<std::int64_t> counted;
  std::optional<std::string> found_ca;
  bool answered_during_commit = false;
  db->set_commit_hook([&](CommitPoint point, std::size_t) {
    if (point != CommitPoint::before_commit) return;
    auto reading = std::async(std::launch::async, [&] {
      auto count = db->count_certificates();
      auto issuing = db->find_ca(std::string_view("issuing"));
      if (count) counted = *count;
      if (issuing) found_ca = issuing->name;
    });
    answered_during_commit = reading.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  REQUIRE(db->insert_certificate(make_certificate(*ca, "02"), event("02")).has_value());
  CHECK(answered_during_commit);
  CHECK(counted == std::optional<std::int64_t>(1));  // the batch in progress is not visible yet
  CHECK(found_ca == std::optional<std::string>("issuing"));
  CHECK(*db->count_certificates() == 2);
}

namespace {

// The child of a crash test: four threads insert certificates (each serial written to `answered` once
// its insert returned) until the commit hook ends the process with _exit at `point` of the third
// batch, first waiting until every insert already answered has been written out, so the parent knows
// exactly which certificates a client was told about. Never returns.
[[noreturn]] void insert_until_exit(SealedDirectory& sealed, std::int64_t ca, CommitPoint point,
                                    const std::filesystem::path& answered) {
  auto opened = Database::open(sealed.file, sealed.seal());
  if (!opened) ::_exit(3);
  auto& db = **opened;
  const int out = ::open(answered.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) ::_exit(3);
  std::atomic<std::size_t> written{0};
  std::atomic<std::size_t> committed{0};  // inserts of the batches before the one being ended
  std::atomic<int> batches{0};
  db.set_commit_hook([&](CommitPoint at, std::size_t size) {
    // Batches reach before_commit one at a time, in order; one thread runs all three points of its batch.
    thread_local int index = -1;
    if (at == CommitPoint::before_commit) index = batches++;
    if (index < 2) {
      if (at == CommitPoint::after_commit) committed += size;
      return;
    }
    // A batch behind the one being ended never commits: the count of stored rows stays exact.
    while (index > 2) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (at != point) return;
    // Before COMMIT and after it, every earlier insert has been answered; after answering, all of
    // this batch but the committing thread's own insert has been too.
    const std::size_t expected = committed.load() + (point == CommitPoint::answered ? size - 1 : 0);
    if (!eventually([&] { return written.load() == expected; })) ::_exit(4);
    const std::string batch = std::to_string(size) + "\n";
    const int info = ::open((answered.string() + ".batch").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (info < 0 || ::write(info, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size())) ::_exit(3);
    ::_exit(0);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string serial = std::to_string(t + 1) + "0" + std::to_string(i);
        if (!db.insert_certificate(make_certificate(ca, serial), event(serial))) ::_exit(5);
        const std::string line = serial + "\n";
        if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(3);
        ++written;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ::_exit(6);  // unreachable: the hook ends the process
}

}  // namespace

TEST_CASE("a process ended at any step of a group commit keeps every answered certificate and a verifiable chain",
          "[db][group-commit][crash]") {
  const auto [point, name] = GENERATE(table<CommitPoint, const char*>({
      {CommitPoint::before_commit, "before COMMIT"},
      {CommitPoint::after_commit, "after COMMIT, before any answer"},
      {CommitPoint::answered, "after the answers, before the audit head"},
  }));
  INFO("ended " << name);
  SealedDirectory sealed;
  std::int64_t ca = 0;
  {
    auto db = sealed.open();
    auto inserted = db->insert_ca(make_ca("issuing", true), event("ca:issuing"));
    REQUIRE(inserted.has_value());
    ca = *inserted;
  }
  const auto answered_file = sealed.dir / "answered";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) insert_until_exit(sealed, ca, point, answered_file);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  const auto answered = lines_of(answered_file);
  const auto batch = std::stoul(lines_of(answered_file.string() + ".batch").at(0));
  const auto stored = stored_serials(sealed.file);
  // Every certificate a caller was told about is stored.
  for (const auto& serial : answered) CHECK(stored.contains(serial));
  // The batch that was ended: nothing of it before COMMIT; all of it after, answered or not.
  const std::size_t in_flight = point == CommitPoint::before_commit ? 0 : point == CommitPoint::after_commit ? batch : 1;
  CHECK(stored.size() == answered.size() + in_flight);
  CHECK(count_rows(sealed.file, "audit_log") == static_cast<std::int64_t>(stored.size()) + 1);

  auto db = sealed.open();
  auto verification = db->verify_audit();
  REQUIRE(verification.has_value());
  INFO(verification->reason);
  CHECK(verification->intact);
  CHECK(verification->entries == static_cast<std::int64_t>(stored.size()) + 1);
  // The head never claims an entry that is not there; it trails when the end came before it moved.
  CHECK(verification->head_count <= verification->entries);
  if (in_flight > 0) CHECK(verification->head_count < verification->entries);
  // The next insert moves the head to the end again.
  REQUIRE(db->insert_certificate(make_certificate(ca, "FF01"), event("FF01")).has_value());
  auto after = db->verify_audit();
  REQUIRE(after.has_value());
  CHECK(after->intact);
  CHECK(after->head_count == after->entries);
}
