#pragma once
// Running the openssl command: argv only (no shell), stdin from /dev/null, output captured, bounded in
// time. Background processes (openssl s_server) are owned and stopped by their handle.
#include <chrono>
#include <string>
#include <vector>

namespace fca::lab {

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string output;  // stdout and stderr interleaved
};

ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A process left running (its output discarded) until this handle goes: SIGTERM, then SIGKILL.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  bool running() const { return pid_ > 0; }

 private:
  int pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
int free_loopback_port();
// True once something accepts on 127.0.0.1:port, polling until `timeout`.
bool wait_for_listener(int port, std::chrono::milliseconds timeout);

}  // namespace fca::lab
