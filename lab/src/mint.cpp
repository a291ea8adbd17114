#include <algorithm>
#include <chrono>
#include <map>

#include "fca/core/x509.hpp"
#include "fca/lab/lab.hpp"
#include "files.hpp"

namespace fca::lab {
namespace {

using nlohmann::json;
using std::chrono::days;
using std::chrono::minutes;

constexpr const char* kExpiredIntermediate = "lab-expired-intermediate";
constexpr const char* kRevokedIntermediate = "lab-revoked-intermediate";
constexpr const char* kUntrustedRoot = "lab-untrusted-root";
constexpr const char* kLongChain[] = {"lab-long-chain-1", "lab-long-chain-2", "lab-long-chain-3"};

enum class After { nothing, revoke, hold };

// One certificate of a kind, and what openssl must say of it (the manifest's "checks").
struct Variant {
  std::string name;  // file base
  std::string profile = "nmos-node";
  KeySpec key{KeyAlgorithm::ec, 0, "P-256"};
  std::string common_name;
  std::vector<SubjectAltName> sans;
  TimePoint not_before{};
  TimePoint not_after{};
  bool sha1 = false;
  bool without_aia = false;
  bool self_signed = false;
  std::string ca;  // "" : the default issuing CA
  After after = After::nothing;
  std::string client_must;
  json checks = json::array();
};

SubjectAltName dns(const std::string& name) { return {SubjectAltName::Kind::dns, name}; }

json verify(std::vector<std::string> args, std::string expect) {
  return {{"tool", "verify"}, {"args", std::move(args)}, {"expect", std::move(expect)}};
}
// s_client against a local s_server presenting the certificate, checking `name` (a host or an IP).
json tls(const std::string& name, std::string expect, bool ip = false) {
  return {{"tool", "tls"},
          {"args", ip ? std::vector<std::string>{"-verify_ip", name}
                      : std::vector<std::string>{"-verify_hostname", name, "-servername", name}},
          {"expect", std::move(expect)}};
}
// The certificate presented as a TLS client's to an s_server that requires one.
json tls_client(std::string expect) { return {{"tool", "tls-client"}, {"expect", std::move(expect)}}; }
json ocsp(std::string expect) { return {{"tool", "ocsp"}, {"expect", std::move(expect)}}; }
json x509_has(std::string text) { return {{"tool", "x509"}, {"contains", std::move(text)}}; }
json x509_lacks(std::string text) { return {{"tool", "x509"}, {"lacks", std::move(text)}}; }

std::vector<Variant> variants_of(std::string_view kind, const std::string& cn, TimePoint now) {
  const auto from = now - minutes(5);
  const auto to = now + days(90);
  auto base = [&](std::string name, std::string must) {
    Variant v;
    v.name = std::move(name);
    v.common_name = cn;
    v.sans = {dns(cn)};
    v.not_before = from;
    v.not_after = to;
    v.client_must = std::move(must);
    return v;
  };
  const std::vector<std::string> server = {"-purpose", "sslserver", "-verify_hostname", cn};
  std::vector<Variant> out;
  if (kind == "valid") {
    auto ec = base("valid", "accept: a valid ECDSA P-256 server and client certificate for " + cn);
    ec.checks = {verify(server, "OK"), tls(cn, "OK"), tls_client("OK"), ocsp("good")};
    auto rsa = base("valid-rsa", "accept: a valid RSA-2048 server and client certificate for " + cn);
    rsa.key = KeySpec{KeyAlgorithm::rsa, 2048, ""};
    rsa.checks = {verify(server, "OK"), tls(cn, "OK"), ocsp("good")};
    out = {std::move(ec), std::move(rsa)};
  } else if (kind == "expired") {
    auto v = base("expired", "refuse: the certificate's notAfter has passed");
    v.not_before = now - days(60);
    v.not_after = now - days(30);
    v.checks = {verify(server, "certificate has expired"), tls(cn, "certificate has expired")};
    out = {std::move(v)};
  } else if (kind == "not-yet-valid") {
    auto v = base("not-yet-valid", "refuse: the certificate's notBefore lies in the future");
    v.not_before = now + days(30);
    v.not_after = now + days(120);
    v.checks = {verify(server, "certificate is not yet valid"), tls(cn, "certificate is not yet valid")};
    out = {std::move(v)};
  } else if (kind == "revoked") {
    auto v = base("revoked", "refuse: revoked (keyCompromise); OCSP says revoked and the issuing CA's CRL lists it");
    v.after = After::revoke;
    v.checks = {verify(server, "OK"), verify({"-purpose", "sslserver", "-crl_check"}, "certificate revoked"),
                ocsp("revoked")};
    out = {std::move(v)};
  } else if (kind == "on-hold") {
    auto v = base("on-hold", "refuse while on hold (certificateHold): OCSP says revoked, the CRL lists it");
    v.after = After::hold;
    v.checks = {verify({"-purpose", "sslserver", "-crl_check"}, "certificate revoked"), ocsp("revoked")};
    out = {std::move(v)};
  } else if (kind == "wrong-eku") {
    auto client = base("wrong-eku-client-only", "refuse as a server certificate: its EKU is clientAuth only");
    client.profile = "client";
    client.checks = {verify(server, "unsuitable certificate purpose"), verify({"-purpose", "sslclient"}, "OK"),
                     tls(cn, "unsuitable certificate purpose")};
    auto srv = base("wrong-eku-server-only", "refuse as a client certificate: its EKU is serverAuth only");
    srv.profile = "server";
    srv.checks = {verify({"-purpose", "sslclient"}, "unsuitable certificate purpose"), verify(server, "OK"),
                  tls_client("alert unsupported certificate")};
    out = {std::move(client), std::move(srv)};
  } else if (kind == "no-san") {
    auto v = base("no-san",
                  "refuse: no subjectAltName, the name is in the CN only (RFC 6125 §6.4.4 and BCP-003-01 want every "
                  "name in the SAN); openssl falls back to the CN and accepts");
    v.sans.clear();
    v.checks = {x509_lacks("Subject Alternative Name"), verify(server, "OK")};
    out = {std::move(v)};
  } else if (kind == "wildcard") {
    auto v = base("wildcard",
                  "match one label only (node." + cn + ", never " + cn + " or a.b." + cn +
                      "); BCP-003-01 says wildcards SHOULD NOT be used, so a strict client may refuse it");
    v.common_name = "*." + cn;
    v.sans = {dns("*." + cn)};
    v.checks = {verify({"-purpose", "sslserver", "-verify_hostname", "node." + cn}, "OK"),
                verify({"-purpose", "sslserver", "-verify_hostname", "a.b." + cn}, "hostname mismatch"),
                tls("node." + cn, "OK")};
    out = {std::move(v)};
  } else if (kind == "ip-san") {
    auto v = base("ip-san",
                  "match 127.0.0.1 by its IP SAN only (openssl, finding no DNS SAN, also matches the CN); BCP-003-01 "
                  "says IP addresses SHOULD NOT be used in a SAN, so a strict client may refuse it");
    v.sans = {SubjectAltName{SubjectAltName::Kind::ip, "127.0.0.1"}};
    v.checks = {verify({"-purpose", "sslserver", "-verify_ip", "127.0.0.1"}, "OK"),
                tls("127.0.0.1", "OK", true)};
    out = {std::move(v)};
  } else if (kind == "wrong-host") {
    auto v = base("wrong-host", "refuse when connecting to " + cn + ": the certificate names other." + cn);
    v.common_name = "other." + cn;
    v.sans = {dns("other." + cn)};
    v.checks = {verify(server, "hostname mismatch"), tls(cn, "hostname mismatch")};
    out = {std::move(v)};
  } else if (kind == "self-signed") {
    auto v = base("self-signed", "refuse: signed by its own key, no trust anchor vouches for it");
    v.self_signed = true;
    v.checks = {verify(server, "self-signed certificate"), tls(cn, "self-signed certificate")};
    out = {std::move(v)};
  } else if (kind == "untrusted-root") {
    auto v = base("untrusted-root", "refuse: its chain ends in a root that is not one of the lab's trust anchors");
    v.ca = kUntrustedRoot;
    v.checks = {verify(server, "self-signed certificate in certificate chain"),
                tls(cn, "self-signed certificate in certificate chain")};
    out = {std::move(v)};
  } else if (kind == "expired-intermediate") {
    auto v = base("expired-intermediate", "refuse: the intermediate CA above it has expired");
    v.ca = kExpiredIntermediate;
    v.checks = {verify(server, "certificate has expired"), tls(cn, "certificate has expired")};
    out = {std::move(v)};
  } else if (kind == "revoked-intermediate") {
    auto v = base("revoked-intermediate", "refuse: the intermediate CA above it is revoked (the root's CRL lists it)");
    v.ca = kRevokedIntermediate;
    v.checks = {verify(server, "OK"), verify({"-purpose", "sslserver", "-crl_check_all"}, "certificate revoked")};
    out = {std::move(v)};
  } else if (kind == "long-chain") {
    auto v = base("long-chain", "accept: a valid chain with three intermediates (root, three CAs, the leaf)");
    v.ca = kLongChain[2];
    v.checks = {verify(server, "OK"), tls(cn, "OK")};
    out = {std::move(v)};
  } else if (kind == "weak-key") {
    auto v = base("weak-key", "refuse: an RSA-1024 key (BCP-003-01 clients need at least 2048 bits)");
    v.key = KeySpec{KeyAlgorithm::rsa, 1024, ""};
    v.checks = {x509_has("Public-Key: (1024 bit)"), verify(server, "OK"),
                verify({"-purpose", "sslserver", "-auth_level", "2"}, "EE certificate key too weak"),
                tls(cn, "EE certificate key too weak")};
    out = {std::move(v)};
  } else if (kind == "sha1-signature") {
    auto v = base("sha1-signature", "refuse: signed with SHA-1");
    v.sha1 = true;
    v.checks = {x509_has("-with-SHA1"), verify(server, "OK"),
                verify({"-purpose", "sslserver", "-auth_level", "2"}, "CA signature digest algorithm too weak"),
                tls(cn, "CA signature digest algorithm too weak")};
    out = {std::move(v)};
  } else if (kind == "missing-aia") {
    auto v = base("missing-aia",
                  "find no revocation source (no OCSP URL, no CRL distribution point): a client that requires "
                  "revocation checking refuses; one that soft-fails must say so");
    v.without_aia = true;
    v.checks = {x509_lacks("Authority Information Access"), x509_lacks("CRL Distribution Points"), verify(server, "OK")};
    out = {std::move(v)};
  }
  return out;
}

}  // namespace

const std::vector<std::string>& kind_names() {
  static const std::vector<std::string> names{
      "valid",        "expired",         "not-yet-valid",        "revoked",    "on-hold",  "wrong-eku",
      "no-san",       "wildcard",        "ip-san",               "wrong-host", "self-signed",
      "untrusted-root", "expired-intermediate", "revoked-intermediate", "long-chain", "weak-key",
      "sha1-signature", "missing-aia"};
  return names;
}

bool is_kind(std::string_view name) { return std::ranges::find(kind_names(), name) != kind_names().end(); }

CrlBundle crl_bundle_of(service::Service& service, service::Principal who, CrlService& crls) {
  return [&service, who = std::move(who), &crls]() -> Result<std::string> {
    auto cas = service.list_cas(who);
    if (!cas) return std::unexpected(cas.error());
    std::string bundle;
    for (const auto& ca : *cas) {
      if (ca.record.state != CaState::active) continue;
      auto crl = crls.current(ca.record);
      if (!crl) continue;
      const unsigned char* p = crl->der.data();
      X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->der.size())));
      if (!parsed) return fail(Errc::storage, "the stored CRL of CA '" + ca.record.name + "' cannot be read");
      bundle += to_pem(parsed.get());
    }
    return bundle;
  };
}

