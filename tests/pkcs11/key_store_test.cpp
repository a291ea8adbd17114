// Pkcs11KeyStore against SoftHSMv2: keys made on the token, opened through libp11's engine by URI,
// signing X.509 certificates that openssl verifies; refusals; PIN handling.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "fca/core/key_store.hpp"
#include "softhsm_fixture.hpp"

using namespace fca;
using namespace fca::test;

namespace {

KeySpec rsa(int bits) { return KeySpec{KeyAlgorithm::rsa, bits, ""}; }
KeySpec ec(const std::string& curve) { return KeySpec{KeyAlgorithm::ec, 0, curve}; }
KeySpec ed25519() { return KeySpec{KeyAlgorithm::ed25519, 0, ""}; }

// Labels stay unique across Catch sections and reruns within the process.
std::string unique_label(const std::string& stem) {
  static int counter = 0;
  return stem + "-" + std::to_string(++counter);
}

// Everything the library writes to stdout/stderr while alive (it must write nothing).
class CapturedOutput {
 public:
  explicit CapturedOutput(std::filesystem::path file) : file_(std::move(file)) {
    std::fflush(stdout);
    std::fflush(stderr);
    saved_out_ = ::dup(1);
    saved_err_ = ::dup(2);
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  CapturedOutput(const CapturedOutput&) = delete;
  CapturedOutput& operator=(const CapturedOutput&) = delete;
  ~CapturedOutput() { restore(); }

  std::string finish() {
    restore();
    return read_file(file_);
  }

 private:
  void restore() {
    if (saved_out_ < 0) return;
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(saved_out_, 1);
    ::dup2(saved_err_, 2);
    ::close(saved_out_);
    ::close(saved_err_);
    saved_out_ = saved_err_ = -1;
  }
  std::filesystem::path file_;
  int saved_out_ = -1;
  int saved_err_ = -1;
};

// pkcs11-tool's description of the private key object labelled `label` ("" when absent).
std::string private_key_listing(const std::string& token, const std::string& label) {
  auto listing = pkcs11_tool("--token-label " + shell_quote(token) + " --login --pin " + user_pin +
                             " --list-objects --type privkey");
  REQUIRE(listing.exit_code == 0);
  const std::string marker = "label:      " + label + "\n";
  const auto at = listing.output.find(marker);
  if (at == std::string::npos) return "";
  const auto next = listing.output.find("Object;", at);
  return listing.output.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

std::string access_line(const std::string& listing) {
  const auto at = listing.find("Access:");
  return at == std::string::npos ? "" : listing.substr(at, listing.find('\n', at) - at);
}

bool signs_verifiably(EVP_PKEY* key, EVP_PKEY* verifier) {
  auto certificate = self_signed_certificate(key, "signature check");
  return certificate && X509_verify(certificate.get(), verifier) == 1;
}

PKeyPtr software_key(const char* type, const char* parameter) {
  if (std::string_view(type) == "RSA") return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type, parameter));
}

}  // namespace

TEST_CASE("keys generated on the token sign X.509 certificates that openssl verifies", "[pkcs11]") {
  TempDir work;
  Pkcs11KeyStore store(store_options(keys_token));
  CHECK(store.scheme() == "pkcs11");

  struct Case {
    KeySpec spec;
    const char* type;
    int bits;
  };
  const Case cases[] = {{rsa(2048), "RSA", 2048}, {ec("P-256"), "EC", 256}, {ec("P-384"), "EC", 384}};
  for (const auto& c : cases) {
    const std::string label = unique_label("signer-" + std::string(c.type) + std::to_string(c.bits));
    INFO(label);
    auto uri = store.generate(c.spec, label);
    REQUIRE(uri);
    CHECK_THAT(*uri, Catch::StartsWith("pkcs11:token=fca-keys;object=" + label + ";id=%"));
    CHECK_THAT(*uri, Catch::EndsWith(";type=private"));
    CHECK_THAT(*uri, !Catch::Contains("pin"));
    auto parsed = Pkcs11Uri::parse(*uri);
    REQUIRE(parsed);
    CHECK(parsed->path.at("id").size() == 16);
    CHECK(parsed->path.at("object") == label);

    // The key is on the token, generated there, and can never leave it.
    const auto listing = private_key_listing(keys_token, label);
    REQUIRE_FALSE(listing.empty());
    const auto access = access_line(listing);
    CHECK_THAT(access, Catch::Contains("sensitive"));
    CHECK_THAT(access, Catch::Contains("never extractable"));
    CHECK_THAT(access, Catch::Contains("local"));

    auto key = store.open(*uri);
    REQUIRE(key);
    CHECK(EVP_PKEY_is_a(key->get(), c.type) == 1);
    CHECK(EVP_PKEY_get_bits(key->get()) == c.bits);

    auto certificate = self_signed_certificate(key->get(), "Token " + label);
    REQUIRE(certificate);
    // Checked against the public key as the token reports it, read by pkcs11-tool.
    auto token_public = token_public_key(keys_token, label);
    CHECK(X509_verify(certificate.get(), token_public.get()) == 1);
    auto stranger = software_key("EC", "P-256");
    CHECK(X509_verify(certificate.get(), stranger.get()) != 1);

    auto verified = openssl_verify_self_signed(certificate.get(), work.path());
    INFO(verified.output);
    CHECK(verified.exit_code == 0);
    CHECK_THAT(verified.output, Catch::Contains(": OK"));
  }
}

