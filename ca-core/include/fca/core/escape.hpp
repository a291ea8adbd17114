#pragma once
// Outside text (CSR names, paths, HTTP headers and paths) reaches log lines and error messages;
// raw control characters there forge log lines (a newline) or drive the terminal (ESC sequences).
#include <string>
#include <string_view>

namespace fca {

// `text` with every C0 control character (U+0000-U+001F), DEL (U+007F) and UTF-8-encoded C1 control
// (U+0080-U+009F, which terminals also obey) written as \xNN, one per byte. Everything else,
// printable UTF-8 included, is kept as it is.
std::string escape_control(std::string_view text);

}  // namespace fca