Minter::Minter(service::Service& service, service::Principal who, CrlBundle crls)
    : service_(service), who_(std::move(who)), crls_(std::move(crls)) {}

Result<std::string> Minter::root_name() {
  auto cas = service_.list_cas(who_);
  if (!cas) return std::unexpected(cas.error());
  std::map<std::string, const service::CaInfo*> by_name;
  const service::CaInfo* current = nullptr;
  for (const auto& ca : *cas) {
    by_name[ca.record.name] = &ca;
    if (ca.record.is_default) current = &ca;
  }
  if (!current) return fail(Errc::not_found, "this instance has no default issuing CA");
  for (int depth = 0; depth < 32 && !current->parent.empty(); ++depth) {
    auto parent = by_name.find(current->parent);
    if (parent == by_name.end()) return fail(Errc::storage, "the parent of CA '" + current->record.name + "' is missing");
    current = parent->second;
  }
  return current->record.name;
}

Result<std::string> Minter::ensure_ca(const std::string& name) {
  if (service_.get_ca(who_, name)) return name;
  auto root = root_name();
  if (!root) return std::unexpected(root.error());
  const auto now = service_.clock().now();
  LabCaRequest request{.name = name,
                       .common_name = {},
                       .kind = {},
                       .key = KeySpec{KeyAlgorithm::ec, 0, "P-256"},
                       .parent = *root,
                       .path_length = std::nullopt,
                       .not_before = now - minutes(5),
                       .not_after = now + days(5 * 365),
                       .requester = {}};
  if (name == kExpiredIntermediate) {
    request.common_name = "LAB Expired Intermediate CA";
    request.kind = "expired-intermediate";
    request.not_before = now - days(400);
    request.not_after = now - days(30);
  } else if (name == kRevokedIntermediate) {
    request.common_name = "LAB Revoked Intermediate CA";
    request.kind = "revoked-intermediate";
  } else if (name == kUntrustedRoot) {
    request.common_name = "LAB Untrusted Root CA";
    request.kind = "untrusted-root";
    request.parent = std::nullopt;
  } else {
    const auto* level = std::ranges::find(kLongChain, name);
    if (level == std::end(kLongChain)) return fail(Errc::internal, "no lab CA named " + name);
    const auto index = level - std::begin(kLongChain);
    request.common_name = "LAB Long Chain CA " + std::to_string(index + 1);
    request.kind = "long-chain";
    if (index > 0) {
      auto above = ensure_ca(kLongChain[index - 1]);
      if (!above) return std::unexpected(above.error());
      request.parent = *above;
    }
  }
  auto made = service_.lab_create_ca(who_, std::move(request));
  if (!made) return std::unexpected(made.error());
  if (name == kRevokedIntermediate) {
    if (auto revoked = ensure_revoked(name); !revoked) return std::unexpected(revoked.error());
  }
  return name;
}

