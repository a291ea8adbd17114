#include "fca/crl/crl_http.hpp"

#include <algorithm>

#include "fca/core/clock.hpp"
#include "fca/core/x509.hpp"

namespace fca::crl {
namespace {

struct Named {
  std::string name;
  std::string extension;
};

// "/crl/issuing.pem" under "/crl/" → {"issuing", "pem"}; nullopt unless the name is [a-z0-9-]{1,64}
// and the extension one of `extensions`.
std::optional<Named> parse_name(std::string_view path, std::string_view prefix, std::initializer_list<std::string_view> extensions) {
  if (!path.starts_with(prefix)) return std::nullopt;
  path.remove_prefix(prefix.size());
  const auto dot = path.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 64) return std::nullopt;
  const auto name = path.substr(0, dot);
  const auto extension = path.substr(dot + 1);
  if (!std::ranges::all_of(name, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; })) {
    return std::nullopt;
  }
  if (std::ranges::find(extensions, extension) == extensions.end()) return std::nullopt;
  return Named{std::string(name), std::string(extension)};
}

http::Response internal_error(spdlog::logger& log, const Error& error) {
  log.error("crl: {}", error.message);
  return http::text_response(500);
}

}  // namespace

CrlFrontEnd::CrlFrontEnd(CaLookup find_ca, CrlService& crls, CrlHttpSettings settings, std::shared_ptr<spdlog::logger> log,
                         std::shared_ptr<LabCrlFaults> lab_faults)
    : find_ca_(std::move(find_ca)), crls_(crls), settings_(settings), log_(std::move(log)), lab_faults_(std::move(lab_faults)) {}

http::Response CrlFrontEnd::crl(const http::Request& request) const {
  auto named = parse_name(request.path(), "/crl/", {"crl", "pem"});
  if (!named) return http::text_response(404);
  auto ca = find_ca_(named->name);
  if (!ca && ca.error().code != Errc::not_found) return internal_error(*log_, ca.error());
  // NAME-delta.crl is NAME's delta CRL. New CA names cannot end in -delta; a CA named so before that
  // rule keeps its full CRL at its URL.
  constexpr std::string_view kDeltaSuffix = "-delta";
  bool delta = false;
  if (!ca && named->name.size() > kDeltaSuffix.size() && named->name.ends_with(kDeltaSuffix)) {
    named->name.resize(named->name.size() - kDeltaSuffix.size());
    delta = true;
    ca = find_ca_(named->name);
    if (!ca && ca.error().code != Errc::not_found) return internal_error(*log_, ca.error());
  }
  if (!ca || ca->state != CaState::active) {
    log_->info("crl {} from {}: no such CA", http::escape_for_log(request.target, 64), request.peer);
    return http::text_response(404, "CRL of CA '" + named->name + "' not found");
  }
  auto crl = delta ? crls_.current_delta(*ca) : crls_.current(*ca);
  if (!crl) return internal_error(*log_, crl.error());
  bool faulted = false;
  if (lab_faults_ && !delta) {
    if (auto faulty = lab_faults_->answer_for(*ca)) {
      if (!*faulty) return internal_error(*log_, faulty->error());
      log_->info("crl {} from {}: lab fault applies", http::escape_for_log(request.target, 64), request.peer);
      if ((*faulty)->missing) return http::text_response(404, "CRL of CA '" + named->name + "' not found");
      // Never stored, never cached: the next request after the fault ends gets the real CRL.
      crl->der = std::move((*faulty)->der);
      crl->this_update = (*faulty)->this_update;
      crl->next_update = (*faulty)->next_update;
      crl->number = -1;  // an ETag of its own
      faulted = true;
    }
  }

  const bool pem = named->extension == "pem";
  const auto etag = "\"" + named->name + (delta ? "-delta-" : "-") + std::to_string(crl->number) + (pem ? "-pem" : "-der") + "\"";
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(crl->next_update - std::chrono::system_clock::now());
  const auto max_age = std::clamp(remaining, std::chrono::seconds(0), settings_.max_age_cap);
  http::Response response;
  response.set("Cache-Control", "max-age=" + std::to_string(max_age.count()) + ", public, no-transform");
  if (faulted) response.set("Cache-Control", "no-store");
  response.set("Last-Modified", http_date(crl->this_update));
  response.set("Expires", http_date(crl->next_update));
  response.set("ETag", etag);
  if (request.header("If-None-Match") == etag) {
    response.status = 304;
    return response;
  }
  if (!pem) {
    response.set("Content-Type", "application/pkix-crl");
    response.body.assign(crl->der.begin(), crl->der.end());
    return response;
  }
  const unsigned char* p = crl->der.data();
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->der.size())));
  if (!parsed) return internal_error(*log_, Error{Errc::internal, "stored CRL of " + named->name + " does not parse"});
  response.set("Content-Type", "application/x-pem-file");
  response.body = to_pem(parsed.get());
  return response;
}

http::Response CrlFrontEnd::certificate(const http::Request& request) const {
  const auto named = parse_name(request.path(), "/ca/", {"crt", "pem"});
  if (!named) return http::text_response(404);
  auto ca = find_ca_(named->name);
  if (!ca && ca.error().code != Errc::not_found) return internal_error(*log_, ca.error());
  if (!ca || ca->state != CaState::active) return http::text_response(404, "CA '" + named->name + "' not found");
  auto cert = parse_certificate(ca->certificate_pem);
  if (!cert) return internal_error(*log_, cert.error());
  http::Response response;
  response.set("Cache-Control", "max-age=3600, public");
  if (named->extension == "crt") {
    const auto der = to_der(cert->get());
    response.set("Content-Type", "application/pkix-cert");
    response.body.assign(der.begin(), der.end());
  } else {
    response.set("Content-Type", "application/x-pem-file");
    response.body = ca->certificate_pem + ca->chain_pem;
  }
  return response;
}

void CrlFrontEnd::mount(http::Router& router) const {
  router.add(http::Match::prefix, "/crl/", {"GET"}, [this](const http::Request& r) { return crl(r); });
  router.add(http::Match::prefix, "/ca/", {"GET"}, [this](const http::Request& r) { return certificate(r); });
}

}  // namespace fca::crl
