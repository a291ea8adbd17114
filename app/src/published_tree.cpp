#include "published_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "fca/core/x509.hpp"
#include "fca/ocsp/published_tree.hpp"

namespace fca::app {
namespace {

namespace fs = std::filesystem;
constexpr auto kPublicFile = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
constexpr auto kPublicDirectory = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec;

// Public data (web servers run as another user), so modes are set whatever the umask.
Result<void> make_directories(const fs::path& directory, const fs::path& below) {
  std::error_code ec;
  fs::path current = below;
  for (const auto& part : fs::relative(directory, below)) {
    current /= part;
    if (fs::is_directory(current, ec)) continue;
    if (!fs::create_directory(current, ec) && ec) return fail(Errc::storage, "cannot create " + current.string() + ": " + ec.message());
    fs::permissions(current, kPublicDirectory, ec);
  }
  return {};
}

// Not fsynced one by one: the tree is only served once the whole version is synced and linked.
Result<void> write_public(const fs::path& root, const fs::path& relative, std::string_view content,
                          std::optional<TimePoint> modified = std::nullopt) {
  const auto file = root / relative;
  if (auto made = make_directories(file.parent_path(), root); !made) return made;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out.flush()) return fail(Errc::storage, "cannot write " + file.string());
  }
  std::error_code ec;
  fs::permissions(file, kPublicFile, ec);
  if (modified) {
    // A web server's Last-Modified (and nginx's `expires modified`) then follow thisUpdate.
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(modified->time_since_epoch()).count();
    const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ::utimensat(AT_FDCWD, file.c_str(), times, 0);
  }
  return {};
}

