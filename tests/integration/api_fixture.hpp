#pragma once
// A real `facility-ca serve` with the REST API on an HTTPS listener (certificate issued by the test's
// own CA, name api.example.test resolved to 127.0.0.1 by curl), plus the OCSP/CRL listener; tokens
// made through the API with the first admin token `init` wrote.
#include <map>

#include "fca/db/database.hpp"
#include "serve_fixture.hpp"

namespace fca::test {

struct RowCounts {
  std::int64_t certificates = 0;
  std::size_t tokens = 0;
  std::size_t audit = 0;
  std::size_t enrollments = 0;
  bool operator==(const RowCounts&) const = default;
};

class ApiFixture {
 public:
  // `configure` changes the config further before serve starts.
  using Configure = std::function<void(nlohmann::json& config, ServeFixture& serve)>;
  // `init_options` go to `init` ("--lab": a lab instance).
  explicit ApiFixture(Configure configure = {}, const std::string& init_options = "")
      : configure_(std::move(configure)),
        serve_([this](nlohmann::json& config) { add_api_listener(config); }, false, init_options) {
    // The HTTPS listener's certificate, issued by the test's CA before serve starts.
    const auto csr = serve_.pki().csr("api-server", "p256", "api.example.test", "DNS:api.example.test");
    server_cert_ = serve_.pki().issue(csr, "server");
    server_key_ = serve_.file("api-server.key");
    write_file(serve_.file("api-server-chain.pem"), read_file(server_cert_) + read_file(serve_.pki().issuing_pem()));
    api_port_ = free_loopback_port();
    serve_.start();
    admin_ = trim(read_file(serve_.pki().dir() / "secrets" / "api-admin-token"));
    REQUIRE(admin_.starts_with("fca_"));
  }

  ServeFixture& serve() { return serve_; }
  const std::string& admin() const { return admin_; }
  std::string url(const std::string& path) const { return "https://api.example.test:" + std::to_string(api_port_) + path; }

  // curl over TLS against the API listener; `token` "" sends no Authorization header.
  HttpResponse call(const std::string& method, const std::string& path, const std::string& token,
                    const std::optional<std::string>& body = std::nullopt, const std::string& extra = "") {
    std::string args = "--resolve api.example.test:" + std::to_string(api_port_) + ":127.0.0.1 --cacert " +
                       shell_quote(serve_.chain_pem().string()) + " -X " + method + " ";
    if (!token.empty()) args += "-H " + shell_quote("Authorization: Bearer " + token) + " ";
    if (body) {
      const auto file = serve_.file("body-" + std::to_string(++bodies_) + ".json");
      write_file(file, *body);
      args += "--data-binary @" + shell_quote(file.string()) + " ";
      if (extra.find("Content-Type") == std::string::npos) args += "-H 'Content-Type: application/json' ";
    }
    return serve_.http(args + extra, url(path));
  }

  nlohmann::json json_of(const HttpResponse& r) const {
    auto parsed = nlohmann::json::parse(r.body, nullptr, false);
    INFO(r.describe() << "\n" << r.body);
    REQUIRE(!parsed.is_discarded());
    return parsed;
  }

  // A token made over the API by the admin; returns {id, secret}.
  std::pair<std::int64_t, std::string> token(const nlohmann::json& spec) {
    auto r = call("POST", "/api/v1/tokens", admin_, spec.dump());
    INFO(r.describe() << "\n" << r.body);
    REQUIRE(r.status == 201);
    auto j = json_of(r);
    return {j["id"].get<std::int64_t>(), j["token"].get<std::string>()};
  }

  // A fresh nmos-node certificate issued by the CLI; returns its serial (upper-case hex).
  std::string fresh_certificate(const std::string& name) {
    const auto cert = serve_.issue_leaf(name);
    auto serial = run("openssl x509 -noout -serial -in " + shell_quote(cert.string()));
    REQUIRE(serial.exit_code == 0);
    return trim(serial.output.substr(serial.output.find('=') + 1));
  }

  std::string csr_pem(const std::string& name) {
    return read_file(serve_.pki().csr(name, "p256", name + ".example.test", "DNS:" + name + ".example.test"));
  }

  RowCounts counts() {
    auto db = db::Database::open(serve_.pki().dir() / "ca.db");
    REQUIRE(db);
    RowCounts c;
    c.certificates = *(*db)->count_certificates();
    c.tokens = (*db)->list_tokens()->size();
    c.audit = (*db)->entries(0, 1000000)->size();
    c.enrollments = (*db)->list_enrollments(EnrollmentFilter{})->size();
    return c;
  }

 private:
  void add_api_listener(nlohmann::json& config) {
    config["serve"]["listeners"][0]["frontends"] = {"ocsp", "crl"};
    nlohmann::json api{{"address", "127.0.0.1"},
                       {"port", api_port_},
                       {"frontends", {"api"}},
                       {"tls", {{"certificate", serve_.file("api-server-chain.pem").string()}, {"key", server_key_.string()}}}};
    if (config["serve"]["listeners"].size() < 2) {
      config["serve"]["listeners"].push_back(api);
    } else {
      config["serve"]["listeners"][1] = api;
    }
    config["api"]["max_auth_failures_per_minute"] = 1000;  // the role matrix fails on purpose, often
    if (configure_) configure_(config, serve_);
  }

  Configure configure_;
  ServeFixture serve_;
  std::filesystem::path server_cert_;
  std::filesystem::path server_key_;
  int api_port_ = 0;
  std::string admin_;
  int bodies_ = 0;
};

}  // namespace fca::test
