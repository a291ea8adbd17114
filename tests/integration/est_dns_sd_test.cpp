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
