// Acceptance: killing the process (SIGKILL) during a loop of issuances leaves a database that opens,
// passes PRAGMA integrity_check, and holds every certificate that was returned.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>
#include <set>

#include "cli_fixture.hpp"
#include "fca/db/database.hpp"

using namespace fca::test;

namespace {

struct Child {
  pid_t pid = -1;
  int stdout_fd = -1;
};

Child start_issue_loop(const std::filesystem::path& data_directory) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const std::string binary = issue_loop_binary();
  const std::string directory = data_directory.string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execl(binary.c_str(), binary.c_str(), directory.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  return {pid, pipe_fds[0]};
}

// Reads complete lines until `wanted` serials arrived, the child stopped, or the deadline passed.
std::vector<std::string> read_serials(int fd, std::size_t wanted, std::chrono::seconds limit) {
  std::vector<std::string> serials;
  std::string pending;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (serials.size() < wanted && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      serials.push_back(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
  return serials;
}

}  // namespace

TEST_CASE("SIGKILL during a loop of issuances loses no returned certificate", "[crash]") {
  Pki pki;
  const auto rows_at_start = pki.certificate_rows();
  std::vector<std::string> serials;
  std::mt19937 random(std::random_device{}());

  // Several kills, each after a random extra moment, so they land in different phases of an issue
  // (signing, inside the transaction, between commit and print).
  for (int round = 0; round < 3; ++round) {
    auto child = start_issue_loop(pki.dir());
    auto returned = read_serials(child.stdout_fd, 200, std::chrono::seconds(60));
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 5000)(random)));
    REQUIRE(::kill(child.pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
    // Lines the child wrote between our last read and the kill were also returned by issue().
    auto rest = read_serials(child.stdout_fd, SIZE_MAX, std::chrono::seconds(2));
    ::close(child.stdout_fd);
    returned.insert(returned.end(), rest.begin(), rest.end());

    INFO("round " << round << ": serials returned before the kill: " << returned.size());
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    REQUIRE(returned.size() >= 200);
    serials.insert(serials.end(), returned.begin(), returned.end());

    // The sqlite3 shell agrees, independently of our code.
    auto integrity = run("sqlite3 " + shell_quote((pki.dir() / "ca.db").string()) + " 'PRAGMA integrity_check'");
    CHECK(integrity.output == "ok\n");
    CHECK(pki.certificate_rows() >= rows_at_start + static_cast<long long>(serials.size()));

    // With the instance's audit key and head, as the CLI opens it: the chain is keyed.
    auto audit_key = fca::db::load_or_create_audit_key(pki.dir() / "secrets" / "audit-key");
    REQUIRE(audit_key.has_value());
    auto database = fca::db::Database::open(pki.dir() / "ca.db",
                                            fca::db::AuditSeal{*audit_key, pki.dir() / "secrets" / "audit-head"});
    REQUIRE(database.has_value());
    auto ok = (*database)->integrity_ok();
    REQUIRE(ok.has_value());
    CHECK(*ok);
    std::size_t missing = 0;
    for (const auto& serial : serials) {
      auto found = (*database)->find_by_serial(serial);
      if (!found || found->size() != 1) ++missing;
    }
    CHECK(missing == 0);
    auto audit = (*database)->verify_audit();
    REQUIRE(audit.has_value());
    CHECK(audit->intact);
  }
  CHECK(std::set<std::string>(serials.begin(), serials.end()).size() == serials.size());

  // And the CLI carries on with the data directory.
  CHECK(pki.fca("verify-audit").exit_code == 0);
  CHECK(pki.listed_certificates() == static_cast<std::size_t>(pki.certificate_rows()));
}
