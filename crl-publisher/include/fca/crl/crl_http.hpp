#pragma once
// CRLs and CA certificates over plain HTTP, at the URLs issued certificates carry:
//   GET /crl/{ca}.crl  DER  application/pkix-crl      GET /crl/{ca}.pem  PEM
//   GET /ca/{ca}.crt   DER  application/pkix-cert     GET /ca/{ca}.pem   PEM (the CA and its chain)
#include <chrono>
#include <memory>

#include <spdlog/logger.h>

#include "fca/core/crl.hpp"
#include "fca/core/repository.hpp"

namespace httplib {
class Server;
}

namespace fca::crl {

struct CrlHttpSettings {
  std::chrono::seconds max_age_cap{std::chrono::minutes(15)};  // Cache-Control max-age never exceeds this
};

void mount(httplib::Server& server, CaRepository& cas, CrlService& crls, CrlHttpSettings settings,
           std::shared_ptr<spdlog::logger> log);

}  // namespace fca::crl
