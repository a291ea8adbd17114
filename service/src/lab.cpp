// The lab kit's gate in the service: every lab deviation passes require_lab_instance and the
// administrator check here, and nowhere else.
#include <nlohmann/json.hpp>
#include <openssl/rsa.h>

#include "fca/core/x509.hpp"
#include "fca/service/service.hpp"

namespace fca::service {
namespace {
Result<PKeyPtr> generate_weak_rsa_key(int bits) {
  if (bits < 512) return fail(Errc::invalid_input, "even a lab RSA key needs 512 bits");
  PKeyPtr key(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!key) return fail_openssl(Errc::key_failure, "cannot generate the lab's weak RSA key");
  return key;
}
}  // namespace

Result<GeneratedCredentials> Service::lab_issue(const Principal& who, LabIssueRequest request, const KeySpec& key) {
  if (auto lab = require_lab_instance(); !lab) return std::unexpected(lab.error());
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  // generate_key (production) refuses RSA below 2048 bits; the lab's weak-key kind asks for 1024.
  auto subject_key = key.algorithm == KeyAlgorithm::rsa && key.rsa_bits < 2048 ? generate_weak_rsa_key(key.rsa_bits)
                                                                               : generate_key(key);
  if (!subject_key) return std::unexpected(subject_key.error());
  request.subject_key = subject_key->get();
  auto issued = ctx_.authority.lab_issue(request);
  if (!issued) return std::unexpected(issued.error());
  if (request.self_signed) {
    const auto& record = issued->record;
    const AuditEvent audit{who.id, "certificate.lab-self-signed", "certificate:self-signed/" + record.serial,
                           nlohmann::json{{"kind", request.kind},
                                          {"subject", record.subject},
                                          {"fingerprint_sha256", record.fingerprint_sha256},
                                          {"lab", true}}
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                           ctx_.clock.now()};
    if (auto logged = ctx_.audit.append(audit); !logged) return std::unexpected(logged.error());
  }
  return package_credentials(subject_key->get(), std::move(*issued), std::nullopt);
}

Result<CaRecord> Service::lab_create_ca(const Principal& who, LabCaRequest request) {
  if (auto lab = require_lab_instance(); !lab) return std::unexpected(lab.error());
  if (auto ok = authorize(who, Action::manage_cas); !ok) return std::unexpected(ok.error());
  request.requester = who.id;
  if (request.common_name.find("LAB") == std::string::npos) request.common_name = "LAB " + request.common_name;
  return ctx_.authority.lab_create_ca(request);
}

}  // namespace fca::service
