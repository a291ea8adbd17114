#pragma once
// A real `facility-ca serve` on a loopback port, over a data directory made by the real `init`, and
// helpers that talk to it with real clients (curl, openssl ocsp, openssl verify).
//
// The server is started with fork/exec, its stdout (access log) and stderr (log) go to files in the
// temporary directory, and it is always stopped in the destructor (SIGTERM, bounded wait, SIGKILL).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "cli_fixture.hpp"

namespace fca::test {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline int occurrences_of(const std::string& text, const std::string& part) {
  if (part.empty()) return 0;
  int n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

inline std::string lowercase(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

inline std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && text[start] == ' ') ++start;
  return text.substr(start);
}

// The answer of the sqlite3 tool to `query` on the instance's database, trimmed; the query must succeed.
inline std::string sqlite(const Pki& pki, const std::string& query) {
  auto result = run("sqlite3 " + shell_quote((pki.dir() / "ca.db").string()) + " " + shell_quote(query));
  INFO(query << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
  return trim(result.output);
}

inline std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Percent-encodes the three base64 characters that are not unreserved in a URL path segment.
inline std::string percent_encode_base64(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '/') out += "%2F";
    else if (c == '+') out += "%2B";
    else if (c == '=') out += "%3D";
    else out += c;
  }
  return out;
}

inline std::string hex_bytes(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The DER of an OCSPResponse with only a responseStatus: 30 03 0a 01 <status>.
inline std::string ocsp_error_der(int status) { return std::string("\x30\x03\x0a\x01", 4) + static_cast<char>(status); }

// "Thu, 26 Nov 2026 17:30:07 GMT" (HTTP) → seconds since the epoch; nullopt when it does not parse.
inline std::optional<std::time_t> parse_http_date(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

// "Nov 26 17:25:07 2026 GMT" (openssl's ASN1_TIME_print) → seconds since the epoch.
inline std::optional<std::time_t> parse_openssl_date(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%b %d %H:%M:%S %Y GMT", &tm);
  if (end == nullptr) return std::nullopt;
  return timegm(&tm);
}

// The text after "<label>: " on the first line holding it ("This Update", "Next Update", ...).
inline std::string field_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label + ": ");
  if (at == std::string::npos) return {};
  const auto start = at + label.size() + 2;
  return trim(text.substr(start, text.find('\n', start) - start));
}

struct HttpResponse {
  int status = 0;           // 0 when curl got no HTTP response at all
  int curl_exit = -1;
  std::string headers;      // the header block as curl -D wrote it
  std::string body;         // binary
  std::filesystem::path body_file;
  std::string curl_output;  // curl's own messages (-sS) and the status line

  // The value of the last header named `name` (case-insensitive), trimmed; "" when absent.
  std::string header(const std::string& name) const {
    const std::string wanted = lowercase(name) + ":";
    std::string value;
    std::size_t start = 0;
    while (start < headers.size()) {
      auto end = headers.find('\n', start);
      if (end == std::string::npos) end = headers.size();
      const std::string line = headers.substr(start, end - start);
      if (lowercase(line.substr(0, wanted.size())) == wanted) value = trim(line.substr(wanted.size()));
      start = end + 1;
    }
    return value;
  }
  std::string describe() const {
    return "HTTP " + std::to_string(status) + " (curl exit " + std::to_string(curl_exit) + ")\n" + headers +
           "curl: " + curl_output + "\nbody (" + std::to_string(body.size()) + " bytes): " +
           (body.size() <= 64 ? hex_bytes(body) : hex_bytes(body.substr(0, 64)) + " ...");
  }
};

// max-age=N from a Cache-Control value; -1 when absent.
inline long max_age_of(const std::string& cache_control) {
  const auto at = cache_control.find("max-age=");
  if (at == std::string::npos) return -1;
  return std::strtol(cache_control.c_str() + at + 8, nullptr, 10);
}

// A port on 127.0.0.1 that was free a moment ago: bind to port 0, read it, close.
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool loopback_port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

class ServeFixture {
 public:
  using ConfigChange = std::function<void(nlohmann::json&)>;

  // init, point the first listener and urls.base at a free loopback port, apply `change`, start serve.
  explicit ServeFixture(ConfigChange change = {}, bool start_now = true, const std::string& init_options = "")
      : pki_(init_options), change_(std::move(change)) {
    chain_pem_ = pki_.file("chain.pem");
    write_file(chain_pem_, read_file(pki_.root_pem()) + read_file(pki_.issuing_pem()));
    if (start_now) start();
  }

  ~ServeFixture() {
    if (pid_ <= 0) return;
    const int code = stop();
    // A server that died by a signal or failed while the test ran crashed (or was killed by us after
    // the SIGTERM grace period): that is a failure of whatever the test did, reported here.
    if (std::uncaught_exceptions() == 0) {
      INFO("server stderr:\n" << log());
      CHECK(code == 0);
    }
  }

