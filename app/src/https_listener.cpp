#include "https_listener.hpp"

#include <arpa/inet.h>
#include <openssl/ocsp.h>

#include "fca/core/x509.hpp"
#include "files.hpp"

namespace fca::app {
namespace {

// Issued listener certificates are renewed when less than a third of their life is left.
constexpr int kRenewFraction = 3;

bool is_address(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 || inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

std::vector<SubjectAltName> sans_of(const std::vector<std::string>& names) {
  std::vector<SubjectAltName> out;
  for (const auto& name : names) {
    out.push_back(SubjectAltName{is_address(name) ? SubjectAltName::Kind::ip : SubjectAltName::Kind::dns, name});
  }
  return out;
}

std::string file_stem(const ListenerConfig& listener) {
  std::string stem = listener.address + "_" + std::to_string(listener.port);
  for (auto& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') c = '-';
  }
  return stem;
}

std::vector<std::uint8_t> ocsp_request_for(X509* leaf, X509* issuer) {
  std::unique_ptr<OCSP_REQUEST, OsslDeleter<OCSP_REQUEST_free>> request(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf, issuer);
  if (!request || !id || !OCSP_request_add0_id(request.get(), id)) {
    OCSP_CERTID_free(id);
    return {};
  }
  return der_encode<OCSP_REQUEST>(request.get(), [](const OCSP_REQUEST* r, unsigned char** out) {
    return i2d_OCSP_REQUEST(r, out);
  });
}

}  // namespace

ListenerTls::ListenerTls(Instance& instance, ListenerConfig listener) : instance_(instance), listener_(std::move(listener)) {}

std::vector<std::pair<std::filesystem::path, std::filesystem::path>> ListenerTls::issued_files() const {
  const auto directory = instance_.data_directory() / "tls";
  const auto stem = file_stem(listener_);
  return {{directory / (stem + "-ecdsa.pem"), directory / (stem + "-ecdsa.key")},
          {directory / (stem + "-rsa.pem"), directory / (stem + "-rsa.key")}};
}

bool ListenerTls::due(const std::filesystem::path& chain_file) const {
  auto text = read_input(chain_file);
  if (!text) return true;
  auto cert = parse_certificate(*text);
  if (!cert) return true;
  // Other names configured since it was issued: issue again.
  auto wanted = sans_of(listener_.tls_names);
  auto carried = subject_alt_names(cert->get());
  std::ranges::sort(wanted, {}, [](const SubjectAltName& s) { return to_string(s); });
  std::ranges::sort(carried, {}, [](const SubjectAltName& s) { return to_string(s); });
  if (wanted != carried) return true;
  const auto start = not_before(cert->get());
  const auto end = not_after(cert->get());
  if (instance_.clock().now() >= end - (end - start) / kRenewFraction) return true;
  // Revoked or held (by an operator, or with its CA): replaced at once, not at the end of its life.
  auto record = instance_.service().get_certificate(principal(), serial_hex(cert->get()), listener_.tls_ca);
  return !record || record->record.status != CertificateStatus::valid;
}

service::Principal ListenerTls::principal() const {
  // The listener acts for itself: it may issue server certificates from its own CA and nothing else.
  return service::Principal{"system:https-listener", {service::Role::operator_}, std::set<std::string>{listener_.tls_ca},
                            std::set<std::string>{"server"}};
}

Result<void> ListenerTls::ensure_issued(bool& renewed) {
  renewed = false;
  const auto files = issued_files();
  if (auto made = ensure_private_directory(instance_.data_directory() / "tls"); !made) return made;
  const auto listener_principal = principal();
  const KeySpec keys[] = {*KeySpec::parse("p256"), *KeySpec::parse("rsa2048")};
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!due(files[i].first)) continue;
    auto made = instance_.service().keygen_issue(listener_principal, service::KeygenRequest{
                                                                         .common_name = listener_.tls_names.front(),
                                                                         .sans = sans_of(listener_.tls_names),
                                                                         .key = keys[i],
                                                                         .profile = "server",
                                                                         .ca = listener_.tls_ca,
                                                                         .validity_days = std::nullopt,
                                                                         .pkcs12_password = std::nullopt,
                                                                     });
    if (!made) return std::unexpected(made.error());
    // Key first: a chain file without its key would be taken for a finished pair.
    if (auto w = write_atomically(files[i].second, made->key_pem, 0600); !w) return w;
    if (auto w = write_atomically(files[i].first, made->issued.chain_pem(), 0600); !w) return w;
    instance_.log().info("HTTPS {}:{}: issued {} certificate {} for {}", listener_.address, listener_.port, keys[i].name(),
                         made->issued.record.serial, listener_.tls_names.front());
    renewed = true;
  }
  return {};
}

