#pragma once
// The access log of the listeners: one line per request, written off the request path. A line is
// formatted and appended to a memory buffer by the thread that answered; a writer thread empties
// the buffer to the file descriptor every `interval`. Nothing on the request path waits for the
// output or wakes a thread per line (an spdlog async logger does both: measured, a third of the
// keep-alive OCSP rate). When the output blocks and the buffer is full, lines are dropped and
// counted, never the requests.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace fca::http {

std::shared_ptr<spdlog::logger> make_access_logger(std::string name, int fd,
                                                   std::chrono::milliseconds interval = std::chrono::milliseconds(100),
                                                   std::size_t max_buffered = 4 * 1024 * 1024);

}  // namespace fca::http
