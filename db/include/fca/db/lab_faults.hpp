#pragma once
// The lab faults' read path for `serve` (fca/core/lab_faults.hpp): a read-only connection of its own,
// so a request never waits on Database's mutex, and PRAGMA data_version per call, so a fault the CLI
// commits is seen by the very next request while an unchanged table is not read again.
#include <filesystem>
#include <memory>
#include <mutex>

#include "fca/core/lab_faults.hpp"

namespace fca::db {

class SqliteLabFaultSource final : public LabFaultSource {
 public:
  // The database must exist and be migrated already (Database::open does that).
  static Result<std::shared_ptr<SqliteLabFaultSource>> open(const std::filesystem::path& file);
  ~SqliteLabFaultSource() override;

  Result<std::vector<LabFault>> active_faults(TimePoint now) override;

 private:
  struct Reader;
  explicit SqliteLabFaultSource(std::unique_ptr<Reader> reader);
  std::mutex mutex_;  // one connection: the lab's request rate is a tester's, not a fleet's
  std::unique_ptr<Reader> reader_;
};

}  // namespace fca::db
