// EST simpleenroll over TLS with a client certificate, a new TCP + TLS connection per enrolment (a
// plant after a power cut): `concurrency` clients, `count` enrolments in all. Prints the rate and
// the errors; bench/est_bench.sh runs it against a real `serve` and compares with `openssl speed`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string slurp(const char* file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// One enrolment on a fresh connection; true on "200" with a body of the announced length.
bool enrol_once(SSL_CTX* ctx, int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0) {
      std::string response;
      char buffer[8192];
      for (;;) {
        const int n = SSL_read(ssl, buffer, sizeof buffer);
        if (n <= 0) break;
        response.append(buffer, static_cast<std::size_t>(n));
        const auto head_end = response.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        const auto length_at = response.find("Content-Length: ");
        if (length_at == std::string::npos || length_at > head_end) break;
        const auto length = std::strtoul(response.c_str() + length_at + 16, nullptr, 10);
        if (response.size() >= head_end + 4 + length) {
          ok = response.starts_with("HTTP/1.1 200 ");
          break;
        }
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: est_bench PORT CA_CHAIN CLIENT_CERT CLIENT_KEY CSR_PEM COUNT CONCURRENCY\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string csr = slurp(argv[5]);
  const int count = std::atoi(argv[6]);
  const int concurrency = std::atoi(argv[7]);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // a full handshake every time
  if (SSL_CTX_load_verify_locations(ctx, argv[2], nullptr) != 1 || SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const std::string request = "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\n"
                              "Content-Type: application/pkcs10\r\nConnection: close\r\nContent-Length: " +
                              std::to_string(csr.size()) + "\r\n\r\n" + csr;
  std::atomic<int> next{0}, good{0}, bad{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&] {
      while (next.fetch_add(1) < count) (enrol_once(ctx, port, request) ? good : bad).fetch_add(1);
    });
  }
  for (auto& client : clients) client.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("enrolments %d  errors %d  seconds %.2f  rate %.1f/s  concurrency %d\n", good.load(), bad.load(), seconds,
              good.load() / seconds, concurrency);
  SSL_CTX_free(ctx);
  return bad.load() == 0 ? 0 : 1;
}
