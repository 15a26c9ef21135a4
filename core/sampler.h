// Sampled stacks of every traced thread (`viztrace run --sample`), taken by the kernel.
//
// Before the target is launched, one perf event per CPU is opened on viztrace's own thread,
// disabled, with inherit and enable_on_exec: the launcher's child inherits them and they start
// counting when it execs, and every process and thread it starts from then on inherits them in
// turn (no system call in the traced processes, nothing they can see). Each sample is the
// thread's user registers and the top of its user stack, taken every 1/hz second of the
// thread's CPU time; the report unwinds them. The collector moves the per-CPU rings into the
// session dir's "samples" file (spill/sample_file.h) while the run goes on.
//
// When perf_event_open is refused (perf_event_paranoid above 2, a container's seccomp filter),
// the file says why and the run goes on unsampled.
#pragma once

#include <linux/perf_event.h>
#include <poll.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace viztrace {

struct SamplerOptions {
  std::uint32_t hz = 999;
  std::uint32_t stack_bytes = 8192;  // user stack copied per sample (a multiple of 8)
  // Which way: perf_event_open, else the shim's timers (auto); only one of them.
  enum class Method { automatic, perf, timer } method = Method::automatic;
};

struct SamplerStats {
  std::uint64_t samples = 0;       // written to the file
  std::uint64_t lost = 0;          // the kernel's rings overflowed, or the file could not take them
  std::uint64_t bytes = 0;         // written to the file
};

class Sampler {
 public:
  // Opens the events on the calling thread and creates the file in the session dir. Sampling
  // that cannot start is not an error: the file then names the reason (and reason() too).
  // Throws viztrace::Error when the file cannot be created.
  Sampler(int session_dir_fd, const SamplerOptions& options);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  bool active() const { return !cpus_.empty(); }
  // The kernel does not sample: the traced threads are to sample themselves (shim/sampling.h).
  bool timers() const { return timers_; }
  // Why the kernel does not sample, "" when it does.
  const std::string& reason() const { return reason_; }

  // The rings' descriptors: readable when a ring is a quarter full.
  void add_pollfds(std::vector<pollfd>& fds) const;
  // Moves what the rings hold into the file; returns how many records it moved.
  std::size_t drain();
  // Takes the rest, closes the events and the file.
  void finish();
  const SamplerStats& stats() const { return stats_; }

 private:
  struct Cpu {
    int fd = -1;
    unsigned char* map = nullptr;  // the metadata page, then the data pages
  };
  void take(const unsigned char* record, std::size_t size);
  void write_stack_delta(const perf_event_header& h, const unsigned char* record,
                         std::size_t stack_at, std::uint32_t pid, std::uint32_t tid,
                         std::uint64_t sp, const unsigned char* stack, std::uint64_t bytes);
  void write_out(const void* data, std::size_t size);
  void flush();

  std::vector<Cpu> cpus_;
  std::size_t data_bytes_ = 0;  // of each ring, a power of two
  std::size_t regs_ = 0;        // registers per sample
  int file_ = -1;
  bool file_failed_ = false;
  bool timers_ = false;
  std::uint64_t pending_samples_ = 0;  // in out_
  std::uint64_t flushed_ns_ = 0;
  std::vector<unsigned char> out_;     // what waits for the next write
  std::vector<unsigned char> record_;  // a record that wraps around the ring's end
  std::string reason_;
  SamplerStats stats_;
  // Each thread's last stack copy, by pid << 32 | tid (the next sample's is written against it).
  struct PreviousStack {
    std::uint64_t sp = 0;
    std::vector<unsigned char> bytes;
  };
  std::unordered_map<std::uint64_t, PreviousStack> previous_;
};

}  // namespace viztrace