TEST_CASE("labels with spaces and punctuation survive the trip through the URI", "[pkcs11]") {
  Pkcs11KeyStore store(store_options(keys_token));
  const std::string label = unique_label("Facility CA key/2026 (ops)");
  auto uri = store.generate(ec("P-256"), label);
  REQUIRE(uri);
  CHECK_THAT(*uri, Catch::Contains(";object=Facility%20CA%20key%2F2026%20%28ops%29-"));
  auto parsed = Pkcs11Uri::parse(*uri);
  REQUIRE(parsed);
  CHECK(parsed->path.at("object") == label);
  auto key = store.open(*uri);
  REQUIRE(key);
  CHECK(signs_verifiably(key->get(), token_public_key(keys_token, label).get()));
  // The module can also come from the URI itself.
  auto with_module = store.open(*uri + "?module-path=" + softhsm_module);
  REQUIRE(with_module);
  CHECK(EVP_PKEY_eq(with_module->get(), key->get()) == 1);
}

TEST_CASE("a key opened twice and from several threads signs every time", "[pkcs11]") {
  Pkcs11KeyStore store(store_options(keys_token));
  auto rsa_uri = store.generate(rsa(2048), unique_label("threads-rsa"));
  auto ec_uri = store.generate(ec("P-256"), unique_label("threads-ec"));
  REQUIRE(rsa_uri);
  REQUIRE(ec_uri);
  // SigningKeys serialises a token key (one shared session); a file key is not.
  CHECK(store.signs_one_at_a_time(*ec_uri));

  std::atomic<int> opened{0};
  std::atomic<int> signed_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto key = store.open(t % 2 ? *rsa_uri : *ec_uri);
        if (!key) continue;
        ++opened;
        // Each opened key is used by one thread only: one token operation at a time per key.
        if (signs_verifiably(key->get(), key->get())) ++signed_ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(opened == 20);
  CHECK(signed_ok == 20);
}

