// In-process issuance: THREADS threads call CertificateAuthority::issue on one opened data directory
// (durable commits, the configured CA) for SECONDS, each with the same P-256 CSR. Prints the rate,
// then checks what it counted: every returned serial distinct, exactly that many new certificate
// rows, and the audit chain intact against its head file. Exit 1 when a check fails. With COUNT, the
// threads stop once COUNT certificates are issued (or SECONDS are up): a data directory of a given size.
//
//   issue_inprocess DIR SECONDS THREADS [PROFILE [COUNT]]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "fca/service/credentials.hpp"
#include "instance.hpp"

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) {
    std::fprintf(stderr, "usage: issue_inprocess DIR SECONDS THREADS [PROFILE [COUNT]]\n");
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  const double seconds = std::atof(argv[2]);
  const int threads = std::atoi(argv[3]);
  const std::string profile = argc >= 5 ? argv[4] : "nmos-node";
  const long long count = argc == 6 ? std::atoll(argv[5]) : 0;
  if (seconds <= 0 || threads < 1 || (argc == 6 && count < 1)) {
    std::fprintf(stderr, "issue_inprocess: SECONDS, THREADS and COUNT must be positive\n");
    return 2;
  }

  auto config = fca::app::load_config(directory / "config.json");
  if (!config) {
    std::fprintf(stderr, "issue_inprocess: %s\n", config.error().message.c_str());
    return 1;
  }
  auto logger = std::make_shared<spdlog::logger>("issue-bench", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::warn);
  auto instance = fca::app::Instance::open(directory, std::move(*config), logger);
  if (!instance) {
    std::fprintf(stderr, "issue_inprocess: %s\n", instance.error().message.c_str());
    return 1;
  }
  auto& database = (*instance)->database();
  const auto before = database.count_certificates();
  if (!before) return 1;

  // One key and CSR for every request: the figure is the CA's cost, not key generation.
  auto key = fca::generate_key(*fca::KeySpec::parse("p256"));
  if (!key) return 1;
  auto csr = fca::service::build_csr(key->get(), "bench.example.test",
                                     {fca::SubjectAltName{fca::SubjectAltName::Kind::dns, "bench.example.test"}});
  if (!csr) return 1;
  const fca::IssueRequest request{
      .csr = fca::to_pem(csr->get()), .profile = profile, .requester = "issue-bench", .ca = {}, .validity_days = {}};

  std::atomic<int> errors{0};
  std::atomic<long long> claimed{0};  // issuances started; with COUNT, no thread starts one beyond it
  std::mutex serials_mutex;
  std::vector<std::string> serials;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<std::string> mine;
      while (std::chrono::steady_clock::now() < deadline && (count == 0 || claimed.fetch_add(1) < count)) {
        auto issued = (*instance)->authority().issue(request);
        if (!issued) {
          if (errors.fetch_add(1) == 0) std::fprintf(stderr, "issue_inprocess: %s\n", issued.error().message.c_str());
          continue;
        }
        mine.push_back(issued->record.serial);
      }
      std::lock_guard lock(serials_mutex);
      serials.insert(serials.end(), mine.begin(), mine.end());
    });
  }
  for (auto& worker : workers) worker.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::set<std::string> distinct(serials.begin(), serials.end());
  const auto after = database.count_certificates();
  auto audit = database.verify_audit();
  const bool rows_match = after && *after - *before == static_cast<std::int64_t>(serials.size());
  const bool audit_ok = audit && audit->intact;
  std::printf("issued %zu  errors %d  seconds %.2f  rate %.1f/s  threads %d  distinct %s  rows %s  audit %s\n",
              serials.size(), errors.load(), elapsed, static_cast<double>(serials.size()) / elapsed, threads,
              distinct.size() == serials.size() ? "yes" : "NO", rows_match ? "match" : "MISMATCH",
              audit_ok ? "intact" : "BROKEN");
  return errors.load() == 0 && distinct.size() == serials.size() && rows_match && audit_ok ? 0 : 1;
}
