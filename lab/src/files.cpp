#include "files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fca::lab {

Result<void> write_file(const std::filesystem::path& file, std::string_view content, unsigned mode) {
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(Errc::storage, "cannot write " + file.string() + ": " + std::strerror(errno));
  // An older file keeps its mode through O_CREAT; a key must end up 0600 whatever was there.
  bool ok = fchmod(fd, mode) == 0;
  std::size_t written = 0;
  while (ok && written < content.size()) {
    const ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<std::size_t>(n);
  }
  const int saved = errno;
  close(fd);
  if (!ok) return fail(Errc::storage, "cannot write " + file.string() + ": " + std::strerror(saved));
  return {};
}

Result<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::not_found, "cannot read " + file.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> pem_blocks(std::string_view bundle) {
  std::vector<std::string> blocks;
  constexpr std::string_view begin = "-----BEGIN ";
  constexpr std::string_view end = "-----END ";
  std::size_t at = 0;
  while ((at = bundle.find(begin, at)) != std::string_view::npos) {
    const auto stop = bundle.find(end, at);
    if (stop == std::string_view::npos) break;
    auto line_end = bundle.find('\n', stop);
    if (line_end == std::string_view::npos) line_end = bundle.size() - 1;
    blocks.emplace_back(bundle.substr(at, line_end + 1 - at));
    at = line_end + 1;
  }
  return blocks;
}

}  // namespace fca::lab
