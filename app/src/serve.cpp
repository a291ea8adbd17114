#include "serve.hpp"

#include <httplib.h>
#include <openssl/ssl.h>
#include <signal.h>

#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/pattern_formatter.h>

#include "fca/crl/crl_http.hpp"
#include "fca/ocsp/ocsp_http.hpp"

namespace fca::app {
namespace {

// BCP-003-01: TLS 1.3 suites, then the TLS 1.2 list in its priority order. Nothing else is offered.
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
    "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256";

thread_local std::chrono::steady_clock::time_point request_started;

std::shared_ptr<spdlog::logger> access_logger() {
  auto logger = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc));
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::string listener_url(const ListenerConfig& listener, int port) {
  const bool v6 = listener.address.find(':') != std::string::npos;
  return std::string(listener.tls_certificate ? "https://" : "http://") + (v6 ? "[" : "") + listener.address + (v6 ? "]" : "") +
         ":" + std::to_string(port);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool restrict_tls(SSL_CTX* ctx) {
  return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 && SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1 &&
         SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 &&
         (SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION), true);
}

struct Listener {
  ListenerConfig config;
  std::unique_ptr<httplib::Server> server;
  int port = 0;
  std::thread thread;
};

// cpp-httplib's knobs set on purpose: Nagle off (40 ms stalls on keep-alive otherwise), a keep-alive
// allowance above its default of 5, a bounded body, timeouts, and a fixed worker pool.
Result<std::unique_ptr<httplib::Server>> make_server(const ListenerConfig& listener, const ServeConfig& serve) {
  std::unique_ptr<httplib::Server> server;
  if (listener.tls_certificate && listener.tls_key) {
    auto tls = std::make_unique<httplib::SSLServer>(listener.tls_certificate->c_str(), listener.tls_key->c_str());
    if (!tls->is_valid() || !restrict_tls(tls->ssl_context())) {
      return fail(Errc::invalid_input, "TLS listener " + listener.address + ":" + std::to_string(listener.port) +
                                           ": cannot load " + *listener.tls_certificate + " / " + *listener.tls_key);
    }
    server = std::move(tls);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  const auto threads = static_cast<std::size_t>(serve.threads);
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(static_cast<std::size_t>(serve.keep_alive_max_count));
  server->set_keep_alive_timeout(serve.keep_alive_timeout_seconds);
  server->set_read_timeout(serve.read_timeout_seconds, 0);
  server->set_write_timeout(serve.write_timeout_seconds, 0);
  server->set_payload_max_length(static_cast<std::size_t>(serve.max_body_bytes));
  // cpp-httplib sets SO_REUSEPORT by default, which lets a second server bind a port in use and
  // silently share its connections; SO_REUSEADDR alone still allows a quick restart.
  server->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  return server;
}

void install_logging(httplib::Server& server, const std::shared_ptr<spdlog::logger>& access, spdlog::logger& log,
                     bool https, int hsts_max_age) {
  server.set_pre_routing_handler([https, hsts_max_age](const httplib::Request&, httplib::Response& res) {
    request_started = std::chrono::steady_clock::now();
    if (https && hsts_max_age > 0) res.set_header("Strict-Transport-Security", "max-age=" + std::to_string(hsts_max_age));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // cpp-httplib adds no Date header; RFC 9110 requires one and RFC 5019 caching relies on it.
  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("Date", http_date(std::chrono::system_clock::now()));
  });
  server.set_logger([access](const httplib::Request& req, const httplib::Response& res) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - request_started).count();
    access->info("{} {} {} {} {} {}us", req.remote_addr, req.method, req.path.substr(0, 256), res.status, res.body.size(),
                 micros);
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404: res.set_content("404 Not Found\n", "text/plain"); break;
      case 405: res.set_content("405 Method Not Allowed\n", "text/plain"); break;
      case 413: res.set_content("413 Payload Too Large\n", "text/plain"); break;
      default: res.set_content(std::to_string(res.status) + "\n", "text/plain");
    }
  });
  server.set_exception_handler([&log](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log.error("{} {}: unhandled exception: {}", req.method, req.path.substr(0, 256), e.what());
    } catch (...) {
      log.error("{} {}: unhandled exception", req.method, req.path.substr(0, 256));
    }
    res.status = 500;
    res.set_content("500 Internal Server Error\n", "text/plain");
  });
}

}  // namespace

Scheduler::Scheduler(std::chrono::seconds interval, std::vector<Task> tasks) : interval_(interval), tasks_(std::move(tasks)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wakeup_.wait_for(lock, interval_, [this] { return stopping_ || woken_; });
      if (stopping_) break;
      woken_ = false;
      lock.unlock();
      run_once();
      lock.lock();
    }
  });
}

