#include "audit_chain.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "fca/core/ossl.hpp"
#include "fca/db/database.hpp"

namespace fca::db {
namespace {

// Bumped if the encoding ever changes, so old and new entries can never be confused.
constexpr std::string_view kEncodingTag = "facility-ca audit v1";
constexpr std::string_view kKeyedEncodingTag = "facility-ca audit v2 hmac-sha256";
constexpr std::string_view kHeadTag = "facility-ca audit head v1";
constexpr std::size_t kAuditKeyBytes = 32;

void append_field(std::string& out, std::string_view field) {
  auto size = static_cast<std::uint64_t>(field.size());
  std::array<char, 8> length{};
  for (int i = 7; i >= 0; --i) {
    length[static_cast<std::size_t>(i)] = static_cast<char>(size & 0xffU);
    size >>= 8;
  }
  out.append(length.data(), length.size());
  out.append(field);
}

std::string encode(std::string_view tag, std::int64_t sequence, const AuditEvent& event, std::string_view previous_hash) {
  const std::string sequence_text = std::to_string(sequence);
  const std::string at_text = std::to_string(to_unix(event.at));
  std::string out;
  for (std::string_view field : {tag, std::string_view(sequence_text), std::string_view(at_text),
                                 std::string_view(event.actor), std::string_view(event.action),
                                 std::string_view(event.object), std::string_view(event.detail), previous_hash}) {
    append_field(out, field);
  }
  return out;
}

std::string hex(const unsigned char* data, unsigned int size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    text.push_back(kHex[data[i] >> 4]);
    text.push_back(kHex[data[i] & 0x0f]);
  }
  return text;
}

std::unexpected<Error> file_error(std::string what, const std::filesystem::path& file) {
  return fail(Errc::storage, what + " " + file.string() + ": " + std::strerror(errno));
}

struct Descriptor {
  int fd = -1;
  explicit Descriptor(int value) : fd(value) {}
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
};

Result<void> write_all(int fd, std::string_view content, const std::filesystem::path& file, off_t offset = 0) {
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::pwrite(fd, content.data() + written, content.size() - written, offset + static_cast<off_t>(written));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error("cannot write", file);
    written += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::string> audit_entry_hash(std::int64_t sequence, const AuditEvent& event, std::string_view previous_hash) {
  const std::string data = encode(kEncodingTag, sequence, event, previous_hash);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_size, EVP_sha256(), nullptr) != 1) {
    return fail_openssl(Errc::internal, "audit hash: SHA-256 failed");
  }
  return hex(digest.data(), digest_size);
}

Result<std::string> audit_entry_mac(std::span<const unsigned char> key, std::int64_t sequence, const AuditEvent& event,
                                    std::string_view previous_hash) {
  if (key.size() != kAuditKeyBytes) return fail(Errc::internal, "audit MAC: the key must be 32 bytes");
  const std::string data = encode(kKeyedEncodingTag, sequence, event, previous_hash);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), mac.data(), &mac_size) == nullptr) {
    return fail_openssl(Errc::internal, "audit MAC: HMAC-SHA256 failed");
  }
  return hex(mac.data(), mac_size);
}

namespace {

// The head file holds two slots of kHeadSlotBytes, each a head in text with a SHA-256 of that text.
// A write goes in place into the slot not holding the newest head, then fdatasync: one wait on the
// disk, no new inode or directory entry (a replace by rename costs four times as much here), and a
// write torn by a crash spoils only the slot it was writing, so the other still holds the head before.
// A file from before the slots holds one head in text at offset 0 (kHeadTag, no check line).
constexpr std::string_view kSlotHeadTag = "facility-ca audit head v2";
constexpr std::size_t kHeadSlotBytes = 512;
constexpr std::size_t kHeadFileLimit = 4096;

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) return {};
  return hex(digest.data(), size);
}

// The head in one slot (or in the whole of a file from before the slots); nullopt when the text is not
// a complete head: an empty slot, a torn write, a check that does not match.
std::optional<AuditHead> parse_head(std::string_view text) {
  text = text.substr(0, text.find('\0'));
  const bool slotted = text.starts_with(std::string(kSlotHeadTag) + "\n");
  if (!slotted && !text.starts_with(std::string(kHeadTag) + "\n")) return std::nullopt;
  if (slotted) {
    const auto check_at = text.rfind("check ");
    if (check_at == std::string_view::npos) return std::nullopt;
    const std::string_view checked = text.substr(0, check_at);
    const std::string_view check = text.substr(check_at + 6);
    const std::string expected = sha256_hex(checked);
    if (expected.empty() || check != expected + "\n") return std::nullopt;
    text = checked;
  }
  std::istringstream lines{std::string(text)};
  std::string tag;
  std::getline(lines, tag);
  AuditHead head;
  std::string keyed_label, count_label, mac_label;
  lines >> keyed_label >> head.keyed_from >> count_label >> head.count >> mac_label;
  if (keyed_label != "keyed_from" || count_label != "count" || mac_label != "mac" || lines.fail() ||
      head.keyed_from < 1 || head.count < 0) {
    return std::nullopt;
  }
  lines >> head.mac;  // empty for a head of an empty log
  return head;
}

