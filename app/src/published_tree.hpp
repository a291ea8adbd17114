#pragma once
// The tree `facility-ca ocsp export` writes for nginx, Varnish or a CDN to serve without asking the
// responder (docs/scale-out.md): every unexpired certificate's pre-signed answer at the file path of
// its RFC 5019 GET URL, each CA's CRL (DER and PEM) and certificate at the URLs `serve` uses.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "instance.hpp"

namespace fca::app {

struct PublishedTreeSummary {
  std::filesystem::path version;  // the directory the link now points at
  std::int64_t answers = 0;
  std::int64_t not_exported = 0;  // answered with an error, or with no file path (left to the responder)
  std::int64_t crls = 0;
};

// Writes a new version beside `link` (LINK.<nanoseconds>), then points the symbolic link `link` at
// it with one rename, so a web server never sees half a tree; older versions are removed after. A
// failure leaves the previous version served. `link` must not exist or be such a link.
Result<PublishedTreeSummary> write_published_tree(Instance& instance, const std::filesystem::path& link,
                                                  std::string_view ocsp_path);

// serve's keeper of the tree (ocsp.export_link), run by its scheduler: a new export when a CA's
// revocation revision or the number of certificates moved since the last one, or when the last one
// is older than `max_age` (the responder re-signs answers nearing nextUpdate; the tree needs them too).
class PublishedTreeKeeper {
 public:
  PublishedTreeKeeper(Instance& instance, std::filesystem::path link, std::chrono::seconds max_age)
      : instance_(instance), link_(std::move(link)), max_age_(max_age) {}
  void run();

 private:
  Result<std::string> fingerprint();

  Instance& instance_;
  std::filesystem::path link_;
  std::chrono::seconds max_age_;
  std::string exported_fingerprint_;
  std::chrono::steady_clock::time_point exported_at_{};
};

}  // namespace fca::app
