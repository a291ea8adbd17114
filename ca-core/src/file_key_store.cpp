#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fca/core/key_store.hpp"

#include <openssl/pem.h>

namespace fca {
namespace {

constexpr std::string_view kScheme = "file:";

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 128 || label.front() == '.') return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    if (!ok) return false;
  }
  return true;
}

// Creates the file exclusively with mode 0600 so a key is never readable by others, not even briefly.
Result<void> write_private_file(const std::filesystem::path& file, std::string_view content) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return fail(Errc::conflict, "key file " + file.string() + " exists already");
    return fail(Errc::key_failure, "cannot create " + file.string() + ": " + std::strerror(errno));
  }
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(file.c_str());
      return fail(Errc::key_failure, "cannot write " + file.string() + ": " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(file.c_str());
    return fail(Errc::key_failure, "cannot flush " + file.string());
  }
  return {};
}

}  // namespace

FileKeyStore::FileKeyStore(FileKeyStoreOptions options) : options_(std::move(options)) {}

Result<PKeyPtr> FileKeyStore::open(std::string_view uri) {
  if (!uri.starts_with(kScheme)) return fail(Errc::invalid_input, "not a file: key URI");
  const std::filesystem::path file(uri.substr(kScheme.size()));
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::key_failure, "cannot read key file " + file.string());
  std::ostringstream pem;
  pem << in.rdbuf();

  bool encrypted = false;
  auto key = read_private_key_pem(pem.str(), options_.passphrase.value_or(""), &encrypted);
  if (!key) {
    return fail(key.error().code == Errc::invalid_input ? Errc::key_failure : key.error().code,
                key.error().message + " (" + file.string() + ")");
  }
  if (!encrypted && !options_.allow_unencrypted) {
    return fail(Errc::key_failure, "key file " + file.string() +
                                       " is not encrypted; set keys.allow_unencrypted only for a lab instance");
  }
  return key;
}

Result<std::string> FileKeyStore::generate(const KeySpec& spec, std::string_view label) {
  auto key = generate_key(spec);
  if (!key) return std::unexpected(key.error());
  return write_key(key->get(), label);
}

Result<std::string> FileKeyStore::import(const EVP_PKEY* key, std::string_view label) { return write_key(key, label); }

Result<std::string> FileKeyStore::write_key(const EVP_PKEY* key, std::string_view label) {
  if (!valid_label(label)) return fail(Errc::invalid_input, "key label '" + std::string(label) + "' is not a plain name");
  std::string pem;
  if (options_.passphrase && !options_.passphrase->empty()) {
    auto encrypted = encrypted_private_key_pem(key, *options_.passphrase);
    if (!encrypted) return std::unexpected(encrypted.error());
    pem = std::move(*encrypted);
  } else if (options_.allow_unencrypted) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
      return fail_openssl(Errc::key_failure, "cannot encode private key");
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    pem.assign(data, static_cast<std::size_t>(len));
  } else {
    return fail(Errc::key_failure, "no key passphrase configured (keys.passphrase_file or keys.passphrase_env)");
  }

  std::error_code ec;
  std::filesystem::create_directories(options_.directory, ec);
  if (ec) return fail(Errc::key_failure, "cannot create " + options_.directory.string() + ": " + ec.message());
  std::filesystem::permissions(options_.directory, std::filesystem::perms::owner_all, ec);

  const auto file = std::filesystem::absolute(options_.directory / (std::string(label) + ".key.pem"));
  if (auto written = write_private_file(file, pem); !written) return std::unexpected(written.error());
  return std::string(kScheme) + file.string();
}

}  // namespace fca
