#include "files.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <utility>

namespace fca::app {
namespace {

std::string errno_text() { return std::strerror(errno); }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closing can report a deferred write error, so the caller sees it.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

Result<void> write_all(int fd, std::string_view content, const std::filesystem::path& file) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::storage, "cannot write " + file.string() + ": " + errno_text());
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> write_with_flags(const std::filesystem::path& file, std::string_view content, unsigned mode, int flags) {
  FileDescriptor fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) return fail(Errc::conflict, file.string() + " exists already");
    return fail(Errc::storage, "cannot create " + file.string() + ": " + errno_text());
  }
  // open() applies the umask and leaves an existing file's mode alone; the mode is the point here.
  if (::fchmod(fd.get(), mode) != 0) return fail(Errc::storage, "cannot set the mode of " + file.string() + ": " + errno_text());
  if (auto written = write_all(fd.get(), content, file); !written) return written;
  if (::fsync(fd.get()) != 0) return fail(Errc::storage, "cannot sync " + file.string() + ": " + errno_text());
  if (!fd.close()) return fail(Errc::storage, "cannot close " + file.string() + ": " + errno_text());
  return {};
}

std::string without_trailing_newlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

namespace {

Result<std::string> read_limited(int fd, const std::string& name, std::size_t limit) {
  std::string content;
  std::array<char, 16384> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::storage, "cannot read " + name + ": " + errno_text());
    }
    if (n == 0) break;
    content.append(buffer.data(), static_cast<std::size_t>(n));
    if (content.size() > limit) {
      return fail(Errc::invalid_input, name + " is larger than " + std::to_string(limit) + " bytes: refused");
    }
  }
  return content;
}

}  // namespace

Result<std::string> read_input(const std::filesystem::path& file, std::size_t limit) {
  if (file == "-") return read_limited(STDIN_FILENO, "standard input", limit);
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return fail(errno == ENOENT ? Errc::not_found : Errc::storage, "cannot read " + file.string() + ": " + errno_text());
  }
  return read_limited(fd.get(), file.string(), limit);
}

Result<void> write_output(const std::filesystem::path& file, std::string_view content, unsigned mode,
                          Overwrite overwrite) {
  return write_with_flags(file, content, mode, overwrite == Overwrite::refuse ? O_EXCL : O_TRUNC);
}

Result<void> write_atomically(const std::filesystem::path& file, std::string_view content, unsigned mode) {
  auto temporary = file;
  temporary += ".tmp";
  std::error_code ec;
  std::filesystem::remove(temporary, ec);
  if (auto written = write_with_flags(temporary, content, mode, O_EXCL); !written) return written;
  std::filesystem::rename(temporary, file, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return fail(Errc::storage, "cannot rename into " + file.string() + ": " + ec.message());
  }
  return {};
}

Result<PendingOutput> PendingOutput::prepare(const std::filesystem::path& file, unsigned mode, std::size_t reserve) {
  PendingOutput output;
  if (file.empty()) return output;
  struct stat existing{};
  if (::lstat(file.c_str(), &existing) == 0) return fail(Errc::conflict, file.string() + " exists already");
  if (errno != ENOENT) return fail(Errc::storage, "cannot write " + file.string() + ": " + errno_text());
  const auto directory = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  output.file_ = file;
  // mkstemp gives a fresh name with O_EXCL: two commands writing beside each other never share one.
  std::string pattern = (directory / ("." + file.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) return fail(Errc::storage, "cannot write " + file.string() + ": " + errno_text());
  output.fd_ = fd;
  output.temporary_ = pattern;
  if (::fchmod(fd, mode) != 0) return fail(Errc::storage, "cannot set the mode of " + file.string() + ": " + errno_text());
  // Reserving the space now turns a full disk into a refusal before anything is committed. File
  // systems without fallocate (EOPNOTSUPP) just go without the reservation.
  if (reserve > 0) {
    const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(reserve));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
      return fail(Errc::storage, "cannot write " + file.string() + ": " + std::strerror(err));
    }
  }
  return output;
}

