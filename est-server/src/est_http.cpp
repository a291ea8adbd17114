#include "fca/est/est_http.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fca/core/keys.hpp"
#include "fca/core/x509.hpp"
#include "fca/est/codec.hpp"

namespace fca::est {
namespace {

constexpr std::string_view kPrefix = "/.well-known/est/";
constexpr const char* kCertsOnly = "application/pkcs7-mime; smime-type=certs-only";
constexpr const char* kServerGeneratedKey = "application/pkcs7-mime; smime-type=server-generated-key";

std::string path_of(const EstLabel& label, std::string_view operation) {
  std::string path(kPrefix);
  if (!label.name.empty()) path += label.name + "/";
  return path + std::string(operation);
}

// The CA certificates are public (cacerts needs no authentication): read as the publisher.
const service::Principal& publisher() {
  static const service::Principal who = service::Principal::system("est");
  return who;
}

// What the front end reads on a client's behalf while it polls a pending enrolment: the enrolments
// and certificates of the label's CA, nothing else.
service::Principal poll_reader(const EstLabel& label) {
  return service::Principal{"system:est", {service::Role::auditor}, std::set<std::string>{label.ca}, std::nullopt};
}

std::string random_boundary() {
  unsigned char bytes[12];
  RAND_bytes(bytes, sizeof bytes);
  return "est-" + hex_upper(bytes);
}

// The base64 body of a PEM object (a private key as package_credentials writes it).
std::optional<std::vector<std::uint8_t>> pem_body(std::string_view pem) {
  const auto begin = pem.find("-----\n");
  const auto end = pem.find("-----END ");
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) return std::nullopt;
  return decode_base64(pem.substr(begin + 6, end - begin - 6));
}

}  // namespace

EstFrontEnd::EstFrontEnd(service::Service& service, EstSettings settings, std::shared_ptr<spdlog::logger> log,
                         http::Metrics* metrics)
    : service_(service), settings_(std::move(settings)), log_(std::move(log)), metrics_(metrics) {}

void EstFrontEnd::mount(http::Router& router) const {
  for (const auto& label : settings_.labels) {
    const EstLabel* l = &label;  // settings_ outlives the router (the front end is declared first)
    router.add(http::Match::exact, path_of(label, "cacerts"), {"GET"},
               [this, l](const http::Request& r) { return cacerts(*l, r); });
    router.add(http::Match::exact, path_of(label, "csrattrs"), {"GET"},
               [this, l](const http::Request& r) { return csrattrs(*l, r); });
    // Every enrolment's outcome is counted for /metrics by its status: 200 issued (or, on a manual
    // label's simpleenroll, the approved certificate handed over), 202 pending, 4xx refused, 5xx failed.
    const auto counted = [this, l](std::string_view operation, http::Response response) {
      if (!metrics_) return response;
      const int s = response.status;
      const char* result = s == 200 ? "issued" : s == 202 ? "pending" : s < 500 ? "refused" : "failed";
      metrics_->counter("fca_est_enrollments_total", "EST enrolment requests since start, by label, operation and result.",
                        {{"label", l->name}, {"operation", std::string(operation)}, {"result", result}}).add();
      // A manual label's certificate was issued by the approval (counted there), not by this poll.
      if (s == 200 && !(l->manual_approval && operation == "simpleenroll")) {
        metrics_->counter("fca_issuances_total", "Certificates issued since start, by CA and front end.",
                          {{"ca", l->ca}, {"frontend", "est"}}).add();
      }
      return response;
    };
    router.add(http::Match::exact, path_of(label, "simpleenroll"), {"POST"},
               [this, l, counted](const http::Request& r) { return counted("simpleenroll", simpleenroll(*l, r)); });
    router.add(http::Match::exact, path_of(label, "simplereenroll"), {"POST"},
               [this, l, counted](const http::Request& r) { return counted("simplereenroll", simplereenroll(*l, r)); });
    router.add(http::Match::exact, path_of(label, "serverkeygen"), {"POST"},
               [this, l, counted](const http::Request& r) { return counted("serverkeygen", serverkeygen(*l, r)); });
  }
}

