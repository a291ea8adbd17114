// SigningKey: a key in memory signs on many threads at once; a key that takes one operation at a
// time (a PKCS#11 session) is serialised. The key store says which.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <thread>
#include <vector>

#include <openssl/x509.h>

#include "fca/core/key_store.hpp"
#include "fca/core/keys.hpp"
#include "fca/core/signing.hpp"
#include "test_support.hpp"

using namespace fca;

namespace {

X509CrlPtr signed_crl(SigningKey& key, int number) {
  X509CrlPtr crl(X509_CRL_new());
  REQUIRE(crl);
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("signing test"), -1, -1, 0);
  X509_CRL_set_issuer_name(crl.get(), name);
  X509_NAME_free(name);
  std::unique_ptr<ASN1_TIME, OsslDeleter<ASN1_TIME_free>> when(ASN1_TIME_set(nullptr, 1'800'000'000 + number));
  X509_CRL_set1_lastUpdate(crl.get(), when.get());
  REQUIRE(key.sign(crl.get()));
  return crl;
}

}  // namespace

TEST_CASE("file keys sign concurrently; other stores' keys one at a time", "[signing]") {
  test::TempDir dir;
  KeyStoreRouter store;
  store.add(std::make_unique<FileKeyStore>(FileKeyStoreOptions{dir.path() / "keys", "test passphrase", false}), true);
  CHECK_FALSE(store.signs_one_at_a_time("file:/keys/ca.pem"));
  CHECK(store.signs_one_at_a_time("pkcs11:token=ca;object=key;type=private"));  // no such store here
  CHECK(store.signs_one_at_a_time("no-scheme"));

  auto uri = store.generate(*KeySpec::parse("p256"), "concurrent");
  REQUIRE(uri);
  SigningKeys keys(store);
  auto key = keys.get(*uri);
  REQUIRE(key);

  // Two threads inside the key at the same moment: each waits inside until the other has come in.
  std::latch both_inside(2);
  auto enter = [&] {
    return (*key)->with_key([&](EVP_PKEY*) {
      both_inside.arrive_and_wait();
      return true;
    });
  };
  auto first = std::async(std::launch::async, enter);
  auto second = std::async(std::launch::async, enter);
  REQUIRE(first.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(first.get());
  CHECK(second.get());

  // Signatures made on eight threads at once all verify.
  std::vector<std::future<bool>> signers;
  for (int t = 0; t < 8; ++t) {
    signers.push_back(std::async(std::launch::async, [&, t] {
      bool all = true;
      for (int i = 0; i < 50; ++i) {
        auto crl = signed_crl(**key, t * 100 + i);
        all = all && X509_CRL_verify(crl.get(), const_cast<EVP_PKEY*>((*key)->key())) == 1;
      }
      return all;
    }));
  }
  for (auto& signer : signers) CHECK(signer.get());
}

TEST_CASE("a key that takes one operation at a time lets one thread in at a time", "[signing]") {
  auto generated = generate_key(*KeySpec::parse("p256"));
  REQUIRE(generated);
  SigningKey key(std::move(*generated), true);

  std::atomic<bool> first_inside = false;
  std::promise<void> entered;
  auto first = std::async(std::launch::async, [&] {
    key.with_key([&](EVP_PKEY*) {
      first_inside = true;
      entered.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      first_inside = false;
      return 0;
    });
  });
  entered.get_future().wait();
  const bool overlapped = key.with_key([&](EVP_PKEY*) { return first_inside.load(); });
  first.get();
  CHECK_FALSE(overlapped);
}
