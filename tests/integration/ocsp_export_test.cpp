// `facility-ca ocsp export` and the nginx configuration docs/scale-out.md gives: nginx from Debian
// serves the exported tree on loopback, `openssl ocsp` checks its answers; POST and misses reach the
// real responder behind it.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include "serve_fixture.hpp"

using namespace fca::test;

namespace {

// A leaf whose nonce-less request has a file in the exported tree. The last base64 character of a
// request carries the serial's last bits: one serial in 64 ends in '/', which no file can carry, and
// such a request is left to the responder (unit_http "[export]"). Serials are random, so a test that
// needs an answer from the tree issues again until it gets one.
std::filesystem::path issue_exportable_leaf(const ServeFixture& server, const std::string& name) {
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const auto candidate = name + (attempt == 1 ? "" : "-" + std::to_string(attempt));
    const auto leaf = server.issue_leaf(candidate);
    if (base64(read_file(server.ocsp_request(leaf, candidate + ".probe.req"))).back() != '/') return leaf;
  }
  FAIL("eight serials in a row end their request's base64 in '/'");
  return {};
}

// nginx as a daemon on a free loopback port with deploy/nginx-published-tree.conf; stopped on exit.
class Nginx {
 public:
  Nginx(const std::filesystem::path& work, const std::filesystem::path& tree, const std::string& origin) : work_(work) {
    std::filesystem::create_directories(work_ / "tmp");
    port_ = free_loopback_port();
    auto site = read_file(std::filesystem::path(FCA_SOURCE_DIR) / "deploy" / "nginx-published-tree.conf");
    const auto replace = [&site](const std::string& from, const std::string& to) {
      for (auto at = site.find(from); at != std::string::npos; at = site.find(from, at + to.size())) {
        site.replace(at, from.size(), to);
      }
    };
    replace("@LISTEN@", "127.0.0.1:" + std::to_string(port_));
    replace("@TREE@", tree.string());
    replace("@ORIGIN@", origin);
    replace("@VALIDITY@", "14400");
    for (const auto* placeholder : {"@LISTEN@", "@TREE@", "@ORIGIN@", "@VALIDITY@"}) {
      REQUIRE(site.find(placeholder) == std::string::npos);
    }
    const auto w = work_.string();
    write_file(work_ / "site.conf", site);
    // Workers read the tree inside the test's private directory: as root they keep root's identity.
    write_file(work_ / "nginx.conf", std::string(::geteuid() == 0 ? "user root;\n" : "") +
                                         "worker_processes 1;\npid " + w + "/nginx.pid;\nerror_log " + w +
                                         "/error.log warn;\nevents { worker_connections 64; }\nhttp {\n  access_log " +
                                         w + "/access.log;\n  client_body_temp_path " + w + "/tmp; proxy_temp_path " + w +
                                         "/tmp;\n  fastcgi_temp_path " + w + "/tmp; uwsgi_temp_path " + w +
                                         "/tmp; scgi_temp_path " + w + "/tmp;\n  include " + w + "/site.conf;\n}\n");
    auto started = run("nginx -c " + shell_quote((work_ / "nginx.conf").string()));
    INFO(started.output);
    REQUIRE(started.exit_code == 0);
    for (int i = 0; i < 100 && !loopback_port_accepts(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(loopback_port_accepts(port_));
  }
  ~Nginx() {
    const auto pid = std::atoi(read_file(work_ / "nginx.pid").c_str());
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string logs() const {
    return "nginx access log:\n" + read_file(work_ / "access.log") + "nginx error log:\n" + read_file(work_ / "error.log");
  }

 private:
  std::filesystem::path work_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("ocsp export: nginx serves the exported answers, CRLs and CA certificates; POST and misses reach serve",
          "[ocsp][export][nginx]") {
  REQUIRE(run("command -v nginx").exit_code == 0);  // deploy/install-deps.sh installs nginx-light
  ServeFixture server;
  const auto good = issue_exportable_leaf(server, "exported-good");
  const auto revoked = issue_exportable_leaf(server, "exported-revoked");
  const auto later = issue_exportable_leaf(server, "exported-later");
  server.cli("revoke " + server.pki().serial_of(revoked) + " --reason keyCompromise");
  const auto tree = server.file("published");

  // `later` is revoked in the database after the export: nginx still has its old answer (good), the
  // responder behind it says revoked -- the freshness docs/scale-out.md states.
  const auto exported = server.cli("ocsp export " + shell_quote(tree.string()));
  INFO(exported);
  CHECK(contains(exported, "pre-signed answers"));
  REQUIRE(std::filesystem::is_symlink(tree));
  const auto first_version = std::filesystem::read_symlink(tree);
  Nginx nginx(server.file("nginx"), tree, "http://127.0.0.1:" + std::to_string(server.port()));

  const auto get_via_nginx = [&](const std::filesystem::path& cert, const std::string& name) {
    const auto request = server.ocsp_request(cert, name + ".req", "-no_nonce");
    const auto path = "/ocsp/" + percent_encode_base64(base64(read_file(request)));
    auto response = server.http("", nginx.url(path));
    INFO(response.curl_output << "\n" << response.headers << nginx.logs() << "serve:\n" << server.log());
    REQUIRE(response.status == 200);
    CHECK(response.header("Content-Type") == "application/ocsp-response");
    return std::make_pair(response, path);
  };
  // The access log is written in batches: wait (bounded) for a line that is to come.
  const auto served_by_responder = [&](const std::string& path) {
    const auto tail = path.substr(path.size() - 40);  // the serial's part: the issuer's part is shared
    for (int i = 0; i < 60 && !contains(server.access_log(), tail); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return contains(server.access_log(), tail);
  };
  std::vector<std::string> from_tree;

  {
    auto [response, path] = get_via_nginx(good, "good");
    auto checked = server.check_response(response.body_file, good);
    INFO(checked.output);
    CHECK(contains(checked.output, "Response verify OK"));
    CHECK(contains(checked.output, good.string() + ": good"));
    CHECK(max_age_of(response.header("Cache-Control")) > 0);
    from_tree.push_back(path);
  }
  {
    auto [response, path] = get_via_nginx(revoked, "revoked");
    auto checked = server.check_response(response.body_file, revoked);
    INFO(checked.output);
    CHECK(contains(checked.output, "Response verify OK"));
    CHECK(contains(checked.output, revoked.string() + ": revoked"));
    CHECK(contains(checked.output, "Reason: keyCompromise"));
    from_tree.push_back(path);
  }

  // A certificate issued after the export is a miss: nginx asks the responder.
  const auto newer = server.issue_leaf("issued-after-export");
  {
    auto [response, path] = get_via_nginx(newer, "newer");
    auto checked = server.check_response(response.body_file, newer);
    INFO(checked.output);
    CHECK(contains(checked.output, newer.string() + ": good"));
    CHECK(served_by_responder(path));
  }
  // By now the responder's log holds every request it got: none of the exported answers was one.
  for (const auto& path : from_tree) {
    INFO(path);
    CHECK_FALSE(contains(server.access_log(), path.substr(path.size() - 40)));
  }
  // POST goes through to the responder, nonce and all.
  {
    auto post = run("openssl ocsp -timeout 10 -issuer " + shell_quote(server.pki().issuing_pem().string()) + " -cert " +
                    shell_quote(later.string()) + " -url " + shell_quote(nginx.url("/ocsp")) + " -CAfile " +
                    shell_quote(server.chain_pem().string()));
    INFO(post.output);
    CHECK(contains(post.output, "Response verify OK"));
    CHECK(contains(post.output, later.string() + ": good"));
    CHECK_FALSE(contains(post.output, "WARNING: no nonce in response"));
  }
  // CRLs and CA certificates from the tree, as the responder would give them.
  {
    auto crl = server.http("", nginx.url("/crl/issuing.crl"));
    REQUIRE(crl.status == 200);
    CHECK(crl.header("Content-Type") == "application/pkix-crl");
    auto verified = run("openssl crl -inform DER -in " + shell_quote(crl.body_file.string()) + " -noout -text -CAfile " +
                        shell_quote(server.pki().issuing_pem().string()));
    INFO(verified.output);
    CHECK(contains(verified.output, "verify OK"));
    CHECK(contains(verified.output, server.pki().serial_of(revoked)));
    auto ca = server.http("", nginx.url("/ca/issuing.pem"));
    REQUIRE(ca.status == 200);
    CHECK(contains(ca.body, "BEGIN CERTIFICATE"));
  }

  // A revocation after the export reaches nginx with the next export; the old version goes.
  server.cli("revoke " + server.pki().serial_of(later) + " --reason superseded");
  {
    auto [stale, path] = get_via_nginx(later, "later-stale");
    CHECK(contains(server.check_response(stale.body_file, later).output, later.string() + ": good"));
  }
  server.cli("ocsp export " + shell_quote(tree.string()));
  CHECK(std::filesystem::read_symlink(tree) != first_version);
  CHECK_FALSE(std::filesystem::exists(tree.parent_path() / first_version));
  {
    auto [fresh, path] = get_via_nginx(later, "later-fresh");
    auto checked = server.check_response(fresh.body_file, later);
    INFO(checked.output);
    CHECK(contains(checked.output, later.string() + ": revoked"));
  }
}

TEST_CASE("ocsp export refuses a path that is not its link and leaves it alone", "[ocsp][export]") {
  Pki pki;
  const auto plain = pki.file("plain-directory");
  std::filesystem::create_directories(plain);
  write_file(plain / "keep.txt", "mine");
  auto refused = pki.fca_split("ocsp export " + shell_quote(plain.string()));
  CHECK(refused.exit_code == 5);
  CHECK(contains(refused.err, "is not the link"));
  CHECK(read_file(plain / "keep.txt") == "mine");
  auto versions = 0;
  for (const auto& entry : std::filesystem::directory_iterator(plain.parent_path())) {
    if (entry.path().filename().string().starts_with("plain-directory.")) ++versions;
  }
  CHECK(versions == 0);
}

TEST_CASE("serve keeps the exported tree: at start, and after a revocation on the next scheduler pass",
          "[ocsp][export]") {
  ServeFixture server([](nlohmann::json& config) { config["ocsp"]["export_link"] = "published"; });
  const auto link = server.pki().dir() / "published";
  REQUIRE(server.wait_for_log("ocsp export: "));  // at start, before the first scheduler pass
  INFO(server.log());
  REQUIRE(std::filesystem::is_symlink(link));
  const auto first_version = std::filesystem::read_symlink(link);

  const auto leaf = issue_exportable_leaf(server, "kept");
  server.cli("revoke " + server.pki().serial_of(leaf) + " --reason keyCompromise");
  server.send_signal(SIGHUP);  // a scheduler pass now rather than in a minute
  REQUIRE(server.wait_for_log("ocsp export: ", 2));
  CHECK(std::filesystem::read_symlink(link) != first_version);
  // The answer's file is at the decoded GET path: the base64's '/' are directories.
  const auto request = server.ocsp_request(leaf, "kept.req", "-no_nonce");
  const auto answer = link / "ocsp" / base64(read_file(request));
  REQUIRE(std::filesystem::is_regular_file(answer));
  auto checked = server.check_response(answer, leaf);
  INFO(checked.output);
  CHECK(contains(checked.output, "Response verify OK"));
  CHECK(contains(checked.output, leaf.string() + ": revoked"));

  // Nothing changed: the next pass leaves the tree as it is.
  server.send_signal(SIGHUP);
  CHECK_FALSE(server.wait_for_log("ocsp export: ", 3, std::chrono::seconds(2)));
}
