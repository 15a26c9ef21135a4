// Passes a writer's bytes on to another sink from a thread of its own, so that formatting a
// report overlaps with compressing it (10 million calls to .json.gz: 1.74 s instead of 2.06 s
// on two cores). The bytes are copied into buffers of 1 MiB and go in order, at most a few
// buffers ahead of the sink; for a sink that only writes a file that copy costs more than the
// overlap saves. An error of the sink comes back as it was thrown, on the next write() or on
// finish().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "report/writers/byte_sink.h"

namespace viztrace::report {

class ThreadedSink final : public ByteSink {
 public:
  static constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
  static constexpr std::size_t kAhead = 4;  // buffers the thread may be behind

  explicit ThreadedSink(ByteSink& out);
  // Stops the thread; bytes not yet passed on are dropped (finish() was not reached).
  ~ThreadedSink();
  ThreadedSink(const ThreadedSink&) = delete;
  ThreadedSink& operator=(const ThreadedSink&) = delete;

  void write(const char* data, std::size_t n) override;
  // Passes on everything written and ends the thread; no write may follow.
  void finish();

 private:
  void run();
  void hand_over();  // the current buffer, to the thread
  void rethrow_locked();

  ByteSink& out_;
  std::vector<char> current_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<char>> full_;  // for the thread, in order
  std::vector<std::vector<char>> spare_;
  bool closing_ = false;  // finish(): pass on what is queued, then end
  bool stop_ = false;     // the destructor: end now
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace viztrace::report
