// Crash-test driver: opens a facility-ca data directory and issues certificates until it is killed.
// Each serial is printed (and flushed) only after CertificateAuthority::issue() returned, i.e. after
// its transaction committed — so every printed serial must survive a SIGKILL at any moment.
//
//   issue_loop DIR [PROFILE]
#include <cstdio>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "fca/service/credentials.hpp"
#include "instance.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: issue_loop DIR [PROFILE]\n");
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  const std::string profile = argc == 3 ? argv[2] : "nmos-node";

  auto config = fca::app::load_config(directory / "config.json");
  if (!config) {
    std::fprintf(stderr, "issue_loop: %s\n", config.error().message.c_str());
    return 1;
  }
  auto logger = std::make_shared<spdlog::logger>("issue-loop", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto instance = fca::app::Instance::open(directory, std::move(*config), logger);
  if (!instance) {
    std::fprintf(stderr, "issue_loop: %s\n", instance.error().message.c_str());
    return 1;
  }

  // One key and CSR for every request: the loop measures the store, not key generation.
  auto key = fca::generate_key(*fca::KeySpec::parse("p256"));
  if (!key) return 1;
  auto csr = fca::service::build_csr(key->get(), "loop.example.test",
                                 {fca::SubjectAltName{fca::SubjectAltName::Kind::dns, "loop.example.test"}});
  if (!csr) {
    std::fprintf(stderr, "issue_loop: %s\n", csr.error().message.c_str());
    return 1;
  }
  const fca::IssueRequest request{
      .csr = fca::to_pem(csr->get()), .profile = profile, .requester = "issue-loop", .ca = {}, .validity_days = {}};

  for (;;) {
    auto issued = (*instance)->authority().issue(request);
    if (!issued) {
      std::fprintf(stderr, "issue_loop: %s\n", issued.error().message.c_str());
      return 1;
    }
    std::fprintf(stdout, "%s\n", issued->record.serial.c_str());
    std::fflush(stdout);
  }
}
