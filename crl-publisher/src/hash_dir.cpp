#include "fca/crl/hash_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fca/core/x509.hpp"

namespace fca::crl {
namespace {

Result<void> write_atomically(const std::filesystem::path& file, const std::string& content) {
  const auto temporary = file.parent_path() / ("." + file.filename().string() + ".tmp");
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(Errc::storage, "cannot write " + temporary.string() + ": " + std::strerror(errno));
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      return fail(Errc::storage, "cannot write " + temporary.string() + ": " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || std::rename(temporary.c_str(), file.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return fail(Errc::storage, "cannot replace " + file.string() + ": " + std::strerror(errno));
  }
  return {};
}

std::string hash_name(const X509* cert) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", X509_subject_name_hash(const_cast<X509*>(cert)));
  return buf;
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::string> HashDirectory::slot_for(const X509* cert) {
  const std::string hash = hash_name(cert);
  for (int n = 0; n < 100; ++n) {
    const auto candidate = directory_ / (hash + "." + std::to_string(n));
    if (!std::filesystem::exists(candidate)) return hash + "." + std::to_string(n);
    auto existing = parse_certificate(read_file(candidate));
    // The same subject (a renewed CA) keeps its slot; another subject with the same hash moves on.
    if (existing && X509_NAME_cmp(X509_get_subject_name(existing->get()), X509_get_subject_name(const_cast<X509*>(cert))) == 0) {
      return hash + "." + std::to_string(n);
    }
  }
  return fail(Errc::storage, "hash directory has too many certificates with subject hash " + hash);
}

Result<void> HashDirectory::write_certificates(const std::vector<CaRecord>& cas) {
  std::lock_guard lock(mutex_);
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) return fail(Errc::storage, "cannot create " + directory_.string() + ": " + ec.message());
  for (const auto& ca : cas) {
    if (ca.state != CaState::active) continue;
    auto certs = parse_certificates(ca.certificate_pem + ca.chain_pem);
    if (!certs) return std::unexpected(certs.error());
    for (const auto& cert : *certs) {
      auto slot = slot_for(cert.get());
      if (!slot) return std::unexpected(slot.error());
      if (auto ok = write_atomically(directory_ / *slot, to_pem(cert.get())); !ok) return ok;
    }
  }
  return {};
}

Result<void> HashDirectory::write_crl(const CaRecord& ca, const CrlRecord& crl) {
  auto cert = parse_certificate(ca.certificate_pem);
  if (!cert) return std::unexpected(cert.error());
  std::lock_guard lock(mutex_);
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  auto slot = slot_for(cert->get());
  if (!slot) return std::unexpected(slot.error());
  if (!std::filesystem::exists(directory_ / *slot)) {
    if (auto ok = write_atomically(directory_ / *slot, to_pem(cert->get())); !ok) return ok;
  }
  const std::string crl_name = slot->substr(0, 8) + ".r" + slot->substr(9);
  const unsigned char* p = crl.der.data();
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl.der.size())));
  if (!parsed) return fail_openssl(Errc::internal, "stored CRL does not parse");
  return write_atomically(directory_ / crl_name, to_pem(parsed.get()));
}

}  // namespace fca::crl