EstFrontEnd::Refusal EstFrontEnd::refusal_of(const Error& error) {
  switch (error.code) {
    case Errc::invalid_input: return {400, error.message};
    // Not issued here, not allowed for this client, revoked, held, expired, other names: all the
    // client learns is that it may not have this certificate.
    case Errc::policy_refused:
    case Errc::not_found:
    case Errc::conflict: return {403, error.message};
    default: return {500, error.message};
  }
}

http::Response EstFrontEnd::refuse(const http::Request& request, const EstLabel& label, Refusal refusal) const {
  if (refusal.status >= 500) {
    log_->error("EST {} {} (label '{}'): {} {}", http::escape_for_log(request.peer), http::escape_for_log(request.target),
                label.name, refusal.status, refusal.reason);
    return http::text_response(refusal.status);
  }
  log_->warn("EST {} {} (label '{}'): {} {}", http::escape_for_log(request.peer), http::escape_for_log(request.target),
             label.name, refusal.status, refusal.reason);
  auto response = http::text_response(refusal.status, refusal.reason);
  if (refusal.status == 401) response.set("WWW-Authenticate", "Basic realm=\"facility-ca EST " + label.name + "\"");
  return response;
}

http::Response EstFrontEnd::certificate_response(const X509* certificate) const {
  auto der = certs_only_pkcs7({certificate});
  if (!der) return http::error_response(der.error());
  http::Response response(200, encode_base64_lines(*der), kCertsOnly);
  response.set("Content-Transfer-Encoding", "base64");
  return response;
}

std::optional<EstFrontEnd::Refusal> EstFrontEnd::check_csr_request(const http::Request& request) const {
  if (!http::is_media_type(request.header("Content-Type"), "application/pkcs10")) {
    return Refusal{415, "Content-Type must be application/pkcs10"};
  }
  return std::nullopt;
}

std::optional<EstFrontEnd::Refusal> EstFrontEnd::check_channel_binding(const EstLabel& label, const http::Request& request,
                                                                    const X509_REQ* csr) const {
  if (!label.channel_binding) return std::nullopt;
  if (request.channel_binding.empty()) return Refusal{403, "this connection has no TLS channel binding"};
  const auto presented = challenge_password(csr);
  if (!presented) {
    return Refusal{403, "the label requires the TLS channel binding (" + request.channel_binding_type +
                            ", base64) in the CSR's challengePassword"};
  }
  const auto expected = encode_base64_lines(request.channel_binding);
  const std::string_view wanted = std::string_view(expected).substr(0, expected.find('\r'));
  if (presented->size() != wanted.size() || CRYPTO_memcmp(presented->data(), wanted.data(), wanted.size()) != 0) {
    return Refusal{403, "the CSR's challengePassword is not this connection's " + request.channel_binding_type};
  }
  return std::nullopt;
}

namespace {

// The chain as the TLS layer parsed it; a Request made without a handshake (a unit test) has DER only.
Result<VerifiedClient> verified_client(const TrustStore& trust, const http::Request& request, TimePoint now) {
  if (!request.client_certificates.empty() && request.client_certificates.size() == request.client_chain.size()) {
    return trust.verify(request.client_certificates, now);
  }
  return trust.verify(request.client_chain, now);
}

}  // namespace

Result<service::Principal> EstFrontEnd::enrollee(const EstLabel& label, const http::Request& request,
                                                 Decision& decision) const {
  if (!request.tls) return fail(Errc::policy_refused, "EST needs TLS");
  if (label.http_basic) return basic_enrollee(label, request, decision);
  if (request.client_chain.empty()) return fail(Errc::policy_refused, "no client certificate");
  if (!label.trust) return fail(Errc::policy_refused, "label trusts no manufacturer");
  auto client = verified_client(*label.trust, request, service_.clock().now());
  if (!client) return std::unexpected(client.error());
  decision.subject = client->subject;
  decision.anchor = client->anchor;
  return service::Principal::est(client->subject, {label.ca},
                                 std::set<std::string>(label.profiles.begin(), label.profiles.end()));
}

