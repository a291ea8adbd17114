#pragma once
// A raw-socket HTTP client for transport tests: it sends exactly the bytes a test writes (broken
// framings, slow headers, pipelined requests) and reads responses with bounded waits. Loopback only;
// the socket is closed by the destructor, also when a test fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "serve_fixture.hpp"

namespace fca::test {

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  std::string header(const std::string& name) const {
    const std::string wanted = "\r\n" + lowercase(name) + ":";
    const std::string lower = lowercase(head);
    const auto at = lower.find(wanted);
    if (at == std::string::npos) return {};
    const auto start = at + wanted.size();
    return trim(head.substr(start, head.find("\r\n", start) - start));
  }
  bool has_header(const std::string& name) const { return lowercase(head).find("\r\n" + lowercase(name) + ":") != std::string::npos; }
};

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    int yes = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // False when the peer refused more (reset, closed); never raises SIGPIPE.
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Like send_all, but gives up when nothing can be written for `stall` (the server stopped reading).
  bool send_all_bounded(std::string_view data, std::chrono::milliseconds stall) {
    while (!data.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(stall.count()));
      if (ready <= 0 || (p.revents & (POLLERR | POLLHUP))) return false;
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads what arrives within `limit` into the buffer; false once the peer closed (or reset).
  bool read_for(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready <= 0) return true;
      char chunk[65536];
      const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        peer_closed_ = true;
        return false;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // One response off the buffer (reading more as needed, bounded by `limit`): Content-Length framed,
  // or until close; `head` for a response to HEAD (no body whatever Content-Length says).
  std::optional<RawResponse> response(std::chrono::milliseconds limit = std::chrono::seconds(5), bool head = false) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto parsed = take(head)) return parsed;
      if (peer_closed_ || std::chrono::steady_clock::now() >= deadline) return take(head, true);
      read_for(std::chrono::milliseconds(20));
    }
  }

  // True when the server closed the connection within `limit` (EOF or reset).
  bool closed_within(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!peer_closed_ && std::chrono::steady_clock::now() < deadline) read_for(std::chrono::milliseconds(20));
    return peer_closed_;
  }

  // Still connected: nothing says the peer closed, checked without waiting.
  bool open_now() {
    if (peer_closed_ || fd_ < 0) return false;
    char c;
    const auto n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    return true;
  }

  const std::string& buffered() const { return buffer_; }

 private:
  std::optional<RawResponse> take(bool head, bool at_close = false) {
    const auto end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    RawResponse r;
    r.head = buffer_.substr(0, end);
    if (!r.head.starts_with("HTTP/1.")) return std::nullopt;
    r.status = std::atoi(r.head.c_str() + 9);
    const auto length = r.header("Content-Length");
    std::size_t body = 0;
    if (!head && r.status != 204 && r.status != 304) {
      if (!length.empty()) body = std::stoul(length);
      else if (at_close) body = buffer_.size() - end - 4;
      else return std::nullopt;
    }
    if (buffer_.size() < end + 4 + body) return std::nullopt;
    r.body = buffer_.substr(end + 4, body);
    buffer_.erase(0, end + 4 + body);
    return r;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool peer_closed_ = false;
  std::string buffer_;
};

// VmRSS or VmHWM of a process in bytes, from /proc/<pid>/status; 0 when unreadable.
inline std::size_t proc_status_bytes(pid_t pid, const std::string& field) {
  const auto text = read_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = text.find(field + ":");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + field.size() + 1, nullptr, 10) * 1024;
}

}  // namespace fca::test
