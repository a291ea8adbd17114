#pragma once
// The lab's file output: whole files with an exact mode (keys 0600), replaced when minted again.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fca/core/error.hpp"

namespace fca::lab {

Result<void> write_file(const std::filesystem::path& file, std::string_view content, unsigned mode);
Result<std::string> read_file(const std::filesystem::path& file);
// The PEM blocks of a bundle, each with its armour, in order.
std::vector<std::string> pem_blocks(std::string_view bundle);

}  // namespace fca::lab
