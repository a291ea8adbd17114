#include "fca/http/access_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <thread>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

namespace fca::http {
namespace {

class BatchSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BatchSink(int fd, std::chrono::milliseconds interval, std::size_t max_buffered)
      : fd_(fd), interval_(interval), max_buffered_(max_buffered), writer_([this] { run(); }) {}

  ~BatchSink() override {
    {
      std::lock_guard lock(stop_mutex_);
      stopping_ = true;
    }
    stop_.notify_all();
    writer_.join();
    std::lock_guard lock(mutex_);
    write_out(buffer_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (buffer_.size() + line.size() > max_buffered_) {
      ++dropped_;
      return;
    }
    if (dropped_ > 0) {
      buffer_ += "(access log: " + std::to_string(dropped_) + " lines dropped, output too slow)\n";
      dropped_ = 0;
    }
    buffer_.append(line.data(), line.size());
  }
  void flush_() override { write_out(buffer_); }

 private:
  void run() {
    std::string batch;
    for (;;) {
      {
        std::unique_lock lock(stop_mutex_);
        if (stop_.wait_for(lock, interval_, [this] { return stopping_; })) return;
      }
      {
        std::lock_guard lock(mutex_);
        batch.swap(buffer_);
      }
      write_out(batch);
      if (batch.capacity() > 1024 * 1024) std::string().swap(batch);
    }
  }

  void write_out(std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const auto n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a closed or broken output: the lines are lost, serving goes on
      done += static_cast<std::size_t>(n);
    }
    data.clear();
  }

  int fd_;
  std::chrono::milliseconds interval_;
  std::size_t max_buffered_;
  std::string buffer_;  // guarded by base_sink's mutex_
  std::size_t dropped_ = 0;
  std::mutex stop_mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread writer_;  // last: starts once everything above exists
};

}  // namespace

std::shared_ptr<spdlog::logger> make_access_logger(std::string name, int fd, std::chrono::milliseconds interval,
                                                   std::size_t max_buffered) {
  auto logger = std::make_shared<spdlog::logger>(std::move(name), std::make_shared<BatchSink>(fd, interval, max_buffered));
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::info);
  return logger;
}

}  // namespace fca::http