TEST_CASE("the PIN comes from the store, pin-value or pin-source=file:, and a wrong one is refused", "[pkcs11]") {
  TempDir work;
  auto uri_for = [](const char* token) { return std::string("pkcs11:token=") + token + ";object=probe-key;type=private"; };
  Pkcs11KeyStore no_pin_store(store_options(pin_value_token, false));

  SECTION("no PIN anywhere") {
    auto key = no_pin_store.open(uri_for(pin_value_token));
    REQUIRE_FALSE(key);
    CHECK(key.error().code == Errc::key_failure);
    CHECK_THAT(key.error().message, Catch::Contains("no PIN"));
  }

  SECTION("wrong PINs fail without revealing themselves, then pin-value opens the key") {
    const std::string token = pin_value_token;
    // Refused by the token itself: nothing in this process has logged in to it yet.
    auto options = store_options(token);
    options.pin = "907163";
    Pkcs11KeyStore wrong_pin_store(options);
    CapturedOutput output(work / "output.txt");
    auto generated = wrong_pin_store.generate(ec("P-256"), unique_label("wrong-pin"));
    auto by_option = wrong_pin_store.open(uri_for(token.c_str()));
    auto by_value = no_pin_store.open(uri_for(token.c_str()) + "?pin-value=55%2F1");
    write_file(work / "wrong-pin", "441122\n");
    auto by_file = no_pin_store.open(uri_for(token.c_str()) + "?pin-source=file:" + (work / "wrong-pin").string());
    const std::string printed = output.finish();

    REQUIRE_FALSE(generated);
    CHECK(generated.error().code == Errc::key_failure);
    CHECK_THAT(generated.error().message, Catch::Contains("CKR_PIN_INCORRECT"));
    CHECK_THAT(generated.error().message, !Catch::Contains("907163"));
    REQUIRE_FALSE(by_option);
    CHECK(by_option.error().code == Errc::key_failure);
    CHECK_THAT(by_option.error().message, Catch::Contains("PIN incorrect"));
    CHECK_THAT(by_option.error().message, !Catch::Contains("907163"));
    REQUIRE_FALSE(by_value);
    CHECK(by_value.error().code == Errc::key_failure);
    CHECK_THAT(by_value.error().message, !Catch::Contains("55/1"));
    CHECK_THAT(by_value.error().message, !Catch::Contains("55%2F1"));
    CHECK_THAT(by_value.error().message, !Catch::Contains("?pin"));
    REQUIRE_FALSE(by_file);
    CHECK(by_file.error().code == Errc::key_failure);
    CHECK_THAT(by_file.error().message, !Catch::Contains("441122"));
    CHECK(printed.empty());

    auto key = no_pin_store.open(uri_for(token.c_str()) + "?pin-value=" + user_pin);
    REQUIRE(key);
    CHECK(signs_verifiably(key->get(), token_public_key(token, "probe-key").get()));
  }

  SECTION("pin-source=file: with a trailing newline opens the key") {
    const std::string token = pin_source_token;
    Pkcs11KeyStore store(store_options(token, false));
    auto missing = store.open(uri_for(token.c_str()) + "?pin-source=file:" + (work / "absent").string());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::key_failure);
    CHECK_THAT(missing.error().message, Catch::Contains((work / "absent").string()));

    write_file(work / "pin", std::string(user_pin) + "\n");
    auto key = store.open(uri_for(token.c_str()) + "?pin-source=file://" + (work / "pin").string());
    REQUIRE(key);
    CHECK(signs_verifiably(key->get(), token_public_key(token, "probe-key").get()));
    auto again = store.open(uri_for(token.c_str()) + "?pin-source=file:" + (work / "pin").string());
    REQUIRE(again);
  }
}

