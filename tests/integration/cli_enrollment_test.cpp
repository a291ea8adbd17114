// Enrolment requests and the audit log through the real binary: submit, list, approve or reject,
// and the actor every entry records.
#include "cli_fixture.hpp"

using namespace fca::test;

namespace {
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("cli: an enrolment request waits, is approved into a certificate, or is rejected", "[cli][enrollment]") {
  Pki pki;
  const auto csr = pki.csr("node1", "p256", "node1.example.test", "DNS:node1.example.test");
  const auto rows = pki.certificate_rows();

  auto submitted = pki.json("enrollment submit --csr " + shell_quote(csr.string()) +
                            " --profile nmos-node --label studio-a/node1 --json");
  CHECK(submitted["state"] == "pending");
  CHECK(submitted["label"] == "studio-a/node1");
  CHECK(submitted["ca"] == "issuing");
  CHECK(submitted["common_name"] == "node1.example.test");
  CHECK(submitted["certificate_serial"].is_null());
  CHECK(pki.certificate_rows() == rows);
  const auto id = std::to_string(submitted["id"].get<long long>());

  auto pending = pki.json("enrollment list --state pending --json");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]["id"] == submitted["id"]);
  // The stored CSR is the one submitted.
  auto shown = pki.out("enrollment show " + id);
  auto same = run("openssl req -noout -subject -in /dev/stdin <<'EOF'\n" + shown + "EOF");
  CHECK(contains(same.output, "node1.example.test"));

  const auto cert = pki.file("node1-approved.pem");
  pki.out("enrollment approve " + id + " --out " + shell_quote(cert.string()));
  auto verified = pki.verify(cert);
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  CHECK(pki.certificate_rows() == rows + 1);
  auto approved = pki.json("enrollment list --state approved --json");
  REQUIRE(approved.size() == 1);
  CHECK(approved[0]["certificate_serial"] == pki.serial_of(cert));
  CHECK(pki.json("enrollment list --state pending --json").empty());

  auto twice = pki.fca_split("enrollment approve " + id);
  CHECK(twice.exit_code == 5);
  CHECK(contains(twice.err, "is approved, not pending"));
  CHECK(pki.certificate_rows() == rows + 1);

  auto second = pki.json("enrollment submit --csr " + shell_quote(csr.string()) + " --profile nmos-node --json");
  const auto second_id = std::to_string(second["id"].get<long long>());
  auto rejected = pki.json("enrollment reject " + second_id + " --reason duplicate --json");
  CHECK(rejected["state"] == "rejected");
  CHECK(rejected["reason"] == "duplicate");
  CHECK(pki.fca_split("enrollment approve " + second_id).exit_code == 5);
  CHECK(pki.fca_split("enrollment show 999").exit_code == 4);
  CHECK(pki.fca_split("enrollment list --state maybe").exit_code == 2);
  CHECK(pki.certificate_rows() == rows + 1);

  // Every entry names the local operator as its actor; the chain still verifies.
  auto entries = pki.json("audit --limit 1000 --json");
  REQUIRE(entries.size() >= 6);
  std::vector<std::string> actions;
  for (const auto& entry : entries) {
    if (entry["action"].get<std::string>().starts_with("enrollment.")) {
      CHECK(entry["actor"].get<std::string>().starts_with("cli:"));
      actions.push_back(entry["action"]);
    }
  }
  CHECK(actions == std::vector<std::string>{"enrollment.submit", "enrollment.approve", "enrollment.issued",
                                            "enrollment.submit", "enrollment.reject"});
  auto page = pki.fca_split("audit --after 1 --limit 2");
  CHECK(page.exit_code == 0);
  CHECK(contains(page.out, "SEQ"));
  CHECK(contains(page.err, "more entries follow: --after 3"));
  CHECK(pki.fca("verify-audit").exit_code == 0);
}
