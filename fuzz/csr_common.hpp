#pragma once
#include <openssl/err.h>

#include <cstdint>
#include <string_view>

#include "fca/core/keys.hpp"
#include "fca/core/policy.hpp"
#include "fca/core/profile.hpp"
#include "fca/core/x509.hpp"

namespace fca::fuzz {

inline void check_csr(std::string_view input) {
  auto csr = parse_csr(input);
  if (csr) {
    EVP_PKEY* key = X509_REQ_get0_pubkey(csr->get());
    if (key) {
      X509_REQ_verify(csr->get(), key);
      if (auto info = describe_key(key)) approve_key(NamePolicy{}, *info);
    }
    static const Profile profile = *ProfileSet{}.find("nmos-node");
    NamePolicy policy;
    policy.allow_ip_sans = true;
    approve_names(policy, profile, common_name(X509_REQ_get_subject_name(csr->get())),
                  requested_subject_alt_names(csr->get()));
  }
  ERR_clear_error();
}

}  // namespace fca::fuzz
