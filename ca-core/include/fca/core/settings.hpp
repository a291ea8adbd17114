#pragma once
// The parts of the configuration the core acts on. app/ reads and validates the JSON file.
#include <chrono>
#include <string>

#include "fca/core/policy.hpp"
#include "fca/core/profile.hpp"

namespace fca {

struct PublicationUrls {
  // Base of the plain-HTTP URLs put in issued certificates:
  //   CRL distribution point  {base}/crl/{ca}.crl
  //   freshest CRL (delta)    {base}/crl/{ca}-delta.crl
  //   OCSP (AIA)              {base}{ocsp_path}
  //   caIssuers (AIA)         {base}/ca/{ca}.crt
  // Empty: no CDP and no AIA.
  std::string base;
  std::string ocsp_path = "/ocsp";
  std::string crl_url(std::string_view ca_name) const;
  std::string delta_crl_url(std::string_view ca_name) const;
  std::string ocsp_url() const;
  std::string ca_issuers_url(std::string_view ca_name) const;
};

struct SubjectDefaults {
  std::string organization;  // O= for CA subjects (leaf subjects carry only the CN policy approved)
  std::string country;       // C= (two letters) for CA subjects
};

struct CaSettings {
  NamePolicy policy;
  ProfileSet profiles;
  PublicationUrls urls;
  SubjectDefaults subject;
  std::chrono::seconds backdate{std::chrono::minutes(5)};  // notBefore/thisUpdate skew allowance
};

}  // namespace fca
