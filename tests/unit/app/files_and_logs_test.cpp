// PendingOutput (refuse existing, nothing half-written), read_input's limit, the escaping log
// formatter and config text parsing.
#include <catch2/catch.hpp>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "config.hpp"
#include "files.hpp"
#include "log_format.hpp"
#include "test_support.hpp"

using namespace fca;
using namespace fca::app;

TEST_CASE("a pending output refuses a file that exists, before and at commit", "[files]") {
  fca::test::TempDir dir;
  const auto target = dir / "out.pem";
  fca::test::write_file(target, "old\n");
  auto refused = PendingOutput::prepare(target, 0644);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::conflict);

  // The file appears between prepare (before the commit of a certificate) and the write: the
  // rename refuses to replace it, and the temporary is gone.
  const auto late = dir / "late.pem";
  auto pending = PendingOutput::prepare(late, 0644);
  REQUIRE(pending);
  fca::test::write_file(late, "someone else's\n");
  auto committed = pending->commit("certificate\n");
  REQUIRE_FALSE(committed);
  CHECK(committed.error().code == Errc::conflict);
  CHECK(fca::test::read_file(late) == "someone else's\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 2);  // out.pem and late.pem, no temporary left

  // An output never committed leaves nothing behind.
  { auto abandoned = PendingOutput::prepare(dir / "abandoned.pem", 0644); REQUIRE(abandoned); }
  CHECK_FALSE(std::filesystem::exists(dir / "abandoned.pem"));
  entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 2);

  auto fine = PendingOutput::prepare(dir / "fine.pem", 0640);
  REQUIRE(fine);
  REQUIRE(fine->commit("abc"));
  CHECK(fca::test::read_file(dir / "fine.pem") == "abc");  // the reservation was trimmed away
  CHECK((std::filesystem::status(dir / "fine.pem").permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms(0640));

  auto nowhere = PendingOutput::prepare("/nonexistent/x.pem", 0644);
  REQUIRE_FALSE(nowhere);
  CHECK(nowhere.error().code == Errc::storage);
}

TEST_CASE("read_input stops at its limit", "[files]") {
  auto zero = read_input("/dev/zero", 4096);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == Errc::invalid_input);
  fca::test::TempDir dir;
  fca::test::write_file(dir / "small", std::string(4096, 'a'));
  CHECK(read_input(dir / "small", 4096).value().size() == 4096);
}

TEST_CASE("log lines carry no raw control characters", "[log]") {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_formatter(std::make_unique<EscapingFormatter>(std::make_unique<spdlog::pattern_formatter>("[%l] %v")));
  logger->info("refused '{}'", std::string("a\nFAKE\x1b[2J\0z", 12));
  CHECK(out.str() == "[info] refused 'a\\x0AFAKE\\x1B[2J\\x00z'\n");
}

TEST_CASE("config text: duplicate keys anywhere, and the size limit", "[config]") {
  CHECK(parse_config_text("{}", "t"));
  auto nested = parse_config_text(R"({"policy": {"max_sans": 5, "max_sans": 500}})", "t");
  REQUIRE_FALSE(nested);
  CHECK(nested.error().message.find("\"max_sans\" appears twice") != std::string::npos);
  // The same key in two different objects is fine.
  CHECK(parse_config_text(R"({"ocsp": {"max_age_seconds": 60}, "crl": {"max_age_seconds": 60}})", "t"));
  CHECK_FALSE(parse_config_text(std::string(kMaxConfigBytes + 1, ' '), "t"));
  // A key name with a newline is reported escaped.
  auto odd = parse_config_text("{\"a\\nb\": 1}", "t");
  REQUIRE_FALSE(odd);
  CHECK(odd.error().message.find('\n') == std::string::npos);
}
