// `dns-sd`: the DNS-SD records of the EST server for unicast DNS (a zone snippet or nsupdate input).
#include <arpa/inet.h>
#include <fmt/core.h>

#include <algorithm>

#include "command.hpp"
#include "dns_sd.hpp"

namespace fca::app {
namespace {

constexpr const char* kService = "_nmos-certs._tcp";

bool is_address(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 || inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

std::string absolute(std::string name) {
  if (!name.ends_with('.')) name += '.';
  return name;
}

std::string txt_strings(const DnsSdAdvert& advert) {
  std::string out;
  for (const auto& item : advert.txt) out += (out.empty() ? "\"" : " \"") + item + "\"";
  return out;
}

}  // namespace

Result<DnsSdAdvert> est_advert(const Config& config, const DnsSdOptions& options) {
  const auto serves_est = [](const ListenerConfig& l) {
    return l.https && std::ranges::find(l.frontends, "est") != l.frontends.end();
  };
  const auto listener = std::ranges::find_if(config.serve.listeners, serves_est);
  if (listener == config.serve.listeners.end()) return fail(Errc::not_found, "no HTTPS listener serves EST (serve.listeners)");
  if (std::ranges::none_of(config.est.labels, [&](const EstLabelConfig& l) { return l.label == options.label; })) {
    return fail(Errc::policy_refused, "est.labels has no label '" + options.label + "'");
  }
  DnsSdAdvert advert;
  advert.instance = options.instance;
  advert.port = listener->port;
  if (options.host) {
    if (std::ranges::find(listener->tls_names, *options.host) == listener->tls_names.end()) {
      return fail(Errc::policy_refused, "host " + *options.host +
                                            " is not among the listener's certificate names (serve.listeners[].tls.names)");
    }
    advert.host = *options.host;
  } else {
    const auto name = std::ranges::find_if(listener->tls_names, [](const std::string& n) { return !is_address(n); });
    if (name == listener->tls_names.end()) {
      return fail(Errc::policy_refused, "the EST listener's certificates name no DNS name (tls.names)");
    }
    advert.host = *name;
  }
  if (is_address(advert.host)) return fail(Errc::policy_refused, "an SRV record needs a host name, not an address");
  advert.txt = {"api_proto=https", "api_ver=v1.0", "api_selector=" + options.label, "pri=" + std::to_string(options.priority)};
  return advert;
}

std::string zone_snippet(const DnsSdAdvert& advert, const DnsSdOptions& options) {
  const std::string instance = advert.instance + "." + kService;
  const std::string ttl = std::to_string(options.ttl);
  std::string out = fmt::format("; EST server (AMWA BCP-003-03) for unicast DNS-SD\n$ORIGIN {}\n", absolute(options.domain));
  out += fmt::format("_services._dns-sd._udp {} IN PTR {}\n", ttl, kService);
  out += fmt::format("{} {} IN PTR {}\n", kService, ttl, instance);
  out += fmt::format("{} {} IN SRV 0 0 {} {}\n", instance, ttl, advert.port, absolute(advert.host));
  out += fmt::format("{} {} IN TXT {}\n", instance, ttl, txt_strings(advert));
  return out;
}

std::string nsupdate_input(const DnsSdAdvert& advert, const DnsSdOptions& options) {
  const std::string zone = absolute(options.domain);
  const std::string service = std::string(kService) + "." + zone;
  const std::string instance = advert.instance + "." + service;
  const std::string ttl = std::to_string(options.ttl);
  std::string out = fmt::format("zone {}\n", zone);
  out += fmt::format("update delete {} ANY\n", instance);
  out += fmt::format("update add _services._dns-sd._udp.{} {} IN PTR {}\n", zone, ttl, service);
  out += fmt::format("update add {} {} IN PTR {}\n", service, ttl, instance);
  out += fmt::format("update add {} {} IN SRV 0 0 {} {}\n", instance, ttl, advert.port, absolute(advert.host));
  out += fmt::format("update add {} {} IN TXT {}\n", instance, ttl, txt_strings(advert));
  out += "send\n";
  return out;
}

void register_dns_sd_command(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<DnsSdOptions>();
  auto format = std::make_shared<std::string>("zone");
  auto host = std::make_shared<std::string>();
  auto* command = app.add_subcommand("dns-sd", "print the DNS-SD records (_nmos-certs._tcp) of the EST server for unicast DNS");
  command->add_option("--domain", options->domain, "the DNS zone the records go in (e.g. example.test)")->required();
  command->add_option("--host", *host, "host name in the SRV record (default: the EST listener's first tls.names entry)");
  command->add_option("--label", options->label, "the EST label advertised as api_selector (default: none)");
  command->add_option("--priority", options->priority, "the TXT pri value (lower is preferred)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--instance", options->instance, "the service instance name")->capture_default_str();
  command->add_option("--ttl", options->ttl, "record TTL in seconds")->check(CLI::Range(0, 604800))->capture_default_str();
  command->add_option("--format", *format, "zone: a zone-file snippet; nsupdate: input for nsupdate")
      ->check(CLI::IsMember({"zone", "nsupdate"}))
      ->capture_default_str();
  cli.on(command, [&cli, options, format, host]() -> int {
    auto config = load_config(cli.config_file());
    if (!config) return report(exit_usage, config.error().message);
    if (!host->empty()) options->host = *host;
    auto advert = est_advert(*config, *options);
    if (!advert) return report(advert.error());
    fmt::print("{}", *format == "zone" ? zone_snippet(*advert, *options) : nsupdate_input(*advert, *options));
    return exit_ok;
  });
}

}  // namespace fca::app
