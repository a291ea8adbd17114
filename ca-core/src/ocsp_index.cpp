#include "fca/core/ocsp_index.hpp"

#include <algorithm>

namespace fca {
namespace {

struct Tlv {
  std::uint8_t tag = 0;
  std::span<const std::uint8_t> content;
  std::span<const std::uint8_t> whole;
};

// One DER element from the front of `in` (definite, minimal lengths only; low tag numbers only).
std::optional<Tlv> next_tlv(std::span<const std::uint8_t>& in) {
  if (in.size() < 2) return std::nullopt;
  Tlv tlv;
  tlv.tag = in[0];
  if ((tlv.tag & 0x1f) == 0x1f) return std::nullopt;
  std::size_t pos = 2;
  std::size_t length = in[1];
  if (length & 0x80) {
    const std::size_t octets = length & 0x7f;
    if (octets == 0 || octets > 4 || in.size() < 2 + octets || in[2] == 0) return std::nullopt;
    length = 0;
    for (std::size_t i = 0; i < octets; ++i) length = (length << 8) | in[pos++];
    if (length < 0x80) return std::nullopt;
  }
  if (in.size() - pos < length) return std::nullopt;
  tlv.whole = in.first(pos + length);
  tlv.content = in.subspan(pos, length);
  in = in.subspan(pos + length);
  return tlv;
}

std::optional<Tlv> expect(std::span<const std::uint8_t>& in, std::uint8_t tag) {
  auto tlv = next_tlv(in);
  if (!tlv || tlv->tag != tag) return std::nullopt;
  return tlv;
}

constexpr std::uint8_t kSequence = 0x30;

}  // namespace

std::optional<std::span<const std::uint8_t>> single_cert_id(std::span<const std::uint8_t> request_der) {
  // OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL }
  auto outer = expect(request_der, kSequence);
  if (!outer || !request_der.empty()) return std::nullopt;
  auto body = outer->content;
  auto tbs = expect(body, kSequence);
  if (!tbs || !body.empty()) return std::nullopt;  // a signature: the full path checks it
  // TBSRequest ::= SEQUENCE { version [0], requestorName [1], requestList, requestExtensions [2] }
  auto fields = tbs->content;
  // Only v1 (absent, or spelt out as [0] INTEGER 0) may come from the index; any other version is
  // the full path's to refuse.
  static constexpr std::uint8_t kVersionV1[] = {0xa0, 0x03, 0x02, 0x01, 0x00};
  if (!fields.empty() && fields[0] == 0xa0) {
    if (!std::ranges::equal(fields.first(std::min(fields.size(), sizeof kVersionV1)), kVersionV1)) return std::nullopt;
    fields = fields.subspan(sizeof kVersionV1);
  }
  if (!fields.empty() && fields[0] == 0xa1 && !next_tlv(fields)) return std::nullopt;
  auto list = expect(fields, kSequence);
  if (!list || !fields.empty()) return std::nullopt;  // extensions (a nonce): never from the index
  auto requests = list->content;
  auto request = expect(requests, kSequence);
  if (!request || !requests.empty()) return std::nullopt;
  auto request_fields = request->content;
  auto cert_id = expect(request_fields, kSequence);
  if (!cert_id || !request_fields.empty()) return std::nullopt;
  return cert_id->whole;
}

OcspIndex::OcspIndex(std::size_t capacity, std::size_t shards) : capacity_(std::max<std::size_t>(capacity, 1)) {
  shards = std::clamp<std::size_t>(shards, 1, capacity_);
  for (std::size_t i = 0; i < shards; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->capacity = std::max<std::size_t>(1, capacity_ / shards + (i < capacity_ % shards ? 1 : 0));
    // Four fifths for entries asked for more than once; the rest is where first-time entries wait.
    shard->protected_capacity = std::max<std::size_t>(1, shard->capacity * 4 / 5);
    shards_.push_back(std::move(shard));
  }
}

std::string_view OcspIndex::key_of(const OcspReadyAnswer& ready) {
  return {reinterpret_cast<const char*>(ready.cert_id.data()), ready.cert_id.size()};
}

OcspIndex::Shard& OcspIndex::shard_of(std::string_view key) {
  return *shards_[KeyHash{}(key) % shards_.size()];
}

std::optional<OcspIndex::Hit> OcspIndex::find(std::span<const std::uint8_t> cert_id) {
  const std::string_view key(reinterpret_cast<const char*>(cert_id.data()), cert_id.size());
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto found = shard.nodes.find(key);
  if (found == shard.nodes.end()) return std::nullopt;
  auto node = found->second;
  if (node->is_protected) {
    if (node != shard.protected_.begin()) shard.protected_.splice(shard.protected_.begin(), shard.protected_, node);
  } else {
    node->is_protected = true;
    shard.protected_.splice(shard.protected_.begin(), shard.probation, node);
    demote_over_protected(shard);
  }
  return Hit{node->ready, node->stamp};
}

void OcspIndex::demote_over_protected(Shard& shard) {
  while (shard.protected_.size() > shard.protected_capacity) {
    // The least recently used protected entry gets one more chance in probation.
    auto demoted = std::prev(shard.protected_.end());
    demoted->is_protected = false;
    shard.probation.splice(shard.probation.begin(), shard.protected_, demoted);
  }
}

void OcspIndex::evict_over_capacity(Shard& shard) {
  while (shard.probation.size() + shard.protected_.size() > shard.capacity) {
    const bool from_probation = !shard.probation.empty();
    auto& victims = from_probation ? shard.probation : shard.protected_;
    const std::string_view key = key_of(*victims.back().ready);
    if (from_probation) {
      const std::size_t hash = KeyHash{}(key);
      if (!shard.ghost_index.contains(hash)) {
        shard.ghosts.push_front(hash);
        shard.ghost_index.emplace(hash, shard.ghosts.begin());
        if (shard.ghosts.size() > shard.capacity) {
          shard.ghost_index.erase(shard.ghosts.back());
          shard.ghosts.pop_back();
        }
      }
    }
    shard.nodes.erase(shard.nodes.find(key));
    victims.pop_back();
  }
}

void OcspIndex::put(std::shared_ptr<const OcspReadyAnswer> ready, OcspStamp stamp) {
  const std::string_view key = key_of(*ready);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (auto found = shard.nodes.find(key); found != shard.nodes.end()) {
    found->second->ready = std::move(ready);
    found->second->stamp = stamp;
    return;
  }
  std::string owned_key(key);
  const std::size_t hash = KeyHash{}(owned_key);
  if (auto ghost = shard.ghost_index.find(hash); ghost != shard.ghost_index.end()) {
    // Asked for again after probation let it go: it is part of the working set.
    shard.ghosts.erase(ghost->second);
    shard.ghost_index.erase(ghost);
    shard.protected_.push_front(Node{std::move(ready), stamp, true});
    shard.nodes.emplace(std::move(owned_key), shard.protected_.begin());
    demote_over_protected(shard);
  } else {
    shard.probation.push_front(Node{std::move(ready), stamp, false});
    shard.nodes.emplace(std::move(owned_key), shard.probation.begin());
  }
  evict_over_capacity(shard);
}

void OcspIndex::restamp(const std::shared_ptr<const OcspReadyAnswer>& ready, OcspStamp stamp) {
  const std::string_view key = key_of(*ready);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto found = shard.nodes.find(key);
  // Revisions only grow: an older stamp never overwrites a newer one.
  if (found != shard.nodes.end() && found->second->ready == ready && stamp.issuer >= found->second->stamp.issuer &&
      stamp.parent >= found->second->stamp.parent) {
    found->second->stamp = stamp;
  }
}

bool OcspIndex::replace(const std::shared_ptr<const OcspReadyAnswer>& old, std::shared_ptr<const OcspReadyAnswer> fresh,
                        OcspStamp stamp) {
  const std::string_view key = key_of(*old);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto found = shard.nodes.find(key);
  if (found == shard.nodes.end() || found->second->ready != old) return false;
  found->second->ready = std::move(fresh);
  found->second->stamp = stamp;
  return true;
}

void OcspIndex::remove(const std::shared_ptr<const OcspReadyAnswer>& ready) {
  const std::string_view key = key_of(*ready);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto found = shard.nodes.find(key);
  if (found == shard.nodes.end() || found->second->ready != ready) return;
  auto node = found->second;
  (node->is_protected ? shard.protected_ : shard.probation).erase(node);
  shard.nodes.erase(found);
}

void OcspIndex::erase_if(const std::function<bool(const OcspReadyAnswer&)>& predicate) {
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    for (auto* list : {&shard->probation, &shard->protected_}) {
      for (auto node = list->begin(); node != list->end();) {
        if (predicate(*node->ready)) {
          shard->nodes.erase(std::string(key_of(*node->ready)));
          node = list->erase(node);
        } else {
          ++node;
        }
      }
    }
  }
}

std::vector<std::shared_ptr<const OcspReadyAnswer>> OcspIndex::select(
    const std::function<bool(const OcspReadyAnswer&)>& predicate) {
  std::vector<std::shared_ptr<const OcspReadyAnswer>> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    for (auto* list : {&shard->probation, &shard->protected_}) {
      for (const auto& node : *list) {
        if (predicate(*node.ready)) out.push_back(node.ready);
      }
    }
  }
  return out;
}

void OcspIndex::clear() {
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    shard->nodes.clear();
    shard->probation.clear();
    shard->protected_.clear();
    shard->ghosts.clear();
    shard->ghost_index.clear();
  }
}

std::size_t OcspIndex::size() {
  std::size_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->nodes.size();
  }
  return total;
}

}  // namespace fca
