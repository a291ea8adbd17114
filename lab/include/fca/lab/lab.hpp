#pragma once
// The interop lab kit (docs/lab.md): every kind of deliberately bad certificate a TLS client must
// refuse (or, for a few, must accept), minted through the service's lab path, written as PEM files
// with a manifest that says what a compliant client must do with each and what openssl says of it.
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fca/core/crl.hpp"
#include "fca/core/error.hpp"
#include "fca/service/principal.hpp"
#include "fca/service/service.hpp"

namespace fca::lab {

// The kinds `lab mint` knows, in the order `--all` mints them.
const std::vector<std::string>& kind_names();
bool is_kind(std::string_view name);

// The current CRL of every CA the lab's chains use, as one PEM bundle (the app reads them from its
// CRL service); written next to the certificates as crls.pem for `openssl verify -CRLfile`.
using CrlBundle = std::function<Result<std::string>()>;
// The bundle from the CRL service: every active CA's current CRL; a CA whose CRL cannot be made (an
// expired lab intermediate) is left out, as no relying party can use its CRL anyway.
CrlBundle crl_bundle_of(service::Service& service, service::Principal who, CrlService& crls);

class Minter {
 public:
  Minter(service::Service& service, service::Principal who, CrlBundle crls);

  // Mints `kind` (one or more certificates: `valid` is an ECDSA and an RSA one, `wrong-eku` a
  // client-only and a server-only one) for `common_name` into `directory`, writes root.pem and
  // crls.pem, and adds the entries to directory/manifest.json (replacing entries of the same name).
  // Returns the manifest entries made.
  Result<nlohmann::json> mint(std::string_view kind, const std::string& common_name,
                              const std::filesystem::path& directory);
  // Every kind, each for "<kind>.localhost"; manifest.json holds exactly this set.
  Result<nlohmann::json> mint_all(const std::filesystem::path& directory);

 private:
  Result<nlohmann::json> mint_kind(std::string_view kind, const std::string& common_name,
                                   const std::filesystem::path& directory);
  Result<void> write_shared_files(const std::filesystem::path& directory);
  Result<std::string> ensure_ca(const std::string& name);  // a dedicated lab CA, made once; its name
  Result<void> ensure_revoked(const std::string& ca_name);
  Result<std::string> root_name();

  service::Service& service_;
  service::Principal who_;
  CrlBundle crls_;
};

// `lab check`: every check of every manifest entry, run with the openssl command.
struct CheckOptions {
  std::filesystem::path directory;             // as minted: manifest.json, root.pem, the files
  std::optional<std::string> ocsp_url;         // a running responder; none: `ocsp_responder`
  // The in-process responder: DER OCSPRequest in, DER OCSPResponse out.
  std::function<std::vector<std::uint8_t>(std::span<const std::uint8_t>)> ocsp_responder;
  CrlBundle crls;                              // refreshes crls.pem before the checks when set
  std::string openssl = "openssl";
};

struct CheckOutcome {
  std::string entry;     // manifest entry name
  std::string tool;      // verify, tls, ocsp, x509
  std::string what;      // the check in a few words (its arguments)
  std::string expected;
  std::string seen;
  bool matches = false;
  std::string output;    // the command's output, for a mismatch
};

Result<std::vector<CheckOutcome>> run_checks(const CheckOptions& options);

// One active revocation fault and what to ask the running responder about it.
struct FaultProbe {
  std::string name;                  // "fault 3", the outcome's entry
  std::string kind;                  // "ocsp" or "crl"
  std::string mode;                  // as `lab fault` took it
  std::int64_t delay_ms = 0;         // mode delay
  std::filesystem::path issuer_pem;  // the CA certificate the fault is scoped to (or the default CA)
  std::filesystem::path chain_pem;   // that CA and every certificate above it (openssl's -CAfile)
  std::string serial;                // a certificate of that CA the fault applies to
  std::filesystem::path leaf_pem;    // that certificate (CRL checks verify it)
  std::string crl_url;               // the CA's CRL on the running serve
};

// `lab check` of the active faults: `openssl ocsp` against `ocsp_url` (faults are answered by the
// running serve only), or the CRL fetched from it and checked with `openssl verify -crl_check`,
// and what a client must see for each mode (docs/lab.md).
std::vector<CheckOutcome> run_fault_checks(const std::vector<FaultProbe>& probes, const std::string& ocsp_url,
                                           const std::filesystem::path& scratch, const std::string& openssl = "openssl");

}  // namespace fca::lab