Result<std::shared_ptr<http::TlsContext>> ListenerTls::build(
    const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& pairs) {
  auto tls = http::TlsContext::bcp003_server();
  if (!tls) return fail(Errc::internal, tls.error());
  std::vector<Served> served;
  for (const auto& [chain, key] : pairs) {
    if (auto added = (*tls)->add_certificate(chain.string(), key.string()); !added) {
      return fail(Errc::invalid_input, added.error());
    }
    auto text = read_input(chain);
    if (!text) return std::unexpected(text.error());
    auto certs = parse_certificates(*text);
    if (!certs || certs->empty()) return fail(Errc::invalid_input, chain.string() + ": no certificate");
    Served entry;
    entry.leaf = std::move(certs->front());
    if (certs->size() > 1) entry.issuer = std::move((*certs)[1]);
    served.push_back(std::move(entry));
  }
  (*tls)->request_client_certificates();
  (*tls)->set_session_tickets(listener_.tls_session_tickets);
  {
    std::lock_guard lock(staples_->mutex);
    staples_->served = std::move(served);
  }
  refresh_staples();
  (*tls)->staple_ocsp([staples = staples_](X509* leaf) -> std::vector<std::uint8_t> {
    std::lock_guard lock(staples->mutex);
    for (const auto& entry : staples->served) {
      if (X509_cmp(entry.leaf.get(), leaf) == 0) return entry.staple;
    }
    return {};
  });
  return std::move(*tls);
}

void ListenerTls::refresh_staples() {
  // Answers are made outside the lock (the responder may sign), then swapped in.
  std::vector<std::pair<X509Ptr, std::vector<std::uint8_t>>> fresh;
  {
    std::lock_guard lock(staples_->mutex);
    for (const auto& entry : staples_->served) {
      if (!entry.issuer) continue;
      X509_up_ref(entry.leaf.get());
      fresh.emplace_back(X509Ptr(entry.leaf.get()), std::vector<std::uint8_t>());
      auto request = ocsp_request_for(entry.leaf.get(), entry.issuer.get());
      if (request.empty()) continue;
      fresh.back().second = std::move(request);
    }
  }
  for (auto& [leaf, bytes] : fresh) {
    if (bytes.empty()) continue;
    auto answer = instance_.ocsp().respond(bytes);
    if (answer.outcome != OcspOutcome::successful) {
      instance_.log().warn("HTTPS {}:{}: no OCSP staple for {}: {}", listener_.address, listener_.port, serial_hex(leaf.get()),
                           answer.reason);
      bytes.clear();
      continue;
    }
    bytes = std::move(answer.der);
  }
  std::lock_guard lock(staples_->mutex);
  for (auto& entry : staples_->served) {
    for (auto& [leaf, bytes] : fresh) {
      if (X509_cmp(entry.leaf.get(), leaf.get()) == 0 && !bytes.empty()) entry.staple = bytes;
    }
  }
}

Result<std::shared_ptr<http::TlsContext>> ListenerTls::make_context() {
  if (listener_.tls_certificate && listener_.tls_key) {
    return build({{resolve_in(instance_.data_directory(), *listener_.tls_certificate),
                   resolve_in(instance_.data_directory(), *listener_.tls_key)}});
  }
  bool renewed = false;
  if (auto issued = ensure_issued(renewed); !issued) return std::unexpected(issued.error());
  return build(issued_files());
}

Result<std::optional<std::shared_ptr<http::TlsContext>>> ListenerTls::refresh(bool reload_files) {
  if (listener_.tls_certificate && listener_.tls_key && reload_files) {
    auto made = make_context();
    if (!made) return std::unexpected(made.error());
    return std::optional(std::move(*made));
  }
  if (!(listener_.tls_certificate && listener_.tls_key)) {
    bool renewed = false;
    if (auto issued = ensure_issued(renewed); !issued) return std::unexpected(issued.error());
    if (renewed) {
      auto made = build(issued_files());
      if (!made) return std::unexpected(made.error());
      return std::optional(std::move(*made));
    }
  }
  refresh_staples();
  return std::optional<std::shared_ptr<http::TlsContext>>();
}

}  // namespace fca::app
