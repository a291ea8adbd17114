#pragma once
// mDNS advertisement of the EST server through avahi-publish (Avahi's client over D-Bus), when
// est.mdns is set. Absent tool or daemon: a log line says so and serve goes on; unicast DNS-SD
// (`facility-ca dns-sd`) is what BCP-003-01 requires anyway.
#include <sys/types.h>

#include <spdlog/logger.h>

#include "dns_sd.hpp"

namespace fca::app {

class MdnsAdvertiser {
 public:
  MdnsAdvertiser() = default;
  ~MdnsAdvertiser();
  MdnsAdvertiser(const MdnsAdvertiser&) = delete;
  MdnsAdvertiser& operator=(const MdnsAdvertiser&) = delete;

  // Starts avahi-publish for `advert`; false (and a warning) when it cannot.
  bool start(spdlog::logger& log, const DnsSdAdvert& advert);
  void stop();

 private:
  pid_t child_ = -1;
};

}  // namespace fca::app
