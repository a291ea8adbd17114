#include <fstream>

#include "fca/lab/lab.hpp"
#include "files.hpp"
#include "process.hpp"

namespace fca::lab {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& arg : args) out += (out.empty() ? "" : " ") + arg;
  return out;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What the command's outcome was, in the manifest's terms: "OK" when it passed, else the first
// expected error text found (or the command's first error line).
std::string seen_of(const ProcessResult& result, bool passed, const std::string& expected) {
  if (passed) return "OK";
  if (expected != "OK" && has(result.output, expected)) return expected;
  for (const std::string marker : {"error ", "verify error:", "error:"}) {
    auto at = result.output.find(marker);
    if (at != std::string::npos) return result.output.substr(at, result.output.find('\n', at) - at);
  }
  return "failed (exit " + std::to_string(result.exit_code) + ")";
}

struct Entry {
  std::string name;
  fs::path cert, key, chain;
  fs::path extra;   // the chain without the leaf (what a server sends after its certificate)
  fs::path issuer;  // the issuing CA's certificate; empty when self-signed
};

class Runner {
 public:
  Runner(const CheckOptions& options, fs::path scratch) : options_(options), scratch_(std::move(scratch)) {}

  CheckOutcome verify(const Entry& e, const json& check) {
    std::vector<std::string> args = check.value("args", std::vector<std::string>{});
    const std::string expected = check.value("expect", "OK");
    std::vector<std::string> argv{options_.openssl, "verify", "-CAfile", (options_.directory / "root.pem").string(),
                                  "-untrusted", e.chain.string()};
    for (const auto& arg : args) argv.push_back(arg);
    const bool crl = std::ranges::any_of(args, [](const std::string& a) { return a.starts_with("-crl_check"); });
    if (crl) {
      argv.push_back("-CRLfile");
      argv.push_back((options_.directory / "crls.pem").string());
    }
    argv.push_back(e.cert.string());
    auto result = run_process(argv);
    const bool passed = result.exit_code == 0 && has(result.output, ": OK");
    return outcome(e, "verify", joined(args), expected, seen_of(result, passed, expected), result);
  }

  // `openssl s_server` with `server_args` on a free loopback port, and `openssl s_client` with
  // `client_args` against it; the server is stopped on return.
  ProcessResult s_client_to_s_server(const std::vector<std::string>& server_args, const std::vector<std::string>& client_args) {
    ProcessResult result;
    const int port = free_loopback_port();
    if (port <= 0) {
      result.output = "no free loopback port";
      return result;
    }
    const std::string address = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> server{options_.openssl, "s_server", "-accept", address};
    server.insert(server.end(), server_args.begin(), server_args.end());
    BackgroundProcess s_server(server);
    if (!wait_for_listener(port, std::chrono::seconds(10))) {
      result.output = "openssl s_server did not start on " + address;
      return result;
    }
    std::vector<std::string> client{options_.openssl, "s_client", "-connect", address};
    client.insert(client.end(), client_args.begin(), client_args.end());
    return run_process(client, std::chrono::seconds(20));
  }

  CheckOutcome tls(const Entry& e, const json& check) {
    std::vector<std::string> args = check.value("args", std::vector<std::string>{});
    const std::string expected = check.value("expect", "OK");
    // The server loads whatever it is given (an RSA-1024 key, a SHA-1 signature): the client judges.
    std::vector<std::string> server{"-cert", e.cert.string(), "-key", e.key.string(), "-cipher", "DEFAULT:@SECLEVEL=0",
                                    "-naccept", "2", "-quiet"};
    if (!e.extra.empty()) {
      server.push_back("-cert_chain");
      server.push_back(e.extra.string());
    }
    std::vector<std::string> client{"-CAfile", (options_.directory / "root.pem").string(), "-verify_return_error"};
    client.insert(client.end(), args.begin(), args.end());
    const auto result = s_client_to_s_server(server, client);
    const bool passed = result.exit_code == 0 && has(result.output, "Verify return code: 0 (ok)");
    return outcome(e, "tls", "s_client " + joined(args), expected, seen_of(result, passed, expected), result);
  }

  // The certificate as a TLS client's: an s_server (presenting the same certificate, requiring a
  // client certificate, -verify_return_error) refuses it with an alert; TLS 1.2 so that the refusal
  // falls inside the handshake the client sees.
  CheckOutcome tls_client(const Entry& e, const json& check) {
    const std::string expected = check.value("expect", "OK");
    const std::string root = (options_.directory / "root.pem").string();
    std::vector<std::string> server{"-cert", e.cert.string(), "-key", e.key.string(), "-Verify", "4",
                                    "-verify_return_error", "-CAfile", root, "-naccept", "2", "-quiet"};
    std::vector<std::string> client{"-CAfile", root, "-verify_return_error", "-tls1_2", "-cert", e.cert.string(),
                                    "-key", e.key.string()};
    if (!e.extra.empty()) {
      for (auto* argv : {&server, &client}) {
        argv->push_back("-cert_chain");
        argv->push_back(e.extra.string());
      }
    }
    const auto result = s_client_to_s_server(server, client);
    const bool passed = result.exit_code == 0 && has(result.output, "Verify return code: 0 (ok)");
    return outcome(e, "tls-client", "s_client -cert (to an s_server requiring a client certificate)", expected,
                   seen_of(result, passed, expected), result);
  }

