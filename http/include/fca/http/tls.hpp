#pragma once
// TLS for HTTPS listeners. The context is the project's; the SSL_CTX under it is fully reachable
// (native()) so later work can install an RSA and an ECDSA certificate on one context, verify client
// certificates with its own callback and staple OCSP. A listener takes a new context at run time
// (Server::replace_tls) for certificate reloads; connections keep the one they started with.
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <vector>
#include <string>

#include <openssl/ssl.h>

namespace fca::http {

// AMWA BCP-003-01, in its priority order, and nothing else: TLS 1.3 suites, then the TLS 1.2 list.
inline constexpr const char* kBcp003Tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kBcp003Tls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
    "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256";

class TlsContext {
 public:
  // A server context with the BCP-003-01 policy: TLS 1.2 and 1.3 only, the lists above, server
  // preference, no compression, no renegotiation. No certificate yet.
  static std::expected<std::shared_ptr<TlsContext>, std::string> bcp003_server();

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Adds a PEM certificate chain (leaf first) and its key. Called once per key type, an RSA and an
  // ECDSA certificate live side by side and OpenSSL picks per client.
  std::expected<void, std::string> add_certificate(const std::string& chain_pem_file, const std::string& key_pem_file);

  // Asks every client for a certificate without requiring one. The chain reaches
  // Request::client_chain as sent (the TLS layer proves the client holds the leaf's key); which roots
  // vouch for it depends on the route (an EST label's trust store), so the front end verifies it.
  void request_client_certificates();
  // Stateless session resumption (tickets); off unless configured.
  void set_session_tickets(bool enabled);
  // OCSP stapling: `stapler(leaf)` gives the DER OCSPResponse for the certificate OpenSSL picked for
  // this client, empty for none. Runs on the I/O thread during the handshake: it must not block.
  using Stapler = std::function<std::vector<std::uint8_t>(X509* leaf)>;
  void staple_ocsp(Stapler stapler);

  // The hook for everything else (client verification callback, OCSP stapling, tickets).
  SSL_CTX* native();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  TlsContext();
  std::unique_ptr<Impl> impl_;
};

}  // namespace fca::http