Result<void> Minter::ensure_revoked(const std::string& ca_name) {
  auto ca = service_.get_ca(who_, ca_name);
  if (!ca) return std::unexpected(ca.error());
  auto cert = parse_certificate(ca->record.certificate_pem);
  if (!cert) return std::unexpected(cert.error());
  auto revoked = service_.revoke(who_, RevokeRequest{.serial = serial_hex(cert->get()),
                                                     .ca = ca->parent,
                                                     .reason = RevocationReason::key_compromise,
                                                     .invalidity_date = {},
                                                     .requester = {}});
  if (!revoked && revoked.error().code != Errc::conflict) return std::unexpected(revoked.error());
  return {};
}

Result<void> Minter::write_shared_files(const std::filesystem::path& directory) {
  auto root = root_name();
  if (!root) return std::unexpected(root.error());
  auto ca = service_.get_ca(who_, *root);
  if (!ca) return std::unexpected(ca.error());
  if (auto w = write_file(directory / "root.pem", ca->record.certificate_pem, 0644); !w) return w;
  if (crls_) {
    auto bundle = crls_();
    if (!bundle) return std::unexpected(bundle.error());
    if (auto w = write_file(directory / "crls.pem", *bundle, 0644); !w) return w;
  }
  return {};
}

Result<json> Minter::mint_kind(std::string_view kind, const std::string& common_name,
                               const std::filesystem::path& directory) {
  if (!is_kind(kind)) return fail(Errc::invalid_input, "unknown lab kind '" + std::string(kind) + "'");
  if (common_name.empty() || common_name.size() > 64) return fail(Errc::invalid_input, "--cn must be 1-64 characters");
  json entries = json::array();
  for (auto& variant : variants_of(kind, common_name, service_.clock().now())) {
    if (!variant.ca.empty()) {
      auto ca = ensure_ca(variant.ca);
      if (!ca) return std::unexpected(ca.error());
    }
    auto minted = service_.lab_issue(who_,
                                     LabIssueRequest{.kind = std::string(kind),
                                                     .ca = variant.ca.empty() ? std::nullopt : std::optional(variant.ca),
                                                     .self_signed = variant.self_signed,
                                                     .common_name = variant.common_name,
                                                     .sans = variant.sans,
                                                     .profile = variant.profile,
                                                     .not_before = variant.not_before,
                                                     .not_after = variant.not_after,
                                                     .sha1 = variant.sha1,
                                                     .without_aia = variant.without_aia,
                                                     .subject_key = nullptr,
                                                     .requester = {}},
                                     variant.key);
    if (!minted) return std::unexpected(minted.error());
    const auto& record = minted->issued.record;
    std::string issuer;
    if (!variant.self_signed) {
      auto found = service_.get_certificate(who_, record.serial, std::nullopt);
      issuer = found ? found->ca : "";
    }
    if (variant.after != After::nothing) {
      auto changed = service_.revoke(
          who_, RevokeRequest{.serial = record.serial,
                              .ca = issuer,
                              .reason = variant.after == After::hold ? RevocationReason::certificate_hold
                                                                     : RevocationReason::key_compromise,
                              .invalidity_date = {},
                              .requester = {}});
      if (!changed) return std::unexpected(changed.error());
    }
    const std::string key_file = variant.name + ".key.pem";
    const std::string cert_file = variant.name + ".crt.pem";
    const std::string chain_file = variant.name + ".chain.pem";
    if (auto w = write_file(directory / key_file, minted->key_pem, 0600); !w) return std::unexpected(w.error());
    if (auto w = write_file(directory / cert_file, minted->issued.pem(), 0644); !w) return std::unexpected(w.error());
    if (auto w = write_file(directory / chain_file, minted->issued.chain_pem(), 0644); !w) {
      return std::unexpected(w.error());
    }
    entries.push_back({{"name", variant.name},
                       {"kind", std::string(kind)},
                       {"common_name", variant.common_name},
                       {"serial", record.serial},
                       {"issuer_ca", variant.self_signed ? "" : issuer},
                       {"key", key_file},
                       {"cert", cert_file},
                       {"chain", chain_file},
                       {"client_must", variant.client_must},
                       {"checks", variant.checks}});
  }
  return entries;
}

