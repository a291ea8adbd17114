#pragma once
// EST (RFC 7030) under /.well-known/est/ and /.well-known/est/<label>/, as AMWA BCP-003-03 uses it.
// Thin: decode the body, authenticate the TLS client against the label's trust store, call the
// service as Principal::est(<client subject>, <label's CA>, <label's profiles>), format the answer.
// Refusals are mapped to a status in one place (refuse/status_for).
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "fca/est/credentials.hpp"
#include "fca/est/trust.hpp"
#include "fca/http/message.hpp"
#include "fca/http/metrics.hpp"
#include "fca/http/router.hpp"
#include "fca/service/service.hpp"

namespace fca::est {

struct EstLabel {
  std::string name;                   // "" for /.well-known/est/ itself
  std::string ca;                     // the CA that issues for this label
  std::vector<std::string> profiles;  // allowed; the first is the one simpleenroll issues
  bool manual_approval = false;       // 202 + Retry-After until `enrollment approve|reject` decides
  int retry_after_seconds = 30;
  std::shared_ptr<const TrustStore> trust;  // initial enrolment: the manufacturer roots
  // Devices outside NMOS: without a client certificate that chains to `trust`, a first enrolment
  // authenticates by HTTP Basic with a per-device credential (401 + WWW-Authenticate first).
  bool http_basic = false;
  // Proof of possession by TLS channel binding (RFC 7030 §3.5): every enrolment CSR's challengePassword
  // must be the base64 of the connection's tls-unique (TLS 1.2) or tls-exporter (TLS 1.3, RFC 9266).
  bool channel_binding = false;
};

struct EstSettings {
  std::vector<EstLabel> labels;
  CredentialService* credentials = nullptr;  // needed by http_basic labels; outlives the front end
};

class EstFrontEnd {
 public:
  // With `metrics`: fca_est_enrollments_total{label,operation,result} and fca_issuances_total{frontend="est"}.
  EstFrontEnd(service::Service& service, EstSettings settings, std::shared_ptr<spdlog::logger> log,
              http::Metrics* metrics = nullptr);

  // GET cacerts, csrattrs; POST simpleenroll, simplereenroll, serverkeygen; for every label.
  void mount(http::Router& router) const;

  http::Response cacerts(const EstLabel& label, const http::Request& request) const;
  http::Response csrattrs(const EstLabel& label, const http::Request& request) const;
  http::Response simpleenroll(const EstLabel& label, const http::Request& request) const;
  http::Response simplereenroll(const EstLabel& label, const http::Request& request) const;
  http::Response serverkeygen(const EstLabel& label, const http::Request& request) const;

  const EstSettings& settings() const { return settings_; }

 private:
  struct Refusal {
    int status;
    std::string reason;
  };
  // What the audit entry of one EST request says (every simpleenroll, simplereenroll and serverkeygen
  // is audited, refusals included): filled in as the request is decided.
  struct Decision {
    std::string operation;
    std::string subject;  // RFC 2253 subject of the client certificate ("" none presented)
    std::string anchor;   // the root that vouched for it, or the CA that issued it (re-enrolment)
    std::string profile;  // asked for (the label's first) or renewed (the old certificate's)
    std::string serial;   // of the certificate issued
    bool challenge = false;  // refused for want of HTTP credentials: 401 with WWW-Authenticate
    std::string key_encryption;  // serverkeygen: "asymmetric" when the key went out enveloped to the client
  };
  http::Response audited(const EstLabel& label, const http::Request& request, Decision& decision,
                         http::Response response) const;
  http::Response simpleenroll(const EstLabel& label, const http::Request& request, Decision& decision) const;
  http::Response simplereenroll(const EstLabel& label, const http::Request& request, Decision& decision) const;
  http::Response serverkeygen(const EstLabel& label, const http::Request& request, Decision& decision) const;
  static Refusal refusal_of(const Error& error);
  http::Response refuse(const http::Request& request, const EstLabel& label, Refusal refusal) const;
  http::Response certificate_response(const X509* certificate) const;
  std::optional<Refusal> check_csr_request(const http::Request& request) const;
  std::optional<Refusal> check_channel_binding(const EstLabel& label, const http::Request& request, const X509_REQ* csr) const;
  Result<service::Principal> enrollee(const EstLabel& label, const http::Request& request, Decision& decision) const;
  // A first enrolment's common start (simpleenroll, serverkeygen): who asks, and the CSR's DER;
  // or the refusal to send.
  struct AuthenticatedCsr {
    service::Principal who;
    std::string der;
  };
  std::expected<AuthenticatedCsr, http::Response> authenticated_csr(const EstLabel& label, const http::Request& request,
                                                                    Decision& decision) const;
  Result<service::Principal> basic_enrollee(const EstLabel& label, const http::Request& request, Decision& decision) const;
  http::Response pending_or_issued(const EstLabel& label, const http::Request& request, const service::Principal& who,
                                   const std::string& csr_pem, Decision& decision) const;

  service::Service& service_;
  EstSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  http::Metrics* metrics_ = nullptr;
};

}  // namespace fca::est
