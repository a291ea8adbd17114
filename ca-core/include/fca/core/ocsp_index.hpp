#pragma once
// The ready-to-send OCSP index: pre-signed answers keyed by the exact DER of the CertID a client
// asked with, and the read path that says whether one is still true. A hit does no SQL unless a
// certificate status changed somewhere (any process) since the entry was last checked, and takes no
// lock shared with writers.
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fca/core/ocsp.hpp"

namespace fca {

// What an OCSP answer says about one certificate.
struct OcspCertStatus {
  CertificateStatus status = CertificateStatus::valid;
  std::optional<TimePoint> revoked_at;
  std::optional<RevocationReason> reason;
  std::optional<TimePoint> invalidity_date;
  TimePoint issued_at{};
  bool operator==(const OcspCertStatus&) const = default;
};

// The storage side of the index, implemented by db/. Called from many threads at once; an
// implementation must not serialise them on one lock with the writers.
class OcspStatusSource {
 public:
  virtual ~OcspStatusSource() = default;
  // A number that grows whenever a certificate status of the issuer may have changed, by any
  // process. Asked on every indexed answer, so it must be cheap when nothing changed.
  virtual Result<std::int64_t> revocation_revision(std::int64_t issuer_id) = 0;
  // nullopt when the issuer never issued the serial.
  virtual Result<std::optional<OcspCertStatus>> certificate_status(std::int64_t issuer_id, std::string_view serial) = 0;
};

// The revisions an entry was last found true at: its issuer's, and the register holding the
// issuer's own certificate (a CA compromise there changes every answer below it; 0 for a root).
struct OcspStamp {
  std::int64_t issuer = -1;
  std::int64_t parent = -1;
  bool operator==(const OcspStamp&) const = default;
};

// One pre-signed answer, immutable once built.
struct OcspReadyAnswer {
  std::vector<std::uint8_t> cert_id;  // the request's CertID DER, echoed byte for byte in answer.der
  std::int64_t issuer_id = 0;
  std::optional<std::int64_t> parent_id;  // the CA holding the issuer's certificate, if in this instance
  std::string ca_serial;                  // the issuer's own serial in that CA's register
  std::string serial;
  OcspCertStatus status;  // what answer.der says
  OcspAnswer answer;      // with prebuilt headers
};

// A bounded, scan-resistant map from CertID DER to ready answers (2Q: a probation FIFO, a protected
// LRU, and the keys lately evicted from probation), sharded so that I/O threads answering different
// certificates rarely meet on a lock. A new entry starts in probation and is promoted to protected
// when asked for again; an entry made again soon after probation evicted it goes straight to
// protected. Eviction takes probation entries first, so a scan of many serials, each asked once,
// cannot push out the hot set, while a new working set still displaces an old one.
class OcspIndex {
 public:
  struct Hit {
    std::shared_ptr<const OcspReadyAnswer> ready;
    OcspStamp stamp;
  };

  explicit OcspIndex(std::size_t capacity, std::size_t shards = 8);

  // Counts as a use (promotes the entry).
  std::optional<Hit> find(std::span<const std::uint8_t> cert_id);
  // Inserts or replaces (keeping the entry's segment).
  void put(std::shared_ptr<const OcspReadyAnswer> ready, OcspStamp stamp);
  // Records that `ready` was found still true at `stamp`; ignored when the entry changed meanwhile.
  void restamp(const std::shared_ptr<const OcspReadyAnswer>& ready, OcspStamp stamp);
  // Swaps `old` for `fresh` when the entry still holds `old`; false otherwise.
  bool replace(const std::shared_ptr<const OcspReadyAnswer>& old, std::shared_ptr<const OcspReadyAnswer> fresh,
               OcspStamp stamp);
  // Drops the entry when it still holds `ready`.
  void remove(const std::shared_ptr<const OcspReadyAnswer>& ready);
  void erase_if(const std::function<bool(const OcspReadyAnswer&)>& predicate);
  std::vector<std::shared_ptr<const OcspReadyAnswer>> select(const std::function<bool(const OcspReadyAnswer&)>& predicate);
  void clear();
  std::size_t size();
  std::size_t capacity() const { return capacity_; }

 private:
  struct Node {
    std::shared_ptr<const OcspReadyAnswer> ready;
    OcspStamp stamp;
    bool is_protected = false;
  };
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  struct Shard {
    std::mutex mutex;
    std::size_t capacity = 1;
    std::size_t protected_capacity = 1;
    std::list<Node> probation;   // front: newest
    std::list<Node> protected_;  // front: most recently used
    std::unordered_map<std::string, std::list<Node>::iterator, KeyHash, std::equal_to<>> nodes;
    std::list<std::size_t> ghosts;  // key hashes evicted from probation, newest first, at most `capacity`
    std::unordered_map<std::size_t, std::list<std::size_t>::iterator> ghost_index;
  };
  static void evict_over_capacity(Shard& shard);
  static void demote_over_protected(Shard& shard);
  Shard& shard_of(std::string_view key);
  static std::string_view key_of(const OcspReadyAnswer& ready);

  std::size_t capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// The CertID DER of a request that an indexed answer can serve: exactly one Request, no request
// or single-request extensions (so no nonce), no signature, strict DER. nullopt otherwise (such a
// request takes the full path).
std::optional<std::span<const std::uint8_t>> single_cert_id(std::span<const std::uint8_t> request_der);

}  // namespace fca
