// EST simpleenroll over TLS with a client certificate, a new TCP + TLS connection per enrolment (a
// plant after a power cut): `concurrency` clients, `count` enrolments in all. Prints the rate and
// the errors; bench/est_bench.sh runs it against a real `serve` and compares with `openssl speed`.
// An enrolment counts only when its answer is a 200 certs-only PKCS#7 (base64) that holds the CSR's
// public key; one answer in 64 is also decoded in full and its certificate's key compared.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

std::string slurp(const char* file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What an answer must hold: the CSR's key, as a SubjectPublicKeyInfo (DER) and as a key.
struct Expected {
  std::string spki;
  EVP_PKEY* key = nullptr;
};

std::string base64_decoded(std::string_view text) {
  std::string compact;
  for (const char c : text) {
    if (c != '\r' && c != '\n' && c != ' ') compact += c;
  }
  std::string out(compact.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(compact.data()), static_cast<int>(compact.size()));
  if (n < 0 || compact.size() % 4 != 0) return {};
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// The body decoded in full: a PKCS#7 whose first certificate carries the expected key.
bool first_certificate_has_key(const std::string& der, const Expected& expected) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(der.size()));
  bool ok = false;
  if (p7 && PKCS7_type_is_signed(p7) && p7->d.sign->cert && sk_X509_num(p7->d.sign->cert) >= 1) {
    ok = EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(p7->d.sign->cert, 0)), expected.key) == 1;
  }
  PKCS7_free(p7);
  return ok;
}

bool answer_is_certificate(const std::string& response, std::size_t body_at, const Expected& expected, bool in_full) {
  if (!response.starts_with("HTTP/1.1 200 ")) return false;
  const auto head = std::string_view(response).substr(0, body_at);
  if (head.find("\r\nContent-Type: application/pkcs7-mime") == std::string_view::npos) return false;
  const auto der = base64_decoded(std::string_view(response).substr(body_at));
  if (der.find(expected.spki) == std::string::npos) return false;
  return !in_full || first_certificate_has_key(der, expected);
}

// One enrolment on a fresh connection; true when the answer is the certificate asked for.
bool enrol_once(SSL_CTX* ctx, int port, const std::string& request, const Expected& expected, bool in_full) {
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
          ok = response.size() == head_end + 4 + length && answer_is_certificate(response, head_end + 4, expected, in_full);
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
  Expected expected;
  {
    BIO* in = BIO_new_mem_buf(csr.data(), static_cast<int>(csr.size()));
    X509_REQ* req = PEM_read_bio_X509_REQ(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    unsigned char* spki = nullptr;
    const int length = req ? i2d_PUBKEY(X509_REQ_get0_pubkey(req), &spki) : -1;
    if (length <= 0) {
      std::fprintf(stderr, "est_bench: %s is not a PEM CSR\n", argv[5]);
      return 2;
    }
    expected.spki.assign(reinterpret_cast<char*>(spki), static_cast<std::size_t>(length));
    OPENSSL_free(spki);
    expected.key = X509_REQ_get_pubkey(req);
    X509_REQ_free(req);
  }
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
      for (int i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
        (enrol_once(ctx, port, request, expected, i % 64 == 0) ? good : bad).fetch_add(1);
      }
    });
  }
  for (auto& client : clients) client.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("enrolments %d  errors %d  seconds %.2f  rate %.1f/s  concurrency %d\n", good.load(), bad.load(), seconds,
              good.load() / seconds, concurrency);
  SSL_CTX_free(ctx);
  EVP_PKEY_free(expected.key);
  return bad.load() == 0 ? 0 : 1;
}
