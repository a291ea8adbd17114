#pragma once
// DNS-SD advertisement of the EST server (AMWA BCP-003-03: `_nmos-certs._tcp` with TXT api_proto,
// api_ver, api_selector, pri), as a zone-file snippet and nsupdate input for unicast DNS-SD, and the
// argument list of avahi-publish for mDNS. The advertised host is one the listener's certificates
// carry (BCP-003-01), so a client that checks names accepts the server it finds.
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "fca/core/error.hpp"

namespace fca::app {

struct DnsSdOptions {
  std::string domain;                // unicast zone, e.g. "example.test"
  std::optional<std::string> host;   // default: the first DNS name of the first HTTPS listener serving EST
  std::string label;                 // the EST label advertised as api_selector ("" for /.well-known/est/)
  int priority = 100;
  std::string instance = "facility-ca";
  int ttl = 3600;
};

struct DnsSdAdvert {
  std::string instance;
  std::string host;  // without the trailing dot
  int port = 0;
  std::vector<std::string> txt;  // "key=value"
};

// Errc::not_found when no HTTPS listener serves EST; Errc::policy_refused for a host its
// certificates do not name, or a label the config does not have.
Result<DnsSdAdvert> est_advert(const Config& config, const DnsSdOptions& options);
std::string zone_snippet(const DnsSdAdvert& advert, const DnsSdOptions& options);
std::string nsupdate_input(const DnsSdAdvert& advert, const DnsSdOptions& options);

}  // namespace fca::app