Result<service::Principal> EstFrontEnd::basic_enrollee(const EstLabel& label, const http::Request& request,
                                                       Decision& decision) const {
  const std::set<std::string> profiles(label.profiles.begin(), label.profiles.end());
  // A manufacturer certificate still enrols where the label trusts its root; otherwise the device's credential.
  if (!request.client_chain.empty() && label.trust && !label.trust->empty()) {
    if (auto client = verified_client(*label.trust, request, service_.clock().now())) {
      decision.subject = client->subject;
      decision.anchor = client->anchor;
      return service::Principal::est(client->subject, {label.ca}, profiles);
    }
  }
  if (!request.has_header("Authorization")) {
    decision.challenge = true;
    return fail(Errc::policy_refused, "HTTP Basic credentials required");
  }
  if (!settings_.credentials) return fail(Errc::internal, "no credential store for HTTP Basic");
  auto credential = settings_.credentials->authenticate(label.name, request.header("Authorization"));
  if (!credential) {
    decision.challenge = credential.error().code == Errc::policy_refused;
    return std::unexpected(credential.error());
  }
  decision.subject = CredentialService::subject_of(*credential);
  decision.anchor = "est-credential:" + std::to_string(credential->id);
  return service::Principal::est(decision.subject, {label.ca}, profiles);
}

http::Response EstFrontEnd::cacerts(const EstLabel& label, const http::Request& request) const {
  auto chain = service_.ca_certificates_with_rollover(publisher(), label.ca);
  if (!chain) return refuse(request, label, refusal_of(chain.error()));
  std::vector<const X509*> certs;
  // Issuing CA first, then up to the root, then during a root rollover OldWithNew and NewWithOld.
  for (const auto& cert : *chain) certs.push_back(cert.get());
  auto der = certs_only_pkcs7(certs);
  if (!der) return refuse(request, label, refusal_of(der.error()));
  http::Response response(200, encode_base64_lines(*der), "application/pkcs7-mime");
  response.set("Content-Transfer-Encoding", "base64");
  return response;
}

http::Response EstFrontEnd::csrattrs(const EstLabel& label, const http::Request&) const {
  // Every label issues TLS certificates (nmos-node, server, client): say which keys and algorithms
  // policy accepts and which extensions the profile sets, and ask for challengePassword where the
  // label requires the TLS channel binding in it.
  http::Response response(200, encode_base64_lines(tls_csr_attributes(label.channel_binding)), "application/csrattrs");
  response.set("Content-Transfer-Encoding", "base64");
  return response;
}

http::Response EstFrontEnd::pending_or_issued(const EstLabel& label, const http::Request& request,
                                              const service::Principal& who, const std::string& csr_pem,
                                              Decision& decision) const {
  // The client's retry is the same CSR from the same client: find its enrolment.
  const auto reader = poll_reader(label);
  std::optional<service::EnrollmentInfo> existing;
  service::EnrollmentQuery query;
  query.limit = service::Service::kMaxPage;
  for (;;) {
    auto page = service_.list_enrollments(reader, query);
    if (!page) return refuse(request, label, refusal_of(page.error()));
    for (auto& item : page->items) {
      if (item.record.requester == who.id && item.record.label == label.name && item.record.csr_pem == csr_pem) {
        existing = std::move(item);
      }
    }
    if (!page->next_cursor) break;
    query.cursor = page->next_cursor;
  }
  const auto retry_later = [&] {
    http::Response response = http::text_response(202, "enrolment pending approval");
    response.set("Retry-After", std::to_string(label.retry_after_seconds));
    return response;
  };
  if (!existing) {
    auto submitted = service_.submit_enrollment(
        who, service::EnrollmentSubmission{.csr = csr_pem, .profile = label.profiles.front(), .ca = label.ca, .label = label.name});
    if (!submitted) return refuse(request, label, refusal_of(submitted.error()));
    log_->info("EST {}: enrolment {} pending approval ({}, label '{}')", http::escape_for_log(request.peer),
               submitted->record.id, who.id, label.name);
    return retry_later();
  }
  switch (existing->record.state) {
    case EnrollmentState::pending: return retry_later();
    case EnrollmentState::rejected:
      return refuse(request, label, {403, "enrolment " + std::to_string(existing->record.id) + " was rejected"});
    default: break;
  }
  if (!existing->record.certificate_serial) return retry_later();  // approved, certificate not recorded yet
  auto certificate = service_.get_certificate(reader, *existing->record.certificate_serial, label.ca);
  if (!certificate) return refuse(request, label, refusal_of(certificate.error()));
  const auto& der = certificate->record.der;
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return refuse(request, label, {500, "stored certificate does not parse"});
  decision.serial = *existing->record.certificate_serial;
  return certificate_response(cert.get());
}

