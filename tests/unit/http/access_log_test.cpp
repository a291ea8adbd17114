#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "fca/http/access_log.hpp"
#include "test_support.hpp"

TEST_CASE("access log: lines reach the file in order, written by the writer thread; a full buffer drops lines, not requests",
          "[http][access]") {
  fca::test::TempDir dir;
  const auto file = dir / "access.log";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  {
    auto log = fca::http::make_access_logger("a", fd, std::chrono::milliseconds(20));
    for (int i = 0; i < 100; ++i) log->info("line {}", i);
    // Written within a few intervals without anyone flushing.
    std::string text;
    for (int waited = 0; waited < 200 && fca::test::read_file(file).find("line 99") == std::string::npos; ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    text = fca::test::read_file(file);
    CHECK(text.find("line 0\n") != std::string::npos);
    CHECK(text.find("line 99\n") != std::string::npos);
    CHECK(text.find("line 0\n") < text.find("line 99\n"));
  }
  {
    // A writer that never gets to run within the test (an hour's interval) and room for ~3 lines.
    auto log = fca::http::make_access_logger("b", fd, std::chrono::hours(1), 120);
    for (int i = 0; i < 10; ++i) log->info("held {}", i);
    log->info("x");
    log->flush();
  }
  ::close(fd);
  const auto text = fca::test::read_file(file);
  CHECK(text.find("held 0\n") != std::string::npos);
  CHECK(text.find("held 9\n") == std::string::npos);
}
