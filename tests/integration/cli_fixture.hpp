#pragma once
// A facility-ca data directory made by the real `init`, and helpers to run the real binary against it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

#include "test_support.hpp"

namespace fca::test {

struct SplitResult {
  int exit_code = -1;
  std::string out;  // stdout only
  std::string err;  // stderr only
};

// Runs `command` with stdout and stderr kept apart (run() interleaves them).
inline SplitResult run_split(const std::string& command, const std::filesystem::path& scratch) {
  const auto err_file = scratch / "last-stderr.txt";
  // run() appends "2>&1" to the whole line; the inner redirect wins for the command itself.
  auto result = run("{ " + command + " 2>" + shell_quote(err_file.string()) + "; }");
  return {result.exit_code, result.output, read_file(err_file)};
}

class Pki {
 public:
  explicit Pki(const std::string& init_options = "") : dir_(tmp_ / "data") {
    auto init = fca("init " + init_options);
    INFO(init.output);
    REQUIRE(init.exit_code == 0);
    root_pem_ = tmp_ / "root.pem";
    issuing_pem_ = tmp_ / "issuing.pem";
    write_file(root_pem_, out("ca show root"));
    write_file(issuing_pem_, out("ca show issuing"));
  }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path file(const std::string& name) const { return tmp_ / name; }
  const std::filesystem::path& root_pem() const { return root_pem_; }
  const std::filesystem::path& issuing_pem() const { return issuing_pem_; }

  std::string command(const std::string& args) const {
    return shell_quote(facility_ca_binary()) + " --dir " + shell_quote(dir_.string()) + " " + args;
  }
  // stdout and stderr interleaved
  CommandResult fca(const std::string& args) const { return run(command(args)); }
  SplitResult fca_split(const std::string& args) const { return run_split(command(args), tmp_.path()); }
  // stdout of a command that must succeed
  std::string out(const std::string& args) const {
    auto result = fca_split(args);
    INFO("facility-ca " << args << "\nstderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    return result.out;
  }
  nlohmann::json json(const std::string& args) const { return nlohmann::json::parse(out(args)); }

  // A CSR made by openssl for `cn` with `san`; returns the CSR file.
  std::filesystem::path csr(const std::string& name, const std::string& key_type, const std::string& cn,
                            const std::string& san, const std::vector<std::string>& extra = {}) const {
    const auto key = tmp_ / (name + ".key");
    make_csr_with_openssl(key, key_type, "/CN=" + cn, san, extra);
    return key.string() + ".csr";
  }

  // Issues with profile nmos-node (or `profile`) and returns the certificate file.
  std::filesystem::path issue(const std::filesystem::path& csr_file, const std::string& profile = "nmos-node",
                              const std::string& extra = "") const {
    const auto cert = csr_file.string() + ".crt";
    out("issue --csr " + shell_quote(csr_file.string()) + " --profile " + profile + " --out " +
        shell_quote(cert) + " " + extra);
    return cert;
  }

  // `openssl verify` of a leaf against this PKI's root and issuing CA.
  CommandResult verify(const std::filesystem::path& leaf) const {
    return run("openssl verify -CAfile " + shell_quote(root_pem_.string()) + " -untrusted " +
               shell_quote(issuing_pem_.string()) + " " + shell_quote(leaf.string()));
  }

  // Rows in the certificates table, read with the sqlite3 shell (not through facility-ca).
  long long certificate_rows() const {
    auto result = run("sqlite3 " + shell_quote((dir_ / "ca.db").string()) + " 'select count(*) from certificates'");
    REQUIRE(result.exit_code == 0);
    return std::stoll(result.output);
  }
  std::size_t listed_certificates() const { return json("list --json").size(); }

  std::string serial_of(const std::filesystem::path& cert) const {
    auto result = run("openssl x509 -noout -serial -in " + shell_quote(cert.string()));
    REQUIRE(result.exit_code == 0);
    auto serial = result.output.substr(result.output.find('=') + 1);
    while (!serial.empty() && (serial.back() == '\n' || serial.back() == '\r')) serial.pop_back();
    return serial;
  }

  std::string x509_text(const std::filesystem::path& cert) const {
    auto result = run("openssl x509 -noout -text -in " + shell_quote(cert.string()));
    REQUIRE(result.exit_code == 0);
    return result.output;
  }

  void edit_config(const std::function<void(nlohmann::json&)>& change) const {
    auto config = nlohmann::json::parse(read_file(dir_ / "config.json"));
    change(config);
    write_file(dir_ / "config.json", config.dump(2));
  }

 private:
  TempDir tmp_;
  std::filesystem::path dir_;
  std::filesystem::path root_pem_;
  std::filesystem::path issuing_pem_;
};

}  // namespace fca::test
