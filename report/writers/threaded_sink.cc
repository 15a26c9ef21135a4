#include "report/writers/threaded_sink.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>

namespace viztrace::report {

ThreadedSink::ThreadedSink(ByteSink& out) : out_(out) {
  current_.reserve(kBufferBytes);
  // Signals stay with the main thread, whose handlers sweep the session and the report.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

ThreadedSink::~ThreadedSink() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ThreadedSink::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stop_ || closing_ || !full_.empty(); });
    if (stop_ || full_.empty()) return;  // stopped, or closing with nothing left
    std::vector<char> buffer = std::move(full_.front());
    full_.pop_front();
    lock.unlock();
    try {
      out_.write(buffer.data(), buffer.size());
    } catch (...) {
      lock.lock();
      error_ = std::current_exception();
      full_.clear();
      changed_.notify_all();
      return;
    }
    buffer.clear();
    lock.lock();
    spare_.push_back(std::move(buffer));
    changed_.notify_all();
  }
}

void ThreadedSink::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void ThreadedSink::hand_over() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return error_ || full_.size() < kAhead; });
  rethrow_locked();
  full_.push_back(std::move(current_));
  if (!spare_.empty()) {
    current_ = std::move(spare_.back());
    spare_.pop_back();
  } else {
    current_ = std::vector<char>();
    current_.reserve(kBufferBytes);
  }
  lock.unlock();
  changed_.notify_all();
}

void ThreadedSink::write(const char* data, std::size_t n) {
  while (n > 0) {
    std::size_t take = std::min(n, kBufferBytes - current_.size());
    current_.insert(current_.end(), data, data + take);
    data += take;
    n -= take;
    if (current_.size() == kBufferBytes) hand_over();
  }
}

void ThreadedSink::finish() {
  if (!current_.empty()) hand_over();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  rethrow_locked();
}

}  // namespace viztrace::report
