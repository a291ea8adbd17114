#pragma once
// The policy of every HTTPS listener of `serve` (AMWA BCP-003-01), whatever it carries (EST, the
// REST API, OCSP/CRL over TLS): the BCP context from fca::http, an ECDSA and an RSA certificate
// (issued here from the listener's CA for its names when none is installed, renewed before expiry
// and swapped in without a restart), OCSP stapling of those certificates from the in-process
// responder, and client certificates requested (each front end verifies them against its own trust
// store). A front end only mounts routes; it never touches TLS.
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "fca/http/tls.hpp"
#include "instance.hpp"

namespace fca::app {

class ListenerTls {
 public:
  ListenerTls(Instance& instance, ListenerConfig listener);

  // The context for the listener: installed files, or issued certificates (made now when missing,
  // for other names, or due). Staples are fetched before it is returned.
  Result<std::shared_ptr<http::TlsContext>> make_context();
  // A new context when the issued certificates were renewed, or, with `reload_files` (SIGHUP), from
  // the installed files read again; nullopt: nothing changed. Also refreshes the staples. Called by
  // the scheduler.
  Result<std::optional<std::shared_ptr<http::TlsContext>>> refresh(bool reload_files = false);

 private:
  struct Served {
    X509Ptr leaf;
    X509Ptr issuer;  // null: not stapled (an installed chain without its issuer)
    std::vector<std::uint8_t> staple;
  };
  service::Principal principal() const;
  Result<void> ensure_issued(bool& renewed);
  bool due(const std::filesystem::path& chain_file) const;
  Result<std::shared_ptr<http::TlsContext>> build(const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& pairs);
  void refresh_staples();
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> issued_files() const;

  Instance& instance_;
  ListenerConfig listener_;
  // Shared with the staplers of every context made so far (connections keep their context).
  struct Staples {
    std::mutex mutex;
    std::vector<Served> served;
  };
  std::shared_ptr<Staples> staples_ = std::make_shared<Staples>();
};

}  // namespace fca::app