  CheckOutcome ocsp(const Entry& e, const json& check) {
    const std::string expected = check.value("expect", "good");
    std::vector<std::string> common{"-issuer", e.issuer.string(), "-cert", e.cert.string(), "-CAfile",
                                    (options_.directory / "root.pem").string(), "-verify_other", e.chain.string(),
                                    "-no_nonce"};
    ProcessResult result;
    std::string what;
    if (options_.ocsp_url) {
      what = "ocsp -url " + *options_.ocsp_url;
      std::vector<std::string> argv{options_.openssl, "ocsp", "-url", *options_.ocsp_url};
      argv.insert(argv.end(), common.begin(), common.end());
      result = run_process(argv);
    } else {
      what = "ocsp (in-process responder)";
      const auto request = scratch_ / (e.name + ".ocsp-request.der");
      const auto response = scratch_ / (e.name + ".ocsp-response.der");
      auto made = run_process({options_.openssl, "ocsp", "-issuer", e.issuer.string(), "-cert", e.cert.string(),
                               "-no_nonce", "-reqout", request.string()});
      auto request_der = read_file(request);
      if (made.exit_code != 0 || !request_der || !options_.ocsp_responder) {
        result = made;
        result.exit_code = result.exit_code == 0 ? 1 : result.exit_code;
        if (!options_.ocsp_responder) result.output += "no OCSP responder to ask\n";
      } else {
        const auto answer = options_.ocsp_responder(std::span(
            reinterpret_cast<const std::uint8_t*>(request_der->data()), request_der->size()));
        if (auto w = write_file(response, std::string(answer.begin(), answer.end()), 0600); !w) {
          result.output = w.error().message;
        } else {
          std::vector<std::string> argv{options_.openssl, "ocsp", "-respin", response.string()};
          argv.insert(argv.end(), common.begin(), common.end());
          result = run_process(argv);
        }
      }
    }
    std::string seen = "no answer";
    if (result.exit_code == 0 && has(result.output, "Response verify OK")) {
      for (const std::string status : {": good", ": revoked", ": unknown"}) {
        if (has(result.output, e.cert.string() + status)) seen = status.substr(2);
      }
    } else {
      seen = seen_of(result, false, expected);
    }
    return outcome(e, "ocsp", what, expected, seen, result);
  }

  CheckOutcome x509(const Entry& e, const json& check) {
    auto result = run_process({options_.openssl, "x509", "-in", e.cert.string(), "-noout", "-text"});
    if (check.contains("contains")) {
      const std::string text = check["contains"];
      const bool found = result.exit_code == 0 && has(result.output, text);
      return outcome(e, "x509", "contains", text, found ? text : "(absent)", result);
    }
    const std::string text = check.value("lacks", "");
    const bool absent = result.exit_code == 0 && !has(result.output, text);
    return outcome(e, "x509", "lacks", text, absent ? text : "(present)", result);
  }

 private:
  static CheckOutcome outcome(const Entry& e, std::string tool, std::string what, std::string expected, std::string seen,
                              const ProcessResult& result) {
    const bool matches = expected == seen;
    return CheckOutcome{e.name, std::move(tool), std::move(what), std::move(expected), std::move(seen), matches,
                        matches ? std::string() : result.output};
  }

  const CheckOptions& options_;
  fs::path scratch_;
};

}  // namespace

Result<std::vector<CheckOutcome>> run_checks(const CheckOptions& options) {
  auto text = read_file(options.directory / "manifest.json");
  if (!text) return fail(Errc::not_found, "no manifest.json in " + options.directory.string() + " (run `lab mint` first)");
  const auto manifest = json::parse(*text, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("entries") || !manifest["entries"].is_array()) {
    return fail(Errc::invalid_input, options.directory.string() + "/manifest.json is not a lab manifest");
  }
  if (options.crls) {
    auto bundle = options.crls();
    if (!bundle) return std::unexpected(bundle.error());
    if (auto w = write_file(options.directory / "crls.pem", *bundle, 0644); !w) return std::unexpected(w.error());
  }
  const fs::path scratch = options.directory / ".check";
  std::error_code ec;
  fs::create_directories(scratch, ec);
  if (ec) return fail(Errc::storage, "cannot create " + scratch.string() + ": " + ec.message());

  Runner runner(options, scratch);
  std::vector<CheckOutcome> outcomes;
  for (const auto& item : manifest["entries"]) {
    Entry e;
    e.name = item.value("name", "");
    e.cert = options.directory / item.value("cert", "");
    e.key = options.directory / item.value("key", "");
    e.chain = options.directory / item.value("chain", "");
    auto chain = read_file(e.chain);
    if (!chain) return std::unexpected(chain.error());
    const auto blocks = pem_blocks(*chain);
    if (blocks.size() > 1) {
      std::string extra;
      for (std::size_t i = 1; i < blocks.size(); ++i) extra += blocks[i];
      e.extra = scratch / (e.name + ".extra.pem");
      e.issuer = scratch / (e.name + ".issuer.pem");
      if (auto w = write_file(e.extra, extra, 0644); !w) return std::unexpected(w.error());
      if (auto w = write_file(e.issuer, blocks[1], 0644); !w) return std::unexpected(w.error());
    }
    for (const auto& check : item.value("checks", json::array())) {
      const std::string tool = check.value("tool", "");
      if (tool == "verify") outcomes.push_back(runner.verify(e, check));
      else if (tool == "tls") outcomes.push_back(runner.tls(e, check));
      else if (tool == "tls-client") outcomes.push_back(runner.tls_client(e, check));
      else if (tool == "ocsp") outcomes.push_back(runner.ocsp(e, check));
      else if (tool == "x509") outcomes.push_back(runner.x509(e, check));
      else return fail(Errc::invalid_input, "manifest entry " + e.name + " has a check of unknown tool '" + tool + "'");
    }
  }
  fs::remove_all(scratch, ec);
  return outcomes;
}

}  // namespace fca::lab
