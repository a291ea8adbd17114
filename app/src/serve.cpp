#include "serve.hpp"

#include "https_listener.hpp"
#include "mdns.hpp"
#include "published_tree.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "fca/api/api.hpp"
#include "fca/core/x509.hpp"
#include "fca/crl/crl_http.hpp"
#include "fca/db/lab_faults.hpp"
#include "fca/est/est_http.hpp"
#include "fca/http/access_log.hpp"
#include "fca/http/server.hpp"
#include "fca/ocsp/ocsp_http.hpp"

namespace fca::app {
namespace {

std::string listener_url(const ListenerConfig& listener, int port) {
  const bool v6 = listener.address.find(':') != std::string::npos;
  return std::string(listener.https ? "https://" : "http://") + (v6 ? "[" : "") + listener.address + (v6 ? "]" : "") +
         ":" + std::to_string(port);
}

// A trust store of the config loaded (paths relative to the data directory).
Result<std::shared_ptr<const est::TrustStore>> load_trust(const Instance& instance, const EstTrustConfig& config) {
  est::TrustStoreFiles files;
  const auto resolved = [&](const std::vector<std::string>& paths) {
    std::vector<std::string> result;
    for (const auto& path : paths) result.push_back(resolve_in(instance.data_directory(), path).string());
    return result;
  };
  files.roots = resolved(config.roots);
  files.intermediates = resolved(config.intermediates);
  files.crl_files = resolved(config.crl_files);
  if (!config.crl_hash_dir.empty()) files.crl_hash_dir = resolve_in(instance.data_directory(), config.crl_hash_dir).string();
  files.accept_expired = config.accept_expired;
  return est::TrustStore::load(files);
}

// The EST labels of the config with their trust stores loaded.
Result<est::EstSettings> est_settings(const Instance& instance) {
  est::EstSettings out;
  for (const auto& label : instance.config().est.labels) {
    auto trust = load_trust(instance, label.trust);
    if (!trust) return fail(trust.error().code, "est label '" + label.label + "': " + trust.error().message);
    out.labels.push_back(est::EstLabel{.name = label.label,
                                       .ca = label.ca,
                                       .profiles = label.profiles,
                                       .manual_approval = label.approval == "manual",
                                       .retry_after_seconds = label.retry_after_seconds,
                                       .trust = std::move(*trust),
                                       .http_basic = label.http_basic,
                                       .channel_binding = label.channel_binding});
  }
  return out;
}

// A client certificate issued by one of this instance's CAs must be the one on record, and valid
// there: revoked or held here means refused at once, whatever CRL the trust store holds. A foreign
// CA's certificate is left to the trust store (its CRLs).
Result<void> valid_here(Instance& instance, X509* leaf, const std::vector<std::uint8_t>& leaf_der) {
  // Reads certificates of every CA, and nothing else.
  const service::Principal who{"system:api-client-certificates", {service::Role::auditor}, std::nullopt, std::nullopt};
  auto cas = instance.service().list_cas(who);
  if (!cas) return std::unexpected(cas.error());
  const auto issuer = name_to_string(X509_get_issuer_name(leaf));
  std::string named;  // this instance's CAs with the issuer's name (two, across a rollover)
  for (const auto& ca : *cas) {
    if (ca.record.state != CaState::active || ca.record.subject != issuer) continue;
    named += (named.empty() ? "" : ", ") + ca.record.name;
    auto found = instance.service().get_certificate(who, serial_hex(leaf), ca.record.name);
    if (!found && found.error().code != Errc::not_found) return std::unexpected(found.error());
    if (!found || found->record.der != leaf_der) continue;
    if (found->record.status != CertificateStatus::valid) {
      return fail(Errc::policy_refused, "client certificate " + found->record.serial + " is " + to_string(found->record.status));
    }
    return {};
  }
  if (!named.empty()) return fail(Errc::policy_refused, "client certificate names CA " + named + " as issuer but is not on record there");
  return {};
}

// api.client_certificates: the first mapping whose trust store verifies the client's chain names
// the caller, `api:<certificate subject>` with the mapping's roles and scope.
Result<api::ClientCertificateAuthenticator> api_client_authenticator(Instance& instance) {
  struct Mapping {
    std::shared_ptr<const est::TrustStore> trust;
    std::set<service::Role> roles;
    std::optional<std::set<std::string>> cas;
    std::optional<std::set<std::string>> profiles;
  };
  auto mappings = std::make_shared<std::vector<Mapping>>();
  const auto& clients = instance.config().api.client_certificates;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto& client = clients[i];
    auto trust = load_trust(instance, client.trust);
    if (!trust) return fail(trust.error().code, "api.client_certificates[" + std::to_string(i) + "]: " + trust.error().message);
    Mapping mapping{std::move(*trust), {}, std::nullopt, std::nullopt};
    for (const auto& role : client.roles) {
      auto parsed = service::parse_role(role);
      if (!parsed) return std::unexpected(parsed.error());
      mapping.roles.insert(*parsed);
    }
    if (client.cas) mapping.cas.emplace(client.cas->begin(), client.cas->end());
    if (client.profiles) mapping.profiles.emplace(client.profiles->begin(), client.profiles->end());
    mappings->push_back(std::move(mapping));
  }
  if (mappings->empty()) return api::ClientCertificateAuthenticator();
  return api::ClientCertificateAuthenticator(
      [mappings, &instance](const std::vector<std::vector<std::uint8_t>>& chain) -> Result<service::Principal> {
        std::string why;
        for (const auto& mapping : *mappings) {
          auto client = mapping.trust->verify(chain, instance.clock().now());
          if (!client) {
            why = client.error().message;
            continue;
          }
          if (auto ok = valid_here(instance, client->leaf.get(), chain.front()); !ok) return std::unexpected(ok.error());
          return service::Principal::api(client->subject, mapping.roles, mapping.cas, mapping.profiles);
        }
        return fail(Errc::policy_refused, why);
      });
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