TEST_CASE("the key store refuses what it cannot do, with the reason", "[pkcs11]") {
  TempDir work;
  Pkcs11KeyStore store(store_options(errors_token));
  const std::string token = errors_token;

  SECTION("unknown object or token, silently") {
    CapturedOutput output(work / "output.txt");
    auto unknown_object = store.open("pkcs11:token=" + token + ";object=does-not-exist;type=private");
    auto unknown_id = store.open("pkcs11:token=" + token + ";id=%de%ad;type=private");
    auto unknown_token = store.open("pkcs11:token=no-such-token;object=x;type=private");
    const std::string printed = output.finish();
    REQUIRE_FALSE(unknown_object);
    CHECK(unknown_object.error().code == Errc::key_failure);
    CHECK_THAT(unknown_object.error().message, Catch::Contains("object=does-not-exist"));
    REQUIRE_FALSE(unknown_id);
    CHECK(unknown_id.error().code == Errc::key_failure);
    REQUIRE_FALSE(unknown_token);
    CHECK(unknown_token.error().code == Errc::key_failure);
    CHECK(printed.empty());
  }

  SECTION("Ed25519 cannot live on the token") {
    auto generated = store.generate(ed25519(), unique_label("ed"));
    REQUIRE_FALSE(generated);
    CHECK(generated.error().code == Errc::key_failure);
    CHECK_THAT(generated.error().message, Catch::Contains("Ed25519"));
    CHECK_THAT(generated.error().message, Catch::Contains("libp11"));
    auto software = software_key("ED25519", nullptr);
    REQUIRE(software);
    auto imported = store.import(software.get(), unique_label("ed-import"));
    REQUIRE_FALSE(imported);
    CHECK(imported.error().code == Errc::key_failure);
    CHECK_THAT(imported.error().message, Catch::Contains("Ed25519"));
  }

  SECTION("a label in use is never overwritten") {
    const std::string label = unique_label("taken");
    auto first = store.generate(ec("P-256"), label);
    REQUIRE(first);
    auto before = token_public_key(token, label);

    auto again = store.generate(rsa(2048), label);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::conflict);
    CHECK_THAT(again.error().message, Catch::Contains(label));
    auto software = software_key("EC", "P-256");
    auto imported = store.import(software.get(), label);
    REQUIRE_FALSE(imported);
    CHECK(imported.error().code == Errc::conflict);

    auto key = store.open(*first);
    REQUIRE(key);
    CHECK(EVP_PKEY_is_a(key->get(), "EC") == 1);
    CHECK(EVP_PKEY_eq(key->get(), before.get()) == 1);
    CHECK(signs_verifiably(key->get(), before.get()));
  }

  SECTION("key sizes and curves outside the supported set") {
    auto small = store.generate(rsa(1024), unique_label("rsa1024"));
    REQUIRE_FALSE(small);
    CHECK(small.error().code == Errc::invalid_input);
    auto p521 = store.generate(ec("P-521"), unique_label("p521"));
    REQUIRE_FALSE(p521);
    CHECK(p521.error().code == Errc::invalid_input);
    auto no_label = store.generate(ec("P-256"), "");
    REQUIRE_FALSE(no_label);
    CHECK(no_label.error().code == Errc::invalid_input);
  }

  SECTION("URIs the engine cannot honour") {
    for (const std::string& uri : std::vector<std::string>{"pkcs11:token=" + token + ";object=k;type=cert",
                                                           "pkcs11:token=" + token + ";type=private",
                                                           "pkcs11:slot-id=1;object=k", "file:/etc/key.pem"}) {
      INFO(uri);
      auto key = store.open(uri);
      REQUIRE_FALSE(key);
      CHECK((key.error().code == Errc::key_failure || key.error().code == Errc::invalid_input));
    }
    auto malformed = store.open("pkcs11:objet=k");
    REQUIRE_FALSE(malformed);
    CHECK(malformed.error().code == Errc::invalid_input);
  }

  SECTION("a module that does not exist") {
    auto options = store_options(token);
    options.module_path = (work / "no-such-module.so").string();
    Pkcs11KeyStore broken(options);
    auto generated = broken.generate(ec("P-256"), unique_label("nomodule"));
    REQUIRE_FALSE(generated);
    CHECK(generated.error().code == Errc::key_failure);
    CHECK_THAT(generated.error().message, Catch::Contains("no-such-module.so"));
    auto opened = broken.open("pkcs11:token=" + token + ";object=x;type=private");
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code == Errc::key_failure);
    // The failure did not disturb the store that uses the real module.
    auto good = store.generate(ec("P-256"), unique_label("after-bad-module"));
    REQUIRE(good);
    CHECK(store.open(*good));
  }

  SECTION("no token configured for generate") {
    auto options = store_options(token);
    options.token_label = "";
    Pkcs11KeyStore untargeted(options);
    auto generated = untargeted.generate(ec("P-256"), unique_label("notoken"));
    REQUIRE_FALSE(generated);
    CHECK(generated.error().code == Errc::key_failure);
    auto options_other = store_options("not-a-token");
    Pkcs11KeyStore missing_token(options_other);
    auto missing = missing_token.generate(ec("P-256"), unique_label("missing-token"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::key_failure);
    CHECK_THAT(missing.error().message, Catch::Contains("not-a-token"));
  }
}

TEST_CASE("software keys imported onto the token open and sign as the same key", "[pkcs11]") {
  TempDir work;
  Pkcs11KeyStore store(store_options(import_token));
  struct Case {
    const char* type;
    const char* parameter;
  };
  for (const auto& c : {Case{"RSA", nullptr}, Case{"EC", "P-256"}, Case{"EC", "P-384"}}) {
    const std::string label = unique_label(std::string("imported-") + c.type);
    INFO(label);
    auto software = software_key(c.type, c.parameter);
    REQUIRE(software);
    auto uri = store.import(software.get(), label);
    REQUIRE(uri);
    CHECK_THAT(*uri, Catch::StartsWith("pkcs11:token=fca-import;object=" + label + ";id=%"));

    const auto access = access_line(private_key_listing(import_token, label));
    CHECK_THAT(access, Catch::Contains("sensitive"));
    CHECK_THAT(access, !Catch::Contains("extractable"));  // pkcs11-tool names CKA_EXTRACTABLE when it is set

    auto key = store.open(*uri);
    REQUIRE(key);
    CHECK(EVP_PKEY_eq(key->get(), software.get()) == 1);
    CHECK(EVP_PKEY_eq(token_public_key(import_token, label).get(), software.get()) == 1);
    auto certificate = self_signed_certificate(key->get(), "Imported " + label);
    REQUIRE(certificate);
    CHECK(X509_verify(certificate.get(), software.get()) == 1);
    CHECK(openssl_verify_self_signed(certificate.get(), work.path()).exit_code == 0);
  }
}