  ServeFixture(const ServeFixture&) = delete;
  ServeFixture& operator=(const ServeFixture&) = delete;

  const Pki& pki() const { return pki_; }
  int port() const { return port_; }
  int https_port() const { return https_port_; }  // the second listener's (init makes it HTTPS/EST)
  pid_t pid() const { return pid_; }
  const std::filesystem::path& chain_pem() const { return chain_pem_; }
  std::filesystem::path file(const std::string& name) const { return pki_.file(name); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string ocsp_url() const { return url("/ocsp"); }

  std::string log() const { return slurp(pki_.file("serve-stderr.txt")); }
  std::string access_log() const { return slurp(pki_.file("serve-stdout.txt")); }

  // Starts serve and waits (bounded) until its port accepts connections. On the first start a fresh
  // port is chosen; a restart keeps the port (certificate URLs name it) unless it cannot be had.
  void start() {
    REQUIRE(pid_ <= 0);
    std::string failures;
    for (int attempt = 0; attempt < 5; ++attempt) {
      // Certificates issued since the first start name the port: a restart keeps it while it can.
      if (!started_once_ || attempt >= 3) configure_port(free_loopback_port());
      if (launch() && wait_until_accepting(std::chrono::seconds(10))) {
        started_once_ = true;
        return;
      }
      const int code = pid_ > 0 ? stop() : -1;
      failures += "attempt " + std::to_string(attempt) + " on port " + std::to_string(port_) + ": exit " +
                  std::to_string(code) + "\n" + log() + "\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt + 1)));
    }
    INFO(failures);
    FAIL("facility-ca serve did not start");
  }

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (128+N when killed by signal N).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (pid_ <= 0) return last_exit_;
    ::kill(pid_, SIGTERM);
    auto code = wait_for_exit(grace);
    if (!code) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      code = 128 + SIGKILL;
      killed_after_grace_ = true;
    }
    pid_ = -1;
    last_exit_ = *code;
    return *code;
  }

  bool killed_after_grace() const { return killed_after_grace_; }

  // True while the process has not exited (reaps it when it has).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == 0) return true;
    last_exit_ = exit_code_of(status);
    pid_ = -1;
    return false;
  }

  void send_signal(int sig) const {
    REQUIRE(pid_ > 0);
    REQUIRE(::kill(pid_, sig) == 0);
  }

  // Waits (bounded) until the server's stderr holds `text` `count` times.
  bool wait_for_log(const std::string& text, int count = 1, std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (occurrences_of(log(), text) >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return occurrences_of(log(), text) >= count;
  }

  // curl with `args` against `target` (a path on this server, or a full URL). Headers and body are
  // kept; the connection is bounded by --max-time.
  HttpResponse http(const std::string& args, const std::string& target) {
    const auto n = std::to_string(++requests_);
    HttpResponse response;
    response.body_file = pki_.file("http-" + n + ".body");
    const auto header_file = pki_.file("http-" + n + ".headers");
    std::error_code ec;
    std::filesystem::remove(response.body_file, ec);
    std::filesystem::remove(header_file, ec);
    const std::string target_url = target.starts_with("http") ? target : url(target);
    auto result = run("curl -sS --max-time 10 --path-as-is -o " + shell_quote(response.body_file.string()) + " -D " +
                      shell_quote(header_file.string()) + " -w '\\nHTTP_STATUS=%{http_code}\\n' " + args + " " +
                      shell_quote(target_url));
    response.curl_exit = result.exit_code;
    response.curl_output = result.output;
    if (const auto at = result.output.rfind("HTTP_STATUS="); at != std::string::npos) {
      response.status = std::atoi(result.output.c_str() + at + 12);
    }
    response.headers = slurp(header_file);
    response.body = slurp(response.body_file);
    return response;
  }

  // POSTs a DER OCSP request file as application/ocsp-request.
  HttpResponse post_ocsp(const std::filesystem::path& request_der, const std::string& extra = "") {
    return http("--data-binary @" + shell_quote(request_der.string()) + " -H 'Content-Type: application/ocsp-request' " + extra,
                "/ocsp");
  }

  // `openssl ocsp` asking this server about `cert` (or, with serial_hex, a serial) issued by the issuing CA.
  CommandResult ocsp_query(const std::filesystem::path& cert, const std::string& extra = "") const {
    return run("openssl ocsp -timeout 10 -issuer " + shell_quote(pki_.issuing_pem().string()) + " -cert " +
               shell_quote(cert.string()) + " -url " + shell_quote(ocsp_url()) + " -CAfile " +
               shell_quote(chain_pem_.string()) + " " + extra);
  }
  CommandResult ocsp_query_serial(const std::string& serial_hex, const std::string& extra = "") const {
    return run("openssl ocsp -timeout 10 -issuer " + shell_quote(pki_.issuing_pem().string()) + " -serial 0x" + serial_hex +
               " -url " + shell_quote(ocsp_url()) + " -CAfile " + shell_quote(chain_pem_.string()) + " " + extra);
  }

  // Writes a DER OCSP request for `cert` with `openssl ocsp -reqout`; returns the file.
  std::filesystem::path ocsp_request(const std::filesystem::path& cert, const std::string& name,
                                     const std::string& options = "-no_nonce") const {
    const auto out = pki_.file(name);
    // Options first: openssl ocsp takes a CertID digest only before -cert.
    auto made = run("openssl ocsp " + options + " -issuer " + shell_quote(pki_.issuing_pem().string()) + " -cert " +
                    shell_quote(cert.string()) + " -reqout " + shell_quote(out.string()));
    INFO(made.output);
    REQUIRE(made.exit_code == 0);
    return out;
  }

  // Checks a DER OCSP response file with `openssl ocsp -respin` (signature and chain against root +
  // issuing, status of `cert`); returns the output. `options` go before -cert: a CertID digest ("-sha256")
  // must match the request's for openssl to find the status.
  CommandResult check_response(const std::filesystem::path& response_der, const std::filesystem::path& cert,
                               const std::string& options = "") const {
    return run("openssl ocsp -no_nonce " + options + " -respin " + shell_quote(response_der.string()) + " -issuer " +
               shell_quote(pki_.issuing_pem().string()) + " -CAfile " + shell_quote(chain_pem_.string()) + " -cert " +
               shell_quote(cert.string()));
  }

  // A leaf certificate for `name`.example.test, issued by the CLI with profile nmos-node.
  std::filesystem::path issue_leaf(const std::string& name) const {
    return pki_.issue(pki_.csr(name, "p256", name + ".example.test", "DNS:" + name + ".example.test"));
  }

  // The CLI against the same data directory while the server runs.
  std::string cli(const std::string& args) const { return pki_.out(args); }

 private:
  static int exit_code_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }

  static std::string slurp(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return {};
    return read_file(file);
  }

  void configure_port(int port) {
    REQUIRE(port > 0);
    port_ = port;
    pki_.edit_config([this](nlohmann::json& config) {
      config["serve"]["listeners"][0]["address"] = "127.0.0.1";
      config["serve"]["listeners"][0]["port"] = port_;
      // Any further listener (init's HTTPS EST listener) gets a free loopback port of its own.
      for (std::size_t i = 1; i < config["serve"]["listeners"].size(); ++i) {
        config["serve"]["listeners"][i]["address"] = "127.0.0.1";
        config["serve"]["listeners"][i]["port"] = free_loopback_port();
      }
      config["urls"]["base"] = "http://127.0.0.1:" + std::to_string(port_);
      if (change_) change_(config);
      const auto& listeners = config["serve"]["listeners"];
      https_port_ = listeners.size() > 1 ? listeners[1]["port"].get<int>() : 0;
    });
  }

  bool launch() {
    const auto out_file = pki_.file("serve-stdout.txt");
    const auto err_file = pki_.file("serve-stderr.txt");
    const std::string binary = facility_ca_binary();
    const std::string dir = pki_.dir().string();
    const pid_t child = ::fork();
    if (child < 0) return false;
    if (child == 0) {
      // Only async-signal-safe calls from here to exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
      const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (out < 0 || err < 0 || null < 0) ::_exit(126);
      ::dup2(null, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execl(binary.c_str(), "facility-ca", "--dir", dir.c_str(), "serve", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = child;
    killed_after_grace_ = false;
    return true;
  }

  bool wait_until_accepting(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) return false;
      // Every listener: the HTTPS one binds only once its certificates are issued.
      if (loopback_port_accepts(port_) && (https_port_ <= 0 || loopback_port_accepts(https_port_))) return running();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::optional<int> wait_for_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) return exit_code_of(status);
      if (done < 0) return -1;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Pki pki_;
  ConfigChange change_;
  std::filesystem::path chain_pem_;
  int port_ = 0;
  int https_port_ = 0;
  pid_t pid_ = -1;
  int last_exit_ = -1;
  bool killed_after_grace_ = false;
  bool started_once_ = false;
  int requests_ = 0;
};

// CHECK/REQUIRE that show the server's log when they fail.
#define SERVE_CHECK(fixture, ...)                            \
  do {                                                       \
    INFO("server stderr:\n" << (fixture).log());             \
    CHECK(__VA_ARGS__);                                      \
  } while (false)
#define SERVE_REQUIRE(fixture, ...)                          \
  do {                                                       \
    INFO("server stderr:\n" << (fixture).log());             \
    REQUIRE(__VA_ARGS__);                                    \
  } while (false)

}  // namespace fca::test