void Scheduler::wake() {
  std::lock_guard lock(mutex_);
  woken_ = true;
  wakeup_.notify_all();
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wakeup_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::run_once() {
  for (const auto& task : tasks_) task();
}

bool refresh_revocation_data(Instance& instance) {
  auto& log = instance.log();
  bool ok = true;
  if (auto issued = instance.ocsp().ensure_signers(); !issued) {
    log.error("OCSP responder certificates: {}", issued.error().message);
    ok = false;
  } else if (*issued > 0) {
    log.info("issued {} OCSP responder certificate(s)", *issued);
  }
  if (auto made = instance.crls().refresh_due(); !made) {
    log.error("CRL refresh: {}", made.error().message);
    ok = false;
  } else if (*made > 0) {
    log.info("regenerated {} CRL(s)", *made);
  }
  if (auto refreshed = instance.ocsp().refresh_cache(); !refreshed) {
    log.error("OCSP cache refresh: {}", refreshed.error().message);
    ok = false;
  }
  if (auto* hash_dir = instance.hash_directory()) {
    auto cas = instance.database().list_cas();
    if (!cas) {
      log.error("hash directory: {}", cas.error().message);
      return false;
    }
    if (auto written = hash_dir->write_certificates(*cas); !written) {
      log.error("hash directory: {}", written.error().message);
      ok = false;
    }
  }
  return ok;
}

int serve(Instance& instance, const std::filesystem::path& config_file) {
  auto& log = instance.log();
  const auto& config = instance.config();

  // Signals are taken by this thread alone (sigwait below): block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client closing its socket mid-response must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  if (!refresh_revocation_data(instance)) {
    log.error("revocation data could not be brought up to date; not serving stale answers");
    return 1;
  }
  // The hash directory gets each CA's current CRL even when none had to be regenerated.
  auto cas = instance.database().list_cas();
  if (auto* hash_dir = instance.hash_directory(); hash_dir && cas) {
    for (const auto& ca : *cas) {
      if (ca.state != CaState::active) continue;
      if (auto crl = instance.crls().current(ca)) {
        if (auto written = hash_dir->write_crl(ca, *crl); !written) log.error("hash directory: {}", written.error().message);
      }
    }
  }

  auto access = access_logger();
  std::vector<Listener> listeners;
  for (const auto& listener_config : config.serve.listeners) {
    auto server = make_server(listener_config, config.serve);
    if (!server) {
      log.error("{}", server.error().message);
      return 1;
    }
    Listener listener{listener_config, std::move(*server), 0, {}};
    install_logging(*listener.server, access, log, listener_config.tls_certificate.has_value(),
                    config.serve.hsts_max_age_seconds);
    const auto carries = [&](std::string_view frontend) {
      return std::ranges::find(listener_config.frontends, frontend) != listener_config.frontends.end();
    };
    // CRL routes first: cpp-httplib takes the first matching route, and an OCSP prefix of "" matches
    // every path.
    if (carries("crl")) {
      crl::mount(*listener.server, instance.database(), instance.crls(),
                 crl::CrlHttpSettings{std::chrono::seconds(config.crl.max_age_seconds)}, instance.logger());
    }
    if (carries("ocsp")) {
      ocsp::mount(*listener.server, instance.ocsp(),
                  ocsp::OcspHttpSettings{config.ocsp.path, std::chrono::seconds(config.ocsp.max_age_seconds),
                                         static_cast<std::size_t>(config.serve.max_body_bytes)},
                  instance.logger());
    }
    if (listener_config.port == 0) {
      listener.port = listener.server->bind_to_any_port(listener_config.address);
    } else if (listener.server->bind_to_port(listener_config.address, listener_config.port)) {
      listener.port = listener_config.port;
    }
    if (listener.port <= 0) {
      log.error("cannot listen on {}:{} (address in use, or not an address of this machine)", listener_config.address,
                listener_config.port);
      return 1;
    }
    listeners.push_back(std::move(listener));
  }

  Scheduler scheduler(std::chrono::seconds(config.serve.scheduler_interval_seconds),
                      {[&instance] { refresh_revocation_data(instance); }});
  scheduler.start();
  for (auto& listener : listeners) {
    auto* server = listener.server.get();
    listener.thread = std::thread([server] { server->listen_after_bind(); });
    log.info("listening on {} ({})", listener_url(listener.config, listener.port), join(listener.config.frontends));
  }

  int exit_code = 0;
  for (;;) {
    int received = 0;
    if (sigwait(&signals, &received) != 0) continue;
    if (received == SIGHUP) {
      // What can change safely at run time: the log level, and a fresh pass over revocation data
      // (new CAs, responder certificates). Listeners, keys and the database need a restart.
      auto reloaded = load_config(config_file);
      if (!reloaded) {
        log.error("SIGHUP: configuration not reloaded: {}", reloaded.error().message);
      } else {
        log.set_level(spdlog::level::from_str(reloaded->log_level));
        log.info("SIGHUP: log level {}, refreshing revocation data", reloaded->log_level);
      }
      scheduler.wake();
      continue;
    }
    log.info("{}: stopping (requests in flight finish first)", received == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  for (auto& listener : listeners) listener.server->stop();
  for (auto& listener : listeners) {
    if (listener.thread.joinable()) listener.thread.join();
  }
  scheduler.stop();
  log.info("stopped");
  return exit_code;
}

}  // namespace fca::app
