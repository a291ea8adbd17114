#pragma once
// Shared helpers for the suites: temporary directories, files, and running real commands.
#include <filesystem>
#include <string>
#include <vector>

namespace fca::test {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // the process's exit status; 128+N when killed by signal N
  std::string output;  // stdout and stderr interleaved
};

// Runs `command` through /bin/sh, capturing stdout and stderr.
CommandResult run(const std::string& command);
// Single-quotes a value for the shell.
std::string shell_quote(const std::string& value);

void write_file(const std::filesystem::path& file, const std::string& content);
std::string read_file(const std::filesystem::path& file);

// Makes a key with `openssl genpkey` ("rsa2048", "rsa1024", "p256", "p384", "ed25519") and a CSR for it
// with the given subject ("/CN=x") and optional SAN extension text ("DNS:a,IP:1.2.3.4") and extra
// -addext lines. Returns the CSR PEM. Key is written to `key_file`.
std::string make_csr_with_openssl(const std::filesystem::path& key_file, const std::string& key_type,
                                  const std::string& subject, const std::string& san = "",
                                  const std::vector<std::string>& extra_addext = {});

std::string facility_ca_binary();  // path of the built executable
std::string issue_loop_binary();   // path of tests/tools/issue_loop
std::filesystem::path source_dir();

}  // namespace fca::test
