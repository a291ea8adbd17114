#pragma once
// The EST client of the integration tests: curl and openssl only, as docs/est.md shows a newcomer.
#include <string>

#include "raw_http.hpp"

namespace fca::test {

class EstClient {
 public:
  explicit EstClient(ServeFixture& server) : server_(server) {}

  std::string base(const std::string& label = "") const {
    return "https://localhost:" + std::to_string(server_.https_port()) + "/.well-known/est/" +
           (label.empty() ? "" : label + "/");
  }
  // curl trusting the instance's chain, resolving localhost to the loopback listener.
  std::string trust() const {
    return "--resolve localhost:" + std::to_string(server_.https_port()) + ":127.0.0.1 --cacert " +
           shell_quote(server_.chain_pem().string()) + " ";
  }
  static std::string identity(const std::filesystem::path& cert, const std::filesystem::path& key) {
    return "--cert " + shell_quote(cert.string()) + " --key " + shell_quote(key.string()) + " ";
  }
  HttpResponse post(const std::string& client, const std::string& operation, const std::filesystem::path& body,
                    const std::string& content_type = "application/pkcs10", const std::string& label = "") {
    return server_.http(trust() + client + "-H " + shell_quote("Content-Type: " + content_type) + " --data-binary @" +
                            shell_quote(body.string()),
                        base(label) + operation);
  }
  HttpResponse get(const std::string& operation, const std::string& label = "") {
    return server_.http(trust(), base(label) + operation);
  }

  // The certificates of a base64 certs-only answer, as PEM in `out`.
  CommandResult certificates(const HttpResponse& answer, const std::filesystem::path& out) const {
    return run("openssl base64 -d -in " + shell_quote(answer.body_file.string()) +
               " | openssl pkcs7 -inform DER -print_certs -out " + shell_quote(out.string()) + " 2>&1");
  }
  // openssl verify against the instance's chain, as a TLS server and as a TLS client.
  void check_issued(const std::filesystem::path& pem) const {
    for (const auto* purpose : {"sslserver", "sslclient"}) {
      auto verified = run("openssl verify -purpose " + std::string(purpose) + " -CAfile " +
                          shell_quote(server_.pki().root_pem().string()) + " -untrusted " +
                          shell_quote(server_.pki().issuing_pem().string()) + " " + shell_quote(pem.string()) + " 2>&1");
      INFO(purpose << ": " << verified.output);
      CHECK(verified.exit_code == 0);
    }
    auto text = run("openssl x509 -noout -ext extendedKeyUsage -in " + shell_quote(pem.string()) + " 2>&1");
    CHECK(contains(text.output, "TLS Web Server Authentication"));
    CHECK(contains(text.output, "TLS Web Client Authentication"));
    auto status = server_.ocsp_query(pem, "2>&1");
    INFO(status.output);
    CHECK(contains(status.output, ": good"));
  }

 private:
  ServeFixture& server_;
};

inline std::filesystem::path lab(const ServeFixture& server, const std::string& name) { return server.pki().dir() / "lab" / name; }

inline std::size_t certificate_rows(const ServeFixture& server) { return server.pki().json("list --limit 1000 --json").size(); }

inline void wait_for_https(ServeFixture& server) {
  REQUIRE(server.wait_for_log("listening on https://"));
}

// The RFC 2253 subject of a PEM certificate, as the audit log writes it.
inline std::string subject_of(const std::filesystem::path& pem) {
  auto printed = run("openssl x509 -noout -subject -nameopt RFC2253 -in " + shell_quote(pem.string()));
  REQUIRE(printed.exit_code == 0);
  return trim(printed.output.substr(printed.output.find('=') + 1));
}

// The audit entries whose action starts with `prefix`, oldest first, read with `facility-ca audit`.
inline std::vector<nlohmann::json> audit_entries(const ServeFixture& server, const std::string& prefix) {
  std::vector<nlohmann::json> out;
  for (const auto& entry : server.pki().json("audit --limit 1000 --json")) {
    if (entry["action"].get<std::string>().starts_with(prefix)) out.push_back(entry);
  }
  return out;
}

}  // namespace fca::test