std::expected<EstFrontEnd::AuthenticatedCsr, http::Response> EstFrontEnd::authenticated_csr(
    const EstLabel& label, const http::Request& request, Decision& decision) const {
  auto who = enrollee(label, request, decision);
  if (!who) {
    return std::unexpected(
        refuse(request, label, decision.challenge ? Refusal{401, who.error().message} : refusal_of(who.error())));
  }
  if (auto refused = check_csr_request(request)) return std::unexpected(refuse(request, label, *refused));
  auto der = csr_der_of_body(request.body);
  if (!der) return std::unexpected(refuse(request, label, refusal_of(der.error())));
  return AuthenticatedCsr{std::move(*who), std::string(reinterpret_cast<const char*>(der->data()), der->size())};
}

http::Response EstFrontEnd::simpleenroll(const EstLabel& label, const http::Request& request, Decision& decision) const {
  auto asked = authenticated_csr(label, request, decision);
  if (!asked) return std::move(asked.error());
  const auto& who = asked->who;
  const std::string& csr_der = asked->der;
  // The service decodes and checks the CSR it issues from; decoding it here too costs as much as
  // signing the certificate, so it is done only for what this front end checks or stores first.
  X509ReqPtr csr;
  if (label.channel_binding || label.manual_approval) {
    auto parsed = parse_csr(csr_der);
    if (!parsed) return refuse(request, label, refusal_of(parsed.error()));
    if (auto refused = check_channel_binding(label, request, parsed->get())) return refuse(request, label, *refused);
    csr = std::move(*parsed);
  }
  log_->info("EST {}: simpleenroll by {} (vouched for by {}), label '{}', profile {}", http::escape_for_log(request.peer),
             who.id, decision.anchor, label.name, label.profiles.front());
  if (label.manual_approval) return pending_or_issued(label, request, who, to_pem(csr.get()), decision);
  auto issued = service_.issue(who, IssueRequest{.csr = csr_der,
                                                  .profile = label.profiles.front(),
                                                  .requester = {},
                                                  .ca = label.ca,
                                                  .validity_days = std::nullopt});
  if (!issued) return refuse(request, label, refusal_of(issued.error()));
  decision.serial = issued->certificate.record.serial;
  return certificate_response(issued->certificate.certificate.get());
}

http::Response EstFrontEnd::simplereenroll(const EstLabel& label, const http::Request& request, Decision& decision) const {
  // The certificate being renewed is the one the client proved it holds in the TLS handshake; the
  // service checks it was issued here, is neither revoked nor held nor expired, and that the CSR
  // asks for exactly its names.
  if (!request.tls || request.client_chain.empty()) return refuse(request, label, {403, "no client certificate"});
  if (auto refused = check_csr_request(request)) return refuse(request, label, *refused);
  auto der = csr_der_of_body(request.body);
  if (!der) return refuse(request, label, refusal_of(der.error()));
  const auto& leaf_der = request.client_chain.front();
  const unsigned char* p = leaf_der.data();
  X509Ptr leaf(d2i_X509(nullptr, &p, static_cast<long>(leaf_der.size())));
  if (!leaf) return refuse(request, label, {403, "client certificate does not parse"});
  if (label.channel_binding) {
    auto csr = parse_csr(std::string_view(reinterpret_cast<const char*>(der->data()), der->size()));
    if (!csr) return refuse(request, label, refusal_of(csr.error()));
    if (auto refused = check_channel_binding(label, request, csr->get())) return refuse(request, label, *refused);
  }
  // What vouches for a renewal is this instance's CA that issued the certificate presented.
  decision.subject = name_to_string(X509_get_subject_name(leaf.get()));
  decision.anchor = name_to_string(X509_get_issuer_name(leaf.get()));
  const auto who = service::Principal::est(name_to_string(X509_get_subject_name(leaf.get())), {label.ca},
                                           std::set<std::string>(label.profiles.begin(), label.profiles.end()));
  log_->info("EST {}: simplereenroll by {}, label '{}'", http::escape_for_log(request.peer), who.id, label.name);
  auto issued = service_.reenroll(who, std::string_view(reinterpret_cast<const char*>(leaf_der.data()), leaf_der.size()),
                                  std::string_view(reinterpret_cast<const char*>(der->data()), der->size()));
  if (!issued) return refuse(request, label, refusal_of(issued.error()));
  decision.profile = issued->certificate.record.profile;
  decision.serial = issued->certificate.record.serial;
  return certificate_response(issued->certificate.certificate.get());
}