  instance.crls().set_rebuild_in_background(true);
  if (!refresh_revocation_data(instance)) {
    // One CA whose key cannot be used (a token offline, a key file gone) must not take the others'
    // OCSP and CRLs down with it: serve while any CA has a working responder, retry every pass.
    const auto signers = instance.ocsp().signer_status();
    const bool any_working = std::ranges::any_of(signers, [](const auto& entry) { return !entry.second.failing; });
    if (!any_working) {
      log.error("no CA's revocation data could be brought up to date; not serving");
      return 1;
    }
    log.error("serving, but the revocation data of the CAs named above is not up to date; retried every {} s",
              config.serve.scheduler_interval_seconds);
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
  // By publication name: each CA generation at the URLs its certificates carry (a rollover moves the name).
  const auto find_ca = [&instance, publisher](std::string_view name) -> Result<CaRecord> {
    auto found = instance.service().get_published_ca(publisher, name);
    if (!found) return std::unexpected(found.error());
    return std::move(found->record);
  };
  // Revocation faults to order (docs/lab.md) on a lab instance only, read per request on a connection
  // of their own; any other instance's front ends never look for them.
  std::shared_ptr<LabOcspFaults> ocsp_faults;
  std::shared_ptr<LabCrlFaults> crl_faults;
  auto lab = instance.service().is_lab_instance();
  if (!lab) {
    log.error("reading the lab mark: {}", lab.error().message);
    return 1;
  }
  if (*lab) {
    auto source = db::SqliteLabFaultSource::open(resolve_in(instance.data_directory(), config.database));
    if (!source) {
      log.error("lab faults: {}", source.error().message);
      return 1;
    }
    ocsp_faults = std::make_shared<LabOcspFaults>(*source, instance.database(), instance.authority(), instance.ocsp(),
                                                  instance.clock());
    crl_faults = std::make_shared<LabCrlFaults>(*source, instance.crls(), instance.signing_keys(), instance.clock());
    log.info("lab instance: OCSP and CRL answers follow `lab fault` settings");
  }
  const crl::CrlFrontEnd crl_front_end(find_ca, instance.crls(),
                                       crl::CrlHttpSettings{std::chrono::seconds(config.crl.max_age_seconds)}, instance.logger(),
                                       crl_faults);
  http::Metrics metrics;  // counted into by the front ends, written out by the API's /metrics
  const ocsp::OcspFrontEnd ocsp_front_end(
      instance.ocsp(),
      ocsp::OcspHttpSettings{config.ocsp.path, std::chrono::seconds(config.ocsp.max_age_seconds),
                             static_cast<std::size_t>(config.serve.max_body_bytes)},
      instance.logger(), &metrics, ocsp_faults);
  auto est_config = est_settings(instance);
  if (!est_config) {
    log.error("{}", est_config.error().message);
    return 1;
  }
  est::CredentialService est_credentials(instance.database(), instance.clock());
  est_config->credentials = &est_credentials;
  const est::EstFrontEnd est_front_end(instance.service(), std::move(*est_config), instance.logger(), &metrics);
  std::vector<std::pair<std::size_t, std::unique_ptr<ListenerTls>>> https_listeners;  // listener index, its TLS
  auto api_clients = api_client_authenticator(instance);
  if (!api_clients) {
    log.error("{}", api_clients.error().message);
    return 1;
  }
  const api::ApiFrontEnd api_front_end(
      api::ApiDependencies{instance.service(), instance.tokens(), instance.database(), instance.database(), instance.crls(),
                           instance.ocsp(), instance.clock(), metrics, instance.lab_faults()},
      api::ApiSettings{static_cast<std::size_t>(config.api.max_body_bytes), config.api.max_auth_failures_per_minute,
                       std::move(*api_clients)},
      instance.logger());
  http::Server server(transport_settings(config.serve), instance.logger(), access);

  for (const auto& listener_config : config.serve.listeners) {
    auto router = std::make_shared<http::Router>(instance.logger());
    router->allow_origins(listener_config.cors_origins);
    const auto carries = [&](std::string_view frontend) {
      return std::ranges::find(listener_config.frontends, frontend) != listener_config.frontends.end();
    };
    // The router takes the longest matching prefix, so /crl/ and /ca/ win over an OCSP prefix of "".
    if (carries("crl")) crl_front_end.mount(*router);
    if (carries("ocsp")) ocsp_front_end.mount(*router);
    if (carries("est")) {
      // BCP-003-01: an API is never answered over plain HTTP.
      if (!listener_config.https) {
        log.error("listener {}:{}: EST needs an HTTPS listener (set tls)", listener_config.address, listener_config.port);
        return 1;
      }
      est_front_end.mount(*router);
    }
    if (carries("api")) {
      if (!listener_config.https) {
        log.error("listener {}:{}: the REST API needs an HTTPS listener (set tls)", listener_config.address,
                  listener_config.port);
        return 1;
      }
      api_front_end.mount(*router);
    }

    http::ListenerSpec spec;
    spec.address = listener_config.address;
    spec.port = listener_config.port;
    spec.router = std::move(router);
    spec.hsts_max_age_seconds = config.serve.hsts_max_age_seconds;
    if (listener_config.https) {
      auto listener_tls = std::make_unique<ListenerTls>(instance, listener_config);
      auto tls = listener_tls->make_context();
      if (!tls) {
        log.error("TLS listener {}:{}: {}", listener_config.address, listener_config.port, tls.error().message);
        return 1;
      }
      spec.tls = std::move(*tls);
      // Server::listen numbers listeners in call order, which is the config's order.
      https_listeners.emplace_back(static_cast<std::size_t>(&listener_config - config.serve.listeners.data()),
                                   std::move(listener_tls));
    }
    auto port = server.listen(std::move(spec));
    if (!port) {
      log.error("{} (address in use, or not an address of this machine)", port.error());
      return 1;
    }
    log.info("listening on {} ({})", listener_url(listener_config, *port), join(listener_config.frontends));
  }

  // After the revocation data: a renewed listener certificate gets its staple from a fresh responder.
  std::atomic<bool> reload_tls_files{false};  // set by SIGHUP
  const auto refresh_listeners = [&] {
    const bool reload = reload_tls_files.exchange(false);
    for (auto& [index, listener_tls] : https_listeners) {
      auto renewed = listener_tls->refresh(reload);
      if (!renewed) {
        log.error("HTTPS listener {}: certificates not renewed: {}", index, renewed.error().message);
      } else if (*renewed) {
        server.replace_tls(index, std::move(**renewed));
        log.info("HTTPS listener {}: renewed certificates in use for new connections", index);
      }
    }
  };
  std::vector<Scheduler::Task> tasks{[&instance] { refresh_revocation_data(instance); }, refresh_listeners};
  std::optional<PublishedTreeKeeper> published_tree;
  if (!config.ocsp.export_link.empty()) {
    published_tree.emplace(instance, resolve_in(instance.data_directory(), config.ocsp.export_link),
                           std::chrono::seconds(config.ocsp.refresh_before_seconds / 2));
    published_tree->run();  // before the first pass: replicas get a tree as soon as serve is up
    tasks.push_back([&published_tree] { published_tree->run(); });
  }
  Scheduler scheduler(std::chrono::seconds(config.serve.scheduler_interval_seconds), std::move(tasks));
  scheduler.start();
  // Full CRLs off the revocation path: a status change (here or in any other process) makes a delta
  // CRL at once and leaves the full CRL behind its issuer's revision; this thread notices that within
  // crl.rebuild_check_seconds and rebuilds it, once for however many changes came meanwhile. A build
  // that fails stays behind the revision and is tried again on the next check.
  Scheduler crl_rebuilder(std::chrono::seconds(config.crl.rebuild_check_seconds), {[&instance, &log] {
                            if (auto made = instance.crls().refresh_due(); !made) {
                              log.error("full CRL rebuild failed (tried again in {} s): {}",
                                        instance.config().crl.rebuild_check_seconds, made.error().message);
                            } else if (*made > 0) {
                              log.info("rebuilt {} full CRL(s)", *made);
                            }
                          }});
  crl_rebuilder.start();
  server.start();
  MdnsAdvertiser mdns;
  if (config.est.mdns) {
    if (auto advert = est_advert(config, DnsSdOptions{}); !advert) {
      log.warn("mDNS: not advertising: {}", advert.error().message);
    } else {
      mdns.start(log, *advert);
    }
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
        log.info("SIGHUP: log level {}, refreshing revocation data and reloading installed TLS certificates",
                 reloaded->log_level);
      }
      reload_tls_files = true;
      scheduler.wake();
      continue;
    }
    log.info("{}: stopping (requests in flight get {} s to finish)", received == SIGINT ? "SIGINT" : "SIGTERM",
             config.serve.shutdown_grace_seconds);
    break;
  }
  mdns.stop();
  server.shutdown(std::chrono::seconds(config.serve.shutdown_grace_seconds));
  access->flush();
  crl_rebuilder.stop();
  scheduler.stop();
  log.info("stopped");
  return exit_code;
}

}  // namespace fca::app