bool is_version_of(const fs::path& candidate, const fs::path& link) {
  const auto name = candidate.filename().string();
  const auto prefix = link.filename().string() + ".";
  if (!name.starts_with(prefix) || name.size() == prefix.size()) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<PublishedTreeSummary> write_published_tree(Instance& instance, const fs::path& link_in, std::string_view ocsp_path) {
  const auto link = fs::absolute(link_in).lexically_normal();
  std::error_code ec;
  if (fs::exists(fs::symlink_status(link, ec)) && !fs::is_symlink(fs::symlink_status(link, ec))) {
    return fail(Errc::conflict, link.string() + " exists and is not the link `ocsp export` makes");
  }
  const auto& who = instance.operator_principal();
  auto& service = instance.service();
  const auto now = service.clock().now();
  PublishedTreeSummary summary;
  summary.version = link.string() + "." +
                    std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch()).count());
  if (auto made = make_directories(summary.version, link.parent_path()); !made) return std::unexpected(made.error());
  // Until the link points at it, a version that failed half-way is removed.
  struct RemoveUnlessLinked {
    const fs::path& version;
    bool linked = false;
    ~RemoveUnlessLinked() {
      std::error_code ignored;
      if (!linked) fs::remove_all(version, ignored);
    }
  } cleanup{summary.version};
  const fs::path ocsp_directory = fs::path(std::string(ocsp_path)).relative_path();

  // The responders a running serve would answer with (issued or renewed here when due). A CA that
  // cannot have one (its key offline, or a lab CA expired on purpose) does not stop the others: its
  // certificates are left to the responder.
  if (auto signers = instance.ocsp().ensure_signers(); !signers) {
    instance.log().warn("ocsp export: {}", signers.error().message);
  }
  auto cas = service.list_cas(who);
  if (!cas) return std::unexpected(cas.error());
  for (const auto& ca : *cas) {
    if (ca.record.state != CaState::active) continue;
    auto issuer = parse_certificate(ca.record.certificate_pem);
    if (!issuer) return std::unexpected(issuer.error());
    const auto& name = ca.record.name;
    // The files sit at the URLs the CA's certificates carry: its publication name (a rollover moves `name`).
    const auto& published = ca.record.url_name();
    const auto der = to_der(issuer->get());
    if (auto w = write_public(summary.version, fs::path("ca") / (published + ".crt"), {reinterpret_cast<const char*>(der.data()), der.size()});
        !w) {
      return std::unexpected(w.error());
    }
    if (auto w = write_public(summary.version, fs::path("ca") / (published + ".pem"), ca.record.certificate_pem + ca.record.chain_pem); !w) {
      return std::unexpected(w.error());
    }
    if (auto crl = instance.crls().current(ca.record)) {
      const std::string_view crl_der(reinterpret_cast<const char*>(crl->der.data()), crl->der.size());
      const unsigned char* p = crl->der.data();
      X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->der.size())));
      if (!parsed) return fail(Errc::internal, "the stored CRL of " + name + " does not parse");
      if (auto w = write_public(summary.version, fs::path("crl") / (published + ".crl"), crl_der, crl->this_update); !w) {
        return std::unexpected(w.error());
      }
      if (auto w = write_public(summary.version, fs::path("crl") / (published + ".pem"), to_pem(parsed.get()), crl->this_update); !w) {
        return std::unexpected(w.error());
      }
      ++summary.crls;
    } else {
      instance.log().warn("ocsp export: no CRL for CA '{}': {}", name, crl.error().message);
    }
    // The delta CRL certificates name in freshestCRL, at its URL path too.
    if (auto delta = instance.crls().current_delta(ca.record)) {
      const unsigned char* p = delta->der.data();
      X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(delta->der.size())));
      if (!parsed) return fail(Errc::internal, "the stored delta CRL of " + name + " does not parse");
      const std::string_view delta_der(reinterpret_cast<const char*>(delta->der.data()), delta->der.size());
      if (auto w = write_public(summary.version, fs::path("crl") / (published + "-delta.crl"), delta_der, delta->this_update); !w) {
        return std::unexpected(w.error());
      }
      if (auto w = write_public(summary.version, fs::path("crl") / (published + "-delta.pem"), to_pem(parsed.get()),
                                delta->this_update);
          !w) {
        return std::unexpected(w.error());
      }
    } else {
      instance.log().warn("ocsp export: no delta CRL for CA '{}': {}", name, delta.error().message);
    }

    service::CertificateQuery query;
    query.ca = name;
    query.limit = service::Service::kMaxPage;
    for (;;) {
      auto page = service.list_certificates(who, query);
      if (!page) return std::unexpected(page.error());
      for (const auto& certificate : page->items) {
        if (certificate.record.not_after <= now) continue;
        auto request = ocsp::rfc5019_request(issuer->get(), certificate.record.serial);
        if (!request) return std::unexpected(request.error());
        const auto file = ocsp::file_path_of(*request);
        auto answer = instance.ocsp().respond(*request);
        if (file.empty() || answer.outcome != OcspOutcome::successful) {
          ++summary.not_exported;
          continue;
        }
        const std::string_view bytes(reinterpret_cast<const char*>(answer.der.data()), answer.der.size());
        if (auto w = write_public(summary.version, ocsp_directory / file, bytes, answer.this_update); !w) {
          return std::unexpected(w.error());
        }
        ++summary.answers;
      }
      if (!page->next_cursor) break;
      query.cursor = page->next_cursor;
    }
  }

  // Durable before it is linked: after a crash the link names a whole version or the previous one.
  if (const int fd = ::open(summary.version.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    const int synced = ::syncfs(fd);
    ::close(fd);
    if (synced != 0) return fail(Errc::storage, "cannot sync " + summary.version.string());
  }
  const auto staged = fs::path(link.string() + ".link");
  fs::remove(staged, ec);
  fs::create_symlink(summary.version.filename(), staged, ec);
  if (ec) return fail(Errc::storage, "cannot create " + staged.string() + ": " + ec.message());
  if (::rename(staged.c_str(), link.c_str()) != 0) {
    fs::remove(staged, ec);
    return fail(Errc::storage, "cannot point " + link.string() + " at the new version");
  }
  cleanup.linked = true;
  for (const auto& entry : fs::directory_iterator(link.parent_path(), ec)) {
    if (entry.path() != summary.version && is_version_of(entry.path(), link)) fs::remove_all(entry.path(), ec);
  }
  return summary;
}

Result<std::string> PublishedTreeKeeper::fingerprint() {
  auto& store = instance_.database();
  auto cas = store.list_cas();
  if (!cas) return std::unexpected(cas.error());
  auto count = store.count_certificates();
  if (!count) return std::unexpected(count.error());
  std::string out = std::to_string(*count);
  for (const auto& ca : *cas) {
    auto revision = store.revocation_revision(ca.id);
    if (!revision) return std::unexpected(revision.error());
    out += " " + std::to_string(ca.id) + ":" + std::to_string(*revision);
  }
  return out;
}

void PublishedTreeKeeper::run() {
  auto now_fingerprint = fingerprint();
  if (!now_fingerprint) {
    instance_.log().error("ocsp export: {}", now_fingerprint.error().message);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const bool stale = exported_fingerprint_.empty() || now - exported_at_ >= max_age_;
  if (!stale && *now_fingerprint == exported_fingerprint_) return;
  auto written = write_published_tree(instance_, link_, instance_.config().ocsp.path);
  if (!written) {
    // The previous tree stays served; the next pass tries again.
    instance_.log().error("ocsp export to {}: {}", link_.string(), written.error().message);
    return;
  }
  exported_fingerprint_ = *now_fingerprint;
  exported_at_ = now;
  instance_.log().info("ocsp export: {} answers, {} CRLs in {}", written->answers, written->crls, written->version.string());
}

}  // namespace fca::app
