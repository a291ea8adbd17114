#include "files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sstream>

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

Result<std::string> read_input(const std::filesystem::path& file) {
  if (file == "-") {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return fail(errno == ENOENT ? Errc::not_found : Errc::storage, "cannot read " + file.string() + ": " + errno_text());
  }
  std::string content;
  std::array<char, 16384> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::storage, "cannot read " + file.string() + ": " + errno_text());
    }
    if (n == 0) break;
    content.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return content;
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
