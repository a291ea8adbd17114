// `./run.sh --lab` as a tester uses it: started with the built binary (FACILITY_CA_BIN, so the test
// neither installs packages nor builds) on free loopback ports, its printed copy-paste commands taken
// from between the markers and run exactly as printed against the server it brought up.
#include <signal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// The run.sh process (serve, once it execs) started through a shell; stopped when this goes away,
// also when a check fails.
class RunShLab {
 public:
  RunShLab(const std::filesystem::path& scratch, int http_port, int https_port) : output_(scratch / "run.sh.out") {
    const auto pid_file = scratch / "run.sh.pid";
    auto started = run("cd " + shell_quote(scratch.string()) + " && FACILITY_CA_BIN=" + shell_quote(FCA_BINARY) +
                       " FACILITY_CA_DIR=" + shell_quote((scratch / "lab-data").string()) +
                       " FACILITY_CA_HTTP_PORT=" + std::to_string(http_port) +
                       " FACILITY_CA_HTTPS_PORT=" + std::to_string(https_port) + " " +
                       shell_quote(std::string(FCA_SOURCE_DIR) + "/run.sh") + " --lab >" + shell_quote(output_.string()) +
                       " 2>&1 </dev/null & echo $! >" + shell_quote(pid_file.string()));
    REQUIRE(started.exit_code == 0);
    pid_ = std::stoi(read_file(pid_file));
  }
  ~RunShLab() {
    if (pid_ <= 0 || ::kill(pid_, 0) != 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && ::kill(pid_, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);
  }
  RunShLab(const RunShLab&) = delete;
  RunShLab& operator=(const RunShLab&) = delete;

  std::string output() const { return read_file(output_); }
  bool alive() const { return ::kill(pid_, 0) == 0; }

 private:
  std::filesystem::path output_;
  int pid_ = 0;
};

std::vector<std::string> commands_between_markers(const std::string& output) {
  const std::string begin = "# --- lab commands ---\n", end = "# --- end of lab commands ---";
  const auto from = output.find(begin);
  const auto to = output.find(end);
  if (from == std::string::npos || to == std::string::npos || to < from) return {};
  std::istringstream lines(output.substr(from + begin.size(), to - from - begin.size()));
  std::vector<std::string> commands;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) commands.push_back(line);
  }
  return commands;
}

}  // namespace

TEST_CASE("run.sh --lab: the printed commands succeed as printed", "[lab][run.sh]") {
  fca::test::TempDir scratch;
  const int http_port = free_loopback_port();
  const int https_port = free_loopback_port();
  REQUIRE(http_port != https_port);
  RunShLab lab(scratch.path(), http_port, https_port);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && lab.alive() &&
         !(contains(lab.output(), "# --- end of lab commands ---") && loopback_port_accepts(http_port) &&
           loopback_port_accepts(https_port))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const auto output = lab.output();
  INFO("run.sh output:\n" << output);
  REQUIRE(lab.alive());
  REQUIRE(loopback_port_accepts(https_port));

  // What a tester needs is printed: every endpoint, the trust anchors and the credentials.
  for (const std::string part : {"/ocsp", "/crl/issuing.crl", "/.well-known/est/", "/api/v1/", "lab/root.pem",
                                  "lab/ca-chain.pem", "crl-hash", "lab/device.crt.pem", "secrets/api-admin-token"}) {
    CHECK(contains(output, part));
  }
  const auto commands = commands_between_markers(output);
  REQUIRE(commands.size() >= 6);
  bool s_client = false, ocsp = false, curl_api = false, est_enrol = false;
  for (const auto& command : commands) {
    s_client |= command.starts_with("openssl s_client");
    ocsp |= command.starts_with("openssl ocsp");
    curl_api |= contains(command, "/api/v1/");
    est_enrol |= contains(command, "/.well-known/est/simpleenroll");
    // As printed, by bash; a pipeline fails when any part of it does.
    auto ran = run("bash -o pipefail -c " + shell_quote(command));
    INFO("command: " << command << "\n" << ran.output);
    CHECK(ran.exit_code == 0);
    if (command.starts_with("openssl ocsp") && contains(command, "valid.crt.pem")) {
      CHECK(contains(ran.output, "Response verify OK"));
      CHECK(contains(ran.output, ": good"));
    }
    if (command.starts_with("openssl ocsp") && contains(command, "revoked.crt.pem")) CHECK(contains(ran.output, ": revoked"));
    if (contains(command, "simpleenroll")) CHECK(contains(ran.output, ": OK"));
  }
  CHECK(s_client);
  CHECK(ocsp);
  CHECK(curl_api);
  CHECK(est_enrol);
}