PendingOutput::PendingOutput(PendingOutput&& other) noexcept
    : file_(std::move(other.file_)), temporary_(std::move(other.temporary_)), fd_(std::exchange(other.fd_, -1)) {}

PendingOutput& PendingOutput::operator=(PendingOutput&& other) noexcept {
  if (this != &other) {
    discard();
    file_ = std::move(other.file_);
    temporary_ = std::move(other.temporary_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

PendingOutput::~PendingOutput() { discard(); }

void PendingOutput::discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temporary_.c_str());
}

Result<void> PendingOutput::commit(std::string_view content) {
  if (fd_ < 0) return {};
  auto failed = [&](const std::string& what) {
    const std::string message = what + " " + file_.string() + ": " + errno_text();
    discard();
    return fail(Errc::storage, message);
  };
  if (auto written = write_all(fd_, content, file_); !written) {
    discard();
    return written;
  }
  if (::ftruncate(fd_, static_cast<off_t>(content.size())) != 0) return failed("cannot write");
  if (::fsync(fd_) != 0) return failed("cannot sync");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    ::unlink(temporary_.c_str());
    return fail(Errc::storage, "cannot close " + file_.string() + ": " + errno_text());
  }
  if (::renameat2(AT_FDCWD, temporary_.c_str(), AT_FDCWD, file_.c_str(), RENAME_NOREPLACE) != 0) {
    const bool exists = errno == EEXIST;
    const std::string reason = errno_text();
    ::unlink(temporary_.c_str());
    if (exists) return fail(Errc::conflict, file_.string() + " appeared meanwhile; not replaced");
    return fail(Errc::storage, "cannot write " + file_.string() + ": " + reason);
  }
  return {};
}

Result<CertificateOutputs> CertificateOutputs::prepare(const std::filesystem::path& out,
                                                       const std::filesystem::path& chain_out) {
  if (!out.empty() && out.lexically_normal() == chain_out.lexically_normal()) {
    return fail(Errc::invalid_input, "--out and --chain-out name the same file");
  }
  CertificateOutputs outputs;
  auto certificate = PendingOutput::prepare(out, 0644);
  if (!certificate) return std::unexpected(certificate.error());
  auto chain = PendingOutput::prepare(chain_out, 0644);
  if (!chain) return std::unexpected(chain.error());
  outputs.certificate = std::move(*certificate);
  outputs.chain = std::move(*chain);
  return outputs;
}

Result<void> ensure_private_directory(const std::filesystem::path& directory) {
  std::error_code ec;
  // An existing directory keeps its mode: it may be the operator's own (".", a home directory).
  if (std::filesystem::is_directory(directory, ec)) return {};
  std::filesystem::create_directories(directory, ec);
  if (ec) return fail(Errc::storage, "cannot create " + directory.string() + ": " + ec.message());
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
  if (ec) return fail(Errc::storage, "cannot set the mode of " + directory.string() + ": " + ec.message());
  return {};
}

Result<std::string> read_secret_file(const std::filesystem::path& file) {
  auto content = read_input(file);
  if (!content) return std::unexpected(content.error());
  auto secret = without_trailing_newlines(std::move(*content));
  if (secret.empty()) return fail(Errc::key_failure, file.string() + " is empty");
  return secret;
}

Result<std::string> read_secret_env(std::string_view variable) {
  const std::string name(variable);
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return fail(Errc::key_failure, "environment variable " + name + " is not set");
  return std::string(value);
}

Result<void> create_random_secret_file(const std::filesystem::path& file) {
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return fail(Errc::internal, "the random generator failed");
  }
  std::array<unsigned char, 4 * ((32 + 2) / 3) + 1> encoded{};
  const int length = EVP_EncodeBlock(encoded.data(), random.data(), static_cast<int>(random.size()));
  std::string secret(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(length));
  OPENSSL_cleanse(random.data(), random.size());
  if (auto directory = ensure_private_directory(file.parent_path()); !directory) return directory;
  auto written = write_output(file, secret + "\n", 0600, Overwrite::refuse);
  OPENSSL_cleanse(secret.data(), secret.size());
  return written;
}

}  // namespace fca::app
