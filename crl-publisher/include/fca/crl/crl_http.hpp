#pragma once
// CRLs and CA certificates over plain HTTP, at the URLs issued certificates carry:
//   GET /crl/{ca}.crl  DER  application/pkix-crl      GET /crl/{ca}.pem  PEM
//   GET /crl/{ca}-delta.crl, /crl/{ca}-delta.pem      the CA's delta CRL against its full CRL
//   GET /ca/{ca}.crt   DER  application/pkix-cert     GET /ca/{ca}.pem   PEM (the CA and its chain)
// The routes read no repository: `app/` hands them a lookup of a CA by name.
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include <spdlog/logger.h>

#include "fca/core/crl.hpp"
#include "fca/core/lab_faults.hpp"
#include "fca/core/repository.hpp"
#include "fca/http/router.hpp"

namespace fca::crl {

struct CrlHttpSettings {
  std::chrono::seconds max_age_cap{std::chrono::minutes(15)};  // Cache-Control max-age never exceeds this
};

// A CA by the name its certificates' URLs carry (CaRecord::publication_name; its record carries the
// certificate and the chain above it); Errc::not_found when there is none.
using CaLookup = std::function<Result<CaRecord>(std::string_view name)>;

class CrlFrontEnd {
 public:
  // With lab faults (a lab instance only), a CA's CRL is first checked for a fault that applies.
  CrlFrontEnd(CaLookup find_ca, CrlService& crls, CrlHttpSettings settings, std::shared_ptr<spdlog::logger> log,
              std::shared_ptr<LabCrlFaults> lab_faults = nullptr);

  http::Response crl(const http::Request& request) const;          // /crl/...
  http::Response certificate(const http::Request& request) const;  // /ca/...

  // GET (and HEAD) under /crl/ and /ca/, on the worker pool: a CRL may have to be built and signed.
  void mount(http::Router& router) const;

 private:
  CaLookup find_ca_;
  CrlService& crls_;
  CrlHttpSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<LabCrlFaults> lab_faults_;
};

}  // namespace fca::crl
