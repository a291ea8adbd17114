#pragma once
// File and secret I/O for the CLI: modes are set explicitly because keys and secrets must never be
// readable by anyone but the owner, whatever the umask.
#include <filesystem>
#include <string>
#include <string_view>

#include "fca/core/error.hpp"

namespace fca::app {

// Every file or stdin input of the CLI (CSRs, certificates, keys, secrets) is PEM or DER of one object:
// 1 MiB is far beyond any of them, and `--csr /dev/zero` must not read forever.
inline constexpr std::size_t kMaxInputBytes = 1024 * 1024;

// Reads a whole file; "-" reads standard input. More than `limit` bytes is Errc::invalid_input.
Result<std::string> read_input(const std::filesystem::path& file, std::size_t limit = kMaxInputBytes);

enum class Overwrite { refuse, allow };

// Writes `content` with exactly `mode` (0600 for private material, 0644 for certificates) and fsyncs it.
// Overwrite::refuse fails with Errc::conflict when the file exists.
Result<void> write_output(const std::filesystem::path& file, std::string_view content, unsigned mode,
                          Overwrite overwrite = Overwrite::allow);
// Writes a sibling temporary file and renames it over `file`, so readers never see half a file.
Result<void> write_atomically(const std::filesystem::path& file, std::string_view content, unsigned mode);

// An output file of a command that first commits something (an issued certificate, a pending CA) and
// then writes it: prepare() runs before the commit and checks what can be checked up front -- the file
// must not exist (Errc::conflict), its directory must take a new file (Errc::storage) -- by creating a
// unique temporary file beside it and reserving `reserve` bytes of disk space in it. commit() writes,
// fsyncs and moves the temporary into place without replacing anything (renameat2 RENAME_NOREPLACE, so
// a file that appeared meanwhile is still refused). An output that was never committed removes its
// temporary. An empty path is an inactive output: commit() does nothing.
class PendingOutput {
 public:
  PendingOutput() = default;
  static Result<PendingOutput> prepare(const std::filesystem::path& file, unsigned mode, std::size_t reserve = 64 * 1024);
  PendingOutput(PendingOutput&& other) noexcept;
  PendingOutput& operator=(PendingOutput&& other) noexcept;
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;
  ~PendingOutput();

  bool active() const { return fd_ >= 0; }
  const std::filesystem::path& path() const { return file_; }
  Result<void> commit(std::string_view content);

 private:
  void discard();
  std::filesystem::path file_;
  std::filesystem::path temporary_;
  int fd_ = -1;
};

// The --out and --chain-out of `issue` and `renew`, prepared together (the same path twice is refused).
struct CertificateOutputs {
  PendingOutput certificate;
  PendingOutput chain;
  static Result<CertificateOutputs> prepare(const std::filesystem::path& out, const std::filesystem::path& chain_out);
};

// Creates the directory (and parents) when missing, the directory itself with mode 0700. An existing
// directory is left as it is.
Result<void> ensure_private_directory(const std::filesystem::path& directory);

// A secret stored in a file: the content without trailing line breaks; empty is an error.
Result<std::string> read_secret_file(const std::filesystem::path& file);
// A secret held in an environment variable; unset or empty is an error.
Result<std::string> read_secret_env(std::string_view variable);
// Makes a new 0600 file holding 32 random bytes, base64-encoded. Never overwrites.
Result<void> create_random_secret_file(const std::filesystem::path& file);

}  // namespace fca::app
