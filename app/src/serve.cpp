#include "serve.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "fca/api/api.hpp"
#include "fca/crl/crl_http.hpp"
#include "fca/http/access_log.hpp"
#include "fca/http/server.hpp"
#include "fca/ocsp/ocsp_http.hpp"

namespace fca::app {
namespace {

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

http::ServerSettings transport_settings(const ServeConfig& serve) {
  http::ServerSettings settings;
  settings.io_threads = serve.io_threads;
  settings.worker_threads = serve.threads;
  settings.worker_queue = static_cast<std::size_t>(serve.worker_queue);
  settings.limits.max_header_bytes = static_cast<std::size_t>(serve.max_header_bytes);
  settings.limits.max_body_bytes = static_cast<std::size_t>(serve.max_body_bytes);
  settings.limits.request_timeout = std::chrono::seconds(serve.read_timeout_seconds);
  settings.limits.idle_timeout = std::chrono::seconds(serve.keep_alive_timeout_seconds);
  settings.limits.write_timeout = std::chrono::seconds(serve.write_timeout_seconds);
  settings.limits.max_connections = static_cast<std::size_t>(serve.max_connections);
  settings.limits.max_requests_per_connection = static_cast<std::size_t>(serve.keep_alive_max_count);
  return settings;
}

// Every listener's connections need a descriptor each: take the hard limit the system allows.
void raise_descriptor_limit(spdlog::logger& log, const ServeConfig& serve) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  const auto wanted = static_cast<rlim_t>(serve.max_connections) * serve.listeners.size() + 64;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    log.warn("serve.max_connections x listeners needs ~{} file descriptors; the limit is {}", wanted, limit.rlim_cur);
  }
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

  raise_descriptor_limit(log, config.serve);
  auto access = http::make_access_logger("access", STDOUT_FILENO);
  // The front ends outlive the server and its threads (declared first, destroyed last).
  // The CRL routes publish CA certificates and CRLs to anyone: they read CAs through the service as
  // the publisher, like every other front end.
  const auto publisher = service::Principal::system("crl-publisher");
  const auto find_ca = [&instance, publisher](std::string_view name) -> Result<CaRecord> {
    auto found = instance.service().get_ca(publisher, name);
    if (!found) return std::unexpected(found.error());
    return std::move(found->record);
  };
  const crl::CrlFrontEnd crl_front_end(find_ca, instance.crls(),
                                       crl::CrlHttpSettings{std::chrono::seconds(config.crl.max_age_seconds)}, instance.logger());
  const ocsp::OcspFrontEnd ocsp_front_end(
      instance.ocsp(),
      ocsp::OcspHttpSettings{config.ocsp.path, std::chrono::seconds(config.ocsp.max_age_seconds),
                             static_cast<std::size_t>(config.serve.max_body_bytes)},
      instance.logger());
  const api::ApiFrontEnd api_front_end(
      api::ApiDependencies{instance.service(), instance.tokens(), instance.database(), instance.database(), instance.crls(),
                           instance.ocsp(), instance.clock()},
      api::ApiSettings{static_cast<std::size_t>(config.api.max_body_bytes), config.api.max_auth_failures_per_minute},
      instance.logger());
  http::Server server(transport_settings(config.serve), instance.logger(), access);

  for (const auto& listener_config : config.serve.listeners) {
    auto router = std::make_shared<http::Router>(instance.logger());
    const auto carries = [&](std::string_view frontend) {
      return std::ranges::find(listener_config.frontends, frontend) != listener_config.frontends.end();
    };
    // The router takes the longest matching prefix, so /crl/ and /ca/ win over an OCSP prefix of "".
    if (carries("crl")) crl_front_end.mount(*router);
    if (carries("ocsp")) ocsp_front_end.mount(*router);
    if (carries("api")) api_front_end.mount(*router);

    http::ListenerSpec spec;
    spec.address = listener_config.address;
    spec.port = listener_config.port;
    spec.router = std::move(router);
    spec.hsts_max_age_seconds = config.serve.hsts_max_age_seconds;
    if (listener_config.tls_certificate && listener_config.tls_key) {
      auto tls = http::TlsContext::bcp003_server();
      if (!tls) {
        log.error("TLS listener {}:{}: {}", listener_config.address, listener_config.port, tls.error());
        return 1;
      }
      if (auto added = (*tls)->add_certificate(resolve_in(instance.data_directory(), *listener_config.tls_certificate).string(),
                                               resolve_in(instance.data_directory(), *listener_config.tls_key).string());
          !added) {
        log.error("TLS listener {}:{}: cannot load {} / {}: {}", listener_config.address, listener_config.port,
                  *listener_config.tls_certificate, *listener_config.tls_key, added.error());
        return 1;
      }
      spec.tls = std::move(*tls);
    }
    auto port = server.listen(std::move(spec));
    if (!port) {
      log.error("{} (address in use, or not an address of this machine)", port.error());
      return 1;
    }
    log.info("listening on {} ({})", listener_url(listener_config, *port), join(listener_config.frontends));
  }

  Scheduler scheduler(std::chrono::seconds(config.serve.scheduler_interval_seconds),
                      {[&instance] { refresh_revocation_data(instance); }});
  scheduler.start();
  server.start();

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
    log.info("{}: stopping (requests in flight get {} s to finish)", received == SIGINT ? "SIGINT" : "SIGTERM",
             config.serve.shutdown_grace_seconds);
    break;
  }
  server.shutdown(std::chrono::seconds(config.serve.shutdown_grace_seconds));
  access->flush();
  scheduler.stop();
  log.info("stopped");
  return exit_code;
}

}  // namespace fca::app
