#include "fca/crl/hash_dir.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fca/core/x509.hpp"

namespace fca::crl {
namespace {

std::unexpected<Error> storage_failure(const std::string& what, const std::filesystem::path& file) {
  return fail(Errc::storage, what + " " + file.string() + ": " + std::strerror(errno));
}

struct Descriptor {
  int fd = -1;
  explicit Descriptor(int value) : fd(value) {}
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
};

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

// The cRLNumber of the PEM CRL in `file` signed by `ca`; none when there is no file, no readable CRL
// in it, or a CRL of another key (a CA made anew under the same name): that one is simply replaced.
std::optional<std::int64_t> crl_number_on_disk(const std::filesystem::path& file, const X509* ca) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  const std::string pem = read_file(file);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::nullopt;
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return std::nullopt;
  EVP_PKEY* ca_key = X509_get0_pubkey(ca);
  if (ca_key == nullptr || X509_CRL_verify(crl.get(), ca_key) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  std::int64_t value = 0;
  if (!number || ASN1_INTEGER_get_int64(&value, number.get()) != 1) return std::nullopt;
  return value;
}

}  // namespace

Result<int> HashDirectory::open_locked() {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) return fail(Errc::storage, "cannot create " + directory_.string() + ": " + ec.message());
  const int fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return storage_failure("cannot open", directory_);
  Descriptor directory(fd);
  if (group_ && ::fchown(fd, static_cast<uid_t>(-1), *group_) != 0) {
    return storage_failure("cannot give the group of crl.hash_dir_group to", directory_);
  }
  if (::fchmod(fd, group_ ? 0750 : 0755) != 0) return storage_failure("cannot set the mode of", directory_);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return storage_failure("cannot lock", directory_);
  }
  directory.fd = -1;
  return fd;
}

Result<void> HashDirectory::write_atomically(const std::filesystem::path& file, const std::string& content) {
  // A name no other publisher can have: two writers never share (or truncate) a temporary file.
  std::string temporary = (file.parent_path() / ("." + file.filename().string() + ".XXXXXX")).string();
  Descriptor out(::mkostemp(temporary.data(), O_CLOEXEC));
  if (out.fd < 0) return storage_failure("cannot create a temporary file for", file);
  auto failed = [&](const std::string& what) {
    auto error = storage_failure(what, file);
    ::unlink(temporary.c_str());
    return error;
  };
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(out.fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("cannot write");
    written += static_cast<std::size_t>(n);
  }
  if (group_ && ::fchown(out.fd, static_cast<uid_t>(-1), *group_) != 0) return failed("cannot set the group of");
  if (::fchmod(out.fd, group_ ? 0640 : 0644) != 0) return failed("cannot set the mode of");
  if (::fsync(out.fd) != 0) return failed("cannot fsync");
  if (::rename(temporary.c_str(), file.c_str()) != 0) return failed("cannot replace");
  Descriptor directory(::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.fd >= 0) ::fsync(directory.fd);
  return {};
}

Result<std::string> HashDirectory::slot_for(const X509* cert) {
  const std::string hash = hash_name(cert);
  for (int n = 0; n < 100; ++n) {
    const auto candidate = directory_ / (hash + "." + std::to_string(n));
    if (!std::filesystem::exists(candidate)) return hash + "." + std::to_string(n);
    auto existing = parse_certificate(read_file(candidate));
    // The same subject and key (a renewed CA) keeps its slot; another subject with the same hash, or
    // another key under the same subject (the generations of a rolled-over CA), moves on.
    if (existing && X509_NAME_cmp(X509_get_subject_name(existing->get()), X509_get_subject_name(const_cast<X509*>(cert))) == 0 &&
        EVP_PKEY_eq(X509_get0_pubkey(existing->get()), X509_get0_pubkey(cert)) == 1) {
      return hash + "." + std::to_string(n);
    }
  }
  return fail(Errc::storage, "hash directory has too many certificates with subject hash " + hash);
}

Result<void> HashDirectory::write_certificates(const std::vector<CaRecord>& cas) {
  std::lock_guard lock(mutex_);
  auto locked = open_locked();
  if (!locked) return std::unexpected(locked.error());
  Descriptor directory(*locked);
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
  const unsigned char* p = crl.der.data();
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl.der.size())));
  if (!parsed) return fail_openssl(Errc::internal, "stored CRL does not parse");

  std::lock_guard lock(mutex_);
  auto locked = open_locked();
  if (!locked) return std::unexpected(locked.error());
  Descriptor directory(*locked);
  auto slot = slot_for(cert->get());
  if (!slot) return std::unexpected(slot.error());
  if (!std::filesystem::exists(directory_ / *slot)) {
    if (auto ok = write_atomically(directory_ / *slot, to_pem(cert->get())); !ok) return ok;
  }
  const auto crl_file = directory_ / (slot->substr(0, 8) + ".r" + slot->substr(9));
  // Under the directory lock, so no other publisher can replace the file between this check and the rename.
  if (auto on_disk = crl_number_on_disk(crl_file, cert->get()); on_disk && *on_disk >= crl.number) return {};
  return write_atomically(crl_file, to_pem(parsed.get()));
}

}  // namespace fca::crl
