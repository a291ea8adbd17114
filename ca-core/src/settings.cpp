#include "fca/core/settings.hpp"

namespace fca {
namespace {
std::string trimmed_base(const std::string& base) {
  std::string out = base;
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}
}  // namespace

std::string PublicationUrls::crl_url(std::string_view ca_name) const {
  return base.empty() ? "" : trimmed_base(base) + "/crl/" + std::string(ca_name) + ".crl";
}
std::string PublicationUrls::delta_crl_url(std::string_view ca_name) const {
  return base.empty() ? "" : trimmed_base(base) + "/crl/" + std::string(ca_name) + "-delta.crl";
}
std::string PublicationUrls::ocsp_url() const { return base.empty() ? "" : trimmed_base(base) + ocsp_path; }
std::string PublicationUrls::ca_issuers_url(std::string_view ca_name) const {
  return base.empty() ? "" : trimmed_base(base) + "/ca/" + std::string(ca_name) + ".crt";
}

}  // namespace fca
