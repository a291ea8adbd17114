#include "test_support.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fca::test {

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = std::filesystem::temp_directory_path() / ("fca-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run(const std::string& command) {
  CommandResult result;
  const std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

std::string shell_quote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

void write_file(const std::filesystem::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + file.string());
  out << content;
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string make_csr_with_openssl(const std::filesystem::path& key_file, const std::string& key_type,
                                  const std::string& subject, const std::string& san,
                                  const std::vector<std::string>& extra_addext) {
  std::string genpkey;
  if (key_type.rfind("rsa", 0) == 0) {
    genpkey = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:" + key_type.substr(3);
  } else if (key_type == "p256") {
    genpkey = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256";
  } else if (key_type == "p384") {
    genpkey = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384";
  } else if (key_type == "ed25519") {
    genpkey = "openssl genpkey -algorithm ED25519";
  } else {
    throw std::invalid_argument("unknown key type " + key_type);
  }
  auto gen = run(genpkey + " -out " + shell_quote(key_file.string()));
  if (gen.exit_code != 0) throw std::runtime_error("genpkey failed: " + gen.output);
  std::string req = "openssl req -new -key " + shell_quote(key_file.string()) + " -subj " + shell_quote(subject);
  if (!san.empty()) req += " -addext " + shell_quote("subjectAltName=" + san);
  for (const auto& ext : extra_addext) req += " -addext " + shell_quote(ext);
  const auto csr_file = key_file.string() + ".csr";
  auto out = run(req + " -out " + shell_quote(csr_file));
  if (out.exit_code != 0) throw std::runtime_error("openssl req failed: " + out.output);
  return read_file(csr_file);
}

std::string facility_ca_binary() { return FCA_BINARY; }
std::string issue_loop_binary() { return FCA_ISSUE_LOOP; }
std::filesystem::path source_dir() { return FCA_SOURCE_DIR; }

}  // namespace fca::test