Result<AuditHeadFile> read_head_file(int fd, const std::filesystem::path& file) {
  std::string content(kHeadFileLimit + 1, '\0');
  std::size_t got = 0;
  for (;;) {
    const auto n = ::pread(fd, content.data() + got, content.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error("cannot read the audit head", file);
    if (n == 0 || (got += static_cast<std::size_t>(n)) == content.size()) break;
  }
  content.resize(got);
  return parse_audit_head_file(content, file);
}

}  // namespace

Result<AuditHeadFile> parse_audit_head_file(std::string_view content, const std::filesystem::path& file) {
  if (content.size() > kHeadFileLimit) return fail(Errc::storage, "audit head " + file.string() + " is too large");
  AuditHeadFile found;
  found.empty = content.empty();
  for (std::size_t slot = 0; slot * kHeadSlotBytes < content.size() && slot < 2; ++slot) {
    auto head = parse_head(content.substr(slot * kHeadSlotBytes, kHeadSlotBytes));
    if (head && (!found.head || head->count > found.head->count)) {
      found.head = std::move(head);
      found.slot = slot;
    }
  }
  if (!found.head && !found.empty) {
    return fail(Errc::storage, "audit head " + file.string() + " is not in the expected format");
  }
  return found;
}

Result<std::optional<AuditHead>> read_audit_head(const std::filesystem::path& file) {
  Descriptor in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) {
    if (errno == ENOENT) return std::optional<AuditHead>();
    return file_error("cannot read the audit head", file);
  }
  auto found = read_head_file(in.fd, file);
  if (!found) return std::unexpected(found.error());
  return found->head;
}

Result<void> advance_audit_head(const std::filesystem::path& file, const AuditHead& head) {
  const auto lock_file = file.string() + ".lock";
  Descriptor lock(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock.fd < 0) return file_error("cannot open", lock_file);
  while (::flock(lock.fd, LOCK_EX) != 0) {
    if (errno != EINTR) return file_error("cannot lock", lock_file);
  }
  Descriptor out(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (out.fd < 0) return file_error("cannot open the audit head", file);
  auto current = read_head_file(out.fd, file);
  if (!current) return std::unexpected(current.error());
  AuditHead next = head;
  if (current->head) {
    if (current->head->count >= head.count) return {};
    next.keyed_from = current->head->keyed_from;
  }
  const std::string checked = std::string(kSlotHeadTag) + "\nkeyed_from " + std::to_string(next.keyed_from) +
                              "\ncount " + std::to_string(next.count) + "\nmac " + next.mac + "\n";
  const std::string check = sha256_hex(checked);
  if (check.empty()) return fail_openssl(Errc::internal, "audit head: SHA-256 failed");
  std::string slot = checked + "check " + check + "\n";
  slot.resize(kHeadSlotBytes, '\0');
  const std::size_t target = current->head ? 1 - current->slot : 0;
  if (auto written = write_all(out.fd, slot, file, static_cast<off_t>(target * kHeadSlotBytes)); !written) return written;
  if (::fdatasync(out.fd) != 0) return file_error("cannot fdatasync", file);
  if (current->empty) {  // a new file: its directory entry is made durable once
    Descriptor directory(::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.fd >= 0) ::fsync(directory.fd);
  }
  return {};
}

Result<std::vector<unsigned char>> load_or_create_audit_key(const std::filesystem::path& file) {
  std::vector<unsigned char> key(kAuditKeyBytes);
  // Written in full under a temporary name, then linked into place: link() fails if the key exists,
  // so two processes creating it at once agree on one key, and nobody reads a half-written file.
  if (::access(file.c_str(), F_OK) != 0 && errno == ENOENT) {
    std::string temporary = (file.parent_path() / ("." + file.filename().string() + ".XXXXXX")).string();
    Descriptor out(::mkostemp(temporary.data(), O_CLOEXEC));  // mode 0600
    if (out.fd < 0) return file_error("cannot create the audit key", file);
    Result<void> written = RAND_priv_bytes(key.data(), static_cast<int>(key.size())) == 1
                               ? write_all(out.fd, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), file)
                               : Result<void>(fail_openssl(Errc::internal, "audit key: no random bytes"));
    if (written && ::fsync(out.fd) != 0) written = file_error("cannot fsync", temporary);
    const bool linked = written && ::link(temporary.c_str(), file.c_str()) == 0;
    const int link_error = errno;
    ::unlink(temporary.c_str());
    if (!written) return std::unexpected(written.error());
    if (linked) {
      Descriptor directory(::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (directory.fd >= 0) ::fsync(directory.fd);
      return key;
    }
    errno = link_error;
    if (errno != EEXIST) return file_error("cannot create the audit key", file);
  }
  Descriptor in(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in.fd < 0) return file_error("cannot read the audit key", file);
  struct stat info {};
  if (::fstat(in.fd, &info) != 0) return file_error("cannot read the audit key", file);
  if ((info.st_mode & 077) != 0) {
    return fail(Errc::storage, "audit key " + file.string() + " is readable by other users; chmod 600 it");
  }
  std::size_t got = 0;
  while (got < key.size()) {
    const auto n = ::read(in.fd, key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error("cannot read the audit key", file);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  unsigned char extra = 0;
  if (got != key.size() || ::read(in.fd, &extra, 1) != 0) {
    return fail(Errc::storage, "audit key " + file.string() + " is not 32 bytes");
  }
  return key;
}

}  // namespace fca::db
