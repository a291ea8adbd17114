#pragma once
// `facility-ca serve`: the long-running process. Owns the listeners, their threads, the scheduler
// and signal handling; front ends are mounted from their own libraries.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "instance.hpp"

namespace fca::app {

// Runs periodic work on its own thread: every `interval`, or at once when woken (SIGHUP).
// What is due is decided by the services against the instance's clock, so tests that move the
// clock see renewals without waiting.
class Scheduler {
 public:
  using Task = std::function<void()>;
  Scheduler(std::chrono::seconds interval, std::vector<Task> tasks);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  void wake();
  void stop();  // waits for a running pass to finish
  void run_once();

 private:
  std::chrono::seconds interval_;
  std::vector<Task> tasks_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

// Brings the instance's revocation data up to date: responder certificates, CRLs, cached OCSP
// answers and the hash directory. Returns false when any part failed (each failure is logged).
bool refresh_revocation_data(Instance& instance);

// Serves until SIGTERM or SIGINT; returns the process exit code.
int serve(Instance& instance, const std::filesystem::path& config_file);

}  // namespace fca::app
