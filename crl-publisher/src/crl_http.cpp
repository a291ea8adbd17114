#include "fca/crl/crl_http.hpp"

#include <httplib.h>

#include <ctime>

#include "fca/core/x509.hpp"

namespace fca::crl {
namespace {

void not_found(httplib::Response& res, const std::string& what) {
  res.status = 404;
  res.set_content(what + " not found\n", "text/plain");
}

void internal_error(httplib::Response& res, spdlog::logger& log, const Error& error) {
  log.error("crl: {}", error.message);
  res.status = 500;
  res.set_content("internal error\n", "text/plain");
}

}  // namespace

void mount(httplib::Server& server, CaRepository& cas, CrlService& crls, CrlHttpSettings settings,
           std::shared_ptr<spdlog::logger> log) {
  // BCP-003-01: methods the API does not allow get 405, with the ones it does.
  const auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("405 Method Not Allowed: CRLs and CA certificates are read with GET\n", "text/plain");
  };
  for (const char* pattern : {R"(/crl/.*)", R"(/ca/.*)"}) {
    server.Post(pattern, not_allowed);
    server.Put(pattern, not_allowed);
    server.Patch(pattern, not_allowed);
    server.Delete(pattern, not_allowed);
  }

  server.Get(R"(/crl/([a-z0-9-]{1,64})\.(crl|pem))", [&cas, &crls, settings, log](const httplib::Request& req,
                                                                                   httplib::Response& res) {
    const std::string name = req.matches[1];
    const bool pem = req.matches[2] == "pem";
    auto ca = cas.find_ca(std::string_view(name));
    if (!ca || ca->state != CaState::active) return not_found(res, "CRL of CA '" + name + "'");
    auto crl = crls.current(*ca);
    if (!crl) return internal_error(res, *log, crl.error());

    const auto etag = "\"" + name + "-" + std::to_string(crl->number) + (pem ? "-pem" : "-der") + "\"";
    const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(crl->next_update - std::chrono::system_clock::now());
    const auto max_age = std::clamp(remaining, std::chrono::seconds(0), settings.max_age_cap);
    res.set_header("Cache-Control", "max-age=" + std::to_string(max_age.count()) + ", public, no-transform");
    res.set_header("Last-Modified", http_date(crl->this_update));
    res.set_header("Expires", http_date(crl->next_update));
    res.set_header("ETag", etag);
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    if (!pem) {
      res.set_content(std::string(crl->der.begin(), crl->der.end()), "application/pkix-crl");
      return;
    }
    const unsigned char* p = crl->der.data();
    X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->der.size())));
    if (!parsed) return internal_error(res, *log, Error{Errc::internal, "stored CRL of " + name + " does not parse"});
    res.set_content(to_pem(parsed.get()), "application/x-pem-file");
  });

  server.Get(R"(/ca/([a-z0-9-]{1,64})\.(crt|pem))", [&cas, log](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    auto ca = cas.find_ca(std::string_view(name));
    if (!ca || ca->state != CaState::active) return not_found(res, "CA '" + name + "'");
    auto cert = parse_certificate(ca->certificate_pem);
    if (!cert) return internal_error(res, *log, cert.error());
    res.set_header("Cache-Control", "max-age=3600, public");
    if (req.matches[2] == "crt") {
      const auto der = to_der(cert->get());
      res.set_content(std::string(der.begin(), der.end()), "application/pkix-cert");
    } else {
      res.set_content(ca->certificate_pem + ca->chain_pem, "application/x-pem-file");
    }
  });
}

}  // namespace fca::crl
