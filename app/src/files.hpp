#pragma once
// File and secret I/O for the CLI: modes are set explicitly because keys and secrets must never be
// readable by anyone but the owner, whatever the umask.
#include <filesystem>
#include <string>
#include <string_view>

#include "fca/core/error.hpp"

namespace fca::app {

// Reads a whole file; "-" reads standard input.
Result<std::string> read_input(const std::filesystem::path& file);

enum class Overwrite { refuse, allow };

// Writes `content` with exactly `mode` (0600 for private material, 0644 for certificates) and fsyncs it.
// Overwrite::refuse fails with Errc::conflict when the file exists.
Result<void> write_output(const std::filesystem::path& file, std::string_view content, unsigned mode,
                          Overwrite overwrite = Overwrite::allow);
// Writes a sibling temporary file and renames it over `file`, so readers never see half a file.
Result<void> write_atomically(const std::filesystem::path& file, std::string_view content, unsigned mode);

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