namespace {
Result<void> write_manifest(const std::filesystem::path& directory, const json& entries) {
  const json manifest{{"trust_anchor", "root.pem"},
                      {"crls", "crls.pem"},
                      {"about", "facility-ca lab kit: each entry's client_must says what a compliant (BCP-003-01) "
                                "client does with it; checks are what openssl says (facility-ca lab check runs them)"},
                      {"entries", entries}};
  return write_file(directory / "manifest.json", manifest.dump(2) + "\n", 0644);
}
}  // namespace

Result<json> Minter::mint(std::string_view kind, const std::string& common_name, const std::filesystem::path& directory) {
  auto entries = mint_kind(kind, common_name, directory);
  if (!entries) return entries;
  if (auto shared = write_shared_files(directory); !shared) return std::unexpected(shared.error());
  json all = json::array();
  if (auto existing = read_file(directory / "manifest.json")) {
    auto parsed = json::parse(*existing, nullptr, false);
    if (parsed.is_object() && parsed.contains("entries") && parsed["entries"].is_array()) all = parsed["entries"];
  }
  for (const auto& entry : *entries) {
    auto same = std::ranges::find_if(all, [&](const json& e) { return e.value("name", "") == entry["name"]; });
    if (same != all.end()) *same = entry;
    else all.push_back(entry);
  }
  if (auto w = write_manifest(directory, all); !w) return std::unexpected(w.error());
  return entries;
}

Result<json> Minter::mint_all(const std::filesystem::path& directory) {
  json all = json::array();
  for (const auto& kind : kind_names()) {
    auto entries = mint_kind(kind, kind + ".localhost", directory);
    if (!entries) return entries;
    for (auto& entry : *entries) all.push_back(std::move(entry));
  }
  if (auto shared = write_shared_files(directory); !shared) return std::unexpected(shared.error());
  if (auto w = write_manifest(directory, all); !w) return std::unexpected(w.error());
  return all;
}

}  // namespace fca::lab