http::Response EstFrontEnd::serverkeygen(const EstLabel& label, const http::Request& request, Decision& decision) const {
  auto asked = authenticated_csr(label, request, decision);
  if (!asked) return std::move(asked.error());
  const auto& who = asked->who;
  auto csr = parse_csr(asked->der);
  if (!csr) return refuse(request, label, refusal_of(csr.error()));
  if (auto refused = check_channel_binding(label, request, csr->get())) return refuse(request, label, *refused);
  // The CSR says which names and which kind of key (RFC 7030 §4.4.1); its key is not used.
  EVP_PKEY* csr_key = X509_REQ_get0_pubkey(csr->get());
  if (!csr_key || X509_REQ_verify(csr->get(), csr_key) != 1) {
    return refuse(request, label, {400, "CSR signature does not verify"});
  }
  auto kind = describe_key(csr_key);
  if (!kind) return refuse(request, label, refusal_of(kind.error()));
  auto spec = KeySpec::parse(kind->name());
  if (!spec) return refuse(request, label, refusal_of(spec.error()));
  // RFC 7030 §4.4.1: the CSR may ask for the key encrypted beyond TLS. Everything that could refuse
  // that is decided here, before anything is issued.
  auto encryption = key_encryption_request(csr->get());
  if (!encryption) return refuse(request, label, refusal_of(encryption.error()));
  if (encryption->kind == KeyEncryptionRequest::Kind::symmetric) {
    return refuse(request, label,
                  {400, "the CSR asks for the key encrypted under a pre-shared symmetric key (DecryptKeyIdentifier, "
                        "RFC 7030 §4.4.1.1); this server holds no such key: name the TLS client certificate's key in "
                        "AsymmetricDecryptKeyIdentifier, or ask for neither"});
  }
  X509Ptr recipient;
  std::optional<service::CaSigner> signer;
  if (encryption->kind == KeyEncryptionRequest::Kind::asymmetric) {
    // The one public key of the client's that the server has is the TLS client certificate's (the
    // handshake proved the client holds its private key).
    if (!request.client_chain.empty()) {
      const auto& leaf_der = request.client_chain.front();
      const unsigned char* p = leaf_der.data();
      recipient.reset(d2i_X509(nullptr, &p, static_cast<long>(leaf_der.size())));
    }
    if (!recipient || !identifies_key_of(encryption->key_identifier, recipient.get())) {
      return refuse(request, label,
                    {400, "the CSR's AsymmetricDecryptKeyIdentifier (" + hex_upper(encryption->key_identifier) +
                              ") names a key this server does not have: it can encrypt only to the key of the TLS "
                              "client certificate, named by its subject key identifier (RFC 7030 §4.4.1.2)"});
    }
    if (!can_envelope_to(X509_get0_pubkey(recipient.get()))) {
      return refuse(request, label, {400, "the TLS client certificate's key is neither RSA nor EC: the key cannot be encrypted to it"});
    }
    // The key package is signed by the CA that makes the key (RFC 7030 §4.4.2).
    auto found = service_.ca_signer(who, label.ca);
    if (!found) return refuse(request, label, refusal_of(found.error()));
    signer = std::move(*found);
    decision.key_encryption = "asymmetric";
  }
  log_->info("EST {}: serverkeygen by {} (vouched for by {}), label '{}', {}{}", http::escape_for_log(request.peer), who.id,
             decision.anchor, label.name, spec->name(), recipient ? ", key encrypted to the TLS client certificate" : "");
  auto made = service_.keygen_issue(who, service::KeygenRequest{
                                              .common_name = common_name(X509_REQ_get_subject_name(csr->get())),
                                              .sans = requested_subject_alt_names(csr->get()),
                                              .key = *spec,
                                              .profile = label.profiles.front(),
                                              .ca = label.ca,
                                              .validity_days = std::nullopt,
                                              .pkcs12_password = std::nullopt,
                                          });
  if (!made) return refuse(request, label, refusal_of(made.error()));
  decision.serial = made->issued.record.serial;
  auto key_der = pem_body(made->key_pem);
  if (!key_der) return refuse(request, label, {500, "generated key does not encode"});
  const CleanseOnExit wipe_key{*key_der};
  auto p7 = certs_only_pkcs7({made->issued.certificate.get()});
  if (!p7) return refuse(request, label, refusal_of(p7.error()));
  MultipartPart key_part{"application/pkcs8", {}};
  if (recipient) {
    std::vector<const X509*> above;
    for (std::size_t i = 1; i < signer->chain.size(); ++i) above.push_back(signer->chain[i].get());
    auto signed_data = signer->key->with_key([&](EVP_PKEY* key) {
      return signed_key_package(*key_der, signer->chain.front().get(), key, above);
    });
    if (!signed_data) return refuse(request, label, {500, signed_data.error().message});
    const CleanseOnExit wipe_signed{*signed_data};
    auto enveloped = enveloped_key_package(*signed_data, recipient.get(), encryption->key_identifier);
    if (!enveloped) return refuse(request, label, {500, enveloped.error().message});
    key_part = {kServerGeneratedKey, encode_base64_lines(*enveloped)};
  } else {
    key_part.body = encode_base64_lines(*key_der);
  }
  const std::string boundary = random_boundary();
  return http::Response(200, multipart_mixed(boundary, {std::move(key_part), {kCertsOnly, encode_base64_lines(*p7)}}),
                        "multipart/mixed; boundary=" + boundary);
}

