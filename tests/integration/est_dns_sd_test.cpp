// `facility-ca dns-sd`: the _nmos-certs._tcp records of BCP-003-03, checked by BIND's own zone parser.
#include "serve_fixture.hpp"

using namespace fca::test;

TEST_CASE("dns-sd: a zone snippet named-checkzone accepts, and nsupdate input, for the EST listener", "[cli][est][dns-sd]") {
  Pki pki;
  const auto snippet = pki.out("dns-sd --domain example.test --priority 10");
  const auto zone = pki.file("example.test.zone");
  write_file(zone, "$TTL 3600\n@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ IN NS ns\n"
                   "ns IN A 192.0.2.53\n" +
                       snippet);
  auto checked = run("named-checkzone -D example.test " + shell_quote(zone.string()) + " 2>&1");
  INFO(snippet << "\n" << checked.output);
  REQUIRE(checked.exit_code == 0);
  // What BIND read back, canonical: the service, its instance on init's HTTPS listener (localhost:8443),
  // and the TXT keys BCP-003-03 defines.
  CHECK(contains(checked.output, "_services._dns-sd._udp.example.test."));
  CHECK(contains(checked.output, "_nmos-certs._tcp.example.test."));
  CHECK(contains(checked.output, "SRV\t0 0 8443 localhost."));
  CHECK(contains(checked.output, "\"api_proto=https\" \"api_ver=v1.0\" \"api_selector=\" \"pri=10\""));

  const auto update = pki.out("dns-sd --domain example.test --format nsupdate");
  CHECK(update.starts_with("zone example.test.\n"));
  CHECK(contains(update, "update add facility-ca._nmos-certs._tcp.example.test. 3600 IN SRV 0 0 8443 localhost.\n"));
  CHECK(update.ends_with("send\n"));

  // BCP-003-01: the advertised name is one the listener's certificates carry.
  auto refused = pki.fca_split("dns-sd --domain example.test --host other.example.test");
  CHECK(refused.exit_code == 3);
  CHECK(contains(refused.err, "not among the listener's certificate names"));
  CHECK(pki.fca_split("dns-sd --domain example.test --label nosuch").exit_code == 3);
  CHECK(pki.fca_split("dns-sd").exit_code == 2);
}

namespace {

// PATH with `directory` first, for this test process and the serve it starts; restored on exit.
struct PathPrefix {
  std::string saved;
  explicit PathPrefix(const std::filesystem::path& directory) : saved(std::getenv("PATH") ? std::getenv("PATH") : "") {
    ::setenv("PATH", (directory.string() + ":" + saved).c_str(), 1);
  }
  ~PathPrefix() { ::setenv("PATH", saved.c_str(), 1); }
};

}  // namespace

TEST_CASE("mDNS: serve runs avahi-publish with the BCP-003-03 records when configured, and says so when it cannot",
          "[serve][est][dns-sd]") {
  const auto config = [](nlohmann::json& c) { c["est"]["mdns"] = true; };
  SECTION("no avahi-publish on PATH: a clear log line, and serve goes on") {
    const auto empty = std::filesystem::temp_directory_path() / ("fca-no-avahi-" + std::to_string(::getpid()));
    std::filesystem::create_directories(empty);
    // serve itself needs no PATH; avahi-publish cannot be found in an empty directory.
    ServeFixture server(config, false);
    {
      const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
      ::setenv("PATH", empty.c_str(), 1);
      server.start();
      ::setenv("PATH", saved.c_str(), 1);
    }
    CHECK(server.wait_for_log("mDNS: avahi-publish not found"));
    CHECK(server.running());
    std::filesystem::remove_all(empty);
  }
  SECTION("a stand-in avahi-publish gets the service, host, port and TXT, and is stopped with serve") {
    ServeFixture server(config, false);
    const auto bin = server.file("bin");
    std::filesystem::create_directories(bin);
    const auto args = server.file("avahi-args.txt");
    write_file(bin / "avahi-publish", "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + shell_quote(args.string()) +
                                          "\ntrap 'echo stopped >> " + shell_quote(args.string()) +
                                          "; exit 0' TERM\nwhile :; do sleep 0.1; done\n");
    std::filesystem::permissions(bin / "avahi-publish", std::filesystem::perms::owner_all);
    {
      PathPrefix path(bin);
      server.start();
    }
    REQUIRE(server.wait_for_log("mDNS: advertising facility-ca._nmos-certs._tcp"));
    for (int i = 0; i < 100 && !std::filesystem::exists(args); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto sent = read_file(args);
    INFO(sent);
    CHECK(contains(sent, "-s\n-H\nlocalhost\nfacility-ca\n_nmos-certs._tcp\n" + std::to_string(server.https_port()) + "\n"));
    CHECK(contains(sent, "api_proto=https\napi_ver=v1.0\napi_selector=\npri=100\n"));
    CHECK(server.stop() == 0);
    CHECK(contains(read_file(args), "stopped"));
  }
}
