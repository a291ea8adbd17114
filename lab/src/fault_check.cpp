#include <cctype>
#include <chrono>
#include <fstream>

#include "fca/lab/lab.hpp"
#include "process.hpp"

namespace fca::lab {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What openssl ocsp made of the answer, most telling first.
std::string ocsp_seen(const ProcessResult& result, const std::string& serial) {
  const auto& out = result.output;
  for (const std::string status : {"trylater", "internalerror", "unauthorized", "malformedrequest"}) {
    if (has(out, "Responder Error: " + status)) return status;
  }
  if (has(out, "Error querying OCSP responder")) return "no answer";
  if (has(out, "Response Verify Failure")) return "verify failure";
  if (has(out, "status expired")) return "status expired";
  for (const std::string status : {"good", "revoked", "unknown"}) {
    if (has(out, "0x" + serial + ": " + status)) return status;
  }
  return "failed (exit " + std::to_string(result.exit_code) + ")";
}

// What a client must see while the fault is active.
std::string ocsp_expected(const std::string& mode) {
  if (mode == "tryLater" || mode == "internalError" || mode == "unauthorized" || mode == "malformedRequest") {
    std::string lower;
    for (char c : mode) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
  }
  if (mode == "stale") return "status expired";
  if (mode == "wrong-key" || mode == "no-ocsp-signing") return "verify failure";
  if (mode == "close") return "no answer";
  return "good";  // delay: the true answer, late
}

CheckOutcome ocsp_check(const FaultProbe& probe, const std::string& url, const std::string& openssl) {
  const std::vector<std::string> argv{openssl,   "ocsp",   "-timeout", "35",     "-no_nonce",
                                      "-issuer", probe.issuer_pem.string(), "-serial", "0x" + probe.serial,
                                      "-url",    url,      "-CAfile",  probe.chain_pem.string()};
  const auto started = std::chrono::steady_clock::now();
  auto result = run_process(argv, std::chrono::seconds(40));
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  CheckOutcome outcome{.entry = probe.name, .tool = "ocsp", .what = probe.mode + " 0x" + probe.serial,
                       .expected = ocsp_expected(probe.mode), .seen = ocsp_seen(result, probe.serial),
                       .matches = false, .output = result.output};
  if (probe.mode == "delay") {
    outcome.expected += " after >= " + std::to_string(probe.delay_ms) + " ms";
    outcome.seen += " after " + std::to_string(elapsed) + " ms";
    outcome.matches = has(outcome.seen, "good") && elapsed >= probe.delay_ms;
  } else {
    outcome.matches = outcome.seen == outcome.expected;
  }
  return outcome;
}

CheckOutcome crl_check(const FaultProbe& probe, const std::filesystem::path& scratch, const std::string& openssl) {
  CheckOutcome outcome{.entry = probe.name, .tool = "crl", .what = probe.mode + " " + probe.crl_url, .expected = {},
                       .seen = {}, .matches = false, .output = {}};
  const auto der = scratch / (probe.name + ".crl");
  auto fetched = run_process({"curl", "-sS", "--max-time", "10", "-o", der.string(), "-w", "%{http_code}", probe.crl_url});
  const std::string status = fetched.output.size() >= 3 ? fetched.output.substr(fetched.output.size() - 3) : fetched.output;
  if (probe.mode == "missing") {
    outcome.expected = "HTTP 404";
    outcome.seen = "HTTP " + status;
    outcome.output = fetched.output;
    outcome.matches = status == "404";
    return outcome;
  }
  outcome.expected = probe.mode == "expired" ? "CRL has expired" : "CRL signature failure";
  const auto pem = scratch / (probe.name + ".crl.pem");
  auto converted = run_process({openssl, "crl", "-inform", "DER", "-in", der.string(), "-out", pem.string()});
  if (status != "200" || converted.exit_code != 0) {
    outcome.seen = "no CRL (HTTP " + status + ")";
    outcome.output = fetched.output + converted.output;
    return outcome;
  }
  auto verified = run_process({openssl, "verify", "-crl_check", "-CAfile", probe.chain_pem.string(), "-CRLfile",
                               pem.string(), probe.leaf_pem.string()});
  outcome.output = verified.output;
  if (has(verified.output, "CRL has expired")) outcome.seen = "CRL has expired";
  else if (has(verified.output, "CRL signature failure")) outcome.seen = "CRL signature failure";
  else if (verified.exit_code == 0) outcome.seen = "OK";
  else outcome.seen = "failed (exit " + std::to_string(verified.exit_code) + ")";
  outcome.matches = outcome.seen == outcome.expected;
  return outcome;
}

}  // namespace

std::vector<CheckOutcome> run_fault_checks(const std::vector<FaultProbe>& probes, const std::string& ocsp_url,
                                           const std::filesystem::path& scratch, const std::string& openssl) {
  std::vector<CheckOutcome> outcomes;
  for (const auto& probe : probes) {
    outcomes.push_back(probe.kind == "crl" ? crl_check(probe, scratch, openssl) : ocsp_check(probe, ocsp_url, openssl));
  }
  return outcomes;
}

}  // namespace fca::lab