// Every decision about a certificate request is audited, refusals included: the principal (the
// client certificate's subject), what vouched for it, the label, the profile and the result.
http::Response EstFrontEnd::audited(const EstLabel& label, const http::Request& request, Decision& decision,
                                    http::Response response) const {
  if (decision.subject.empty() && !request.client_chain.empty()) {
    const auto& der = request.client_chain.front();
    const unsigned char* p = der.data();
    if (X509Ptr leaf{d2i_X509(nullptr, &p, static_cast<long>(der.size()))}) {
      decision.subject = name_to_string(X509_get_subject_name(leaf.get()));
    }
  }
  if (decision.profile.empty()) decision.profile = label.profiles.front();
  const char* result = response.status == 200 ? "issued" : response.status == 202 ? "pending" : "refused";
  nlohmann::json detail = {{"label", label.name},
                           {"trust_anchor", decision.anchor},
                           {"profile", decision.profile},
                           {"result", result},
                           {"status", response.status},
                           {"client", request.peer}};
  if (!decision.serial.empty()) detail["serial"] = decision.serial;
  if (!decision.key_encryption.empty()) detail["key_encryption"] = decision.key_encryption;
  if (response.status != 200) {
    // text_response bodies read "<status> <phrase>: <reason>"; a 5xx names no reason to the client.
    const auto colon = response.body.find(": ");
    std::string reason = response.status >= 500 || colon == std::string::npos ? "internal error" : response.body.substr(colon + 2);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
    detail["reason"] = reason;
  }
  const auto who = service::Principal::est(decision.subject.empty() ? "(no client certificate)" : decision.subject,
                                           {label.ca}, {decision.profile});
  auto recorded = service_.record_decision(who, "est." + decision.operation, "est:" + path_of(label, decision.operation),
                                           detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!recorded) {
    log_->error("EST {}: the {} decision for {} was not audited: {}", http::escape_for_log(request.peer),
                decision.operation, who.id, recorded.error().message);
  }
  return response;
}

http::Response EstFrontEnd::simpleenroll(const EstLabel& label, const http::Request& request) const {
  Decision decision;
  decision.operation = "simpleenroll";
  auto response = simpleenroll(label, request, decision);
  return audited(label, request, decision, std::move(response));
}

http::Response EstFrontEnd::simplereenroll(const EstLabel& label, const http::Request& request) const {
  Decision decision;
  decision.operation = "simplereenroll";
  auto response = simplereenroll(label, request, decision);
  return audited(label, request, decision, std::move(response));
}

http::Response EstFrontEnd::serverkeygen(const EstLabel& label, const http::Request& request) const {
  Decision decision;
  decision.operation = "serverkeygen";
  auto response = serverkeygen(label, request, decision);
  return audited(label, request, decision, std::move(response));
}

}  // namespace fca::est
