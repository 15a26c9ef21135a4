// The collector: one event loop over the FIFO, the target and signals.
//
// Drains whole chunks from the FIFO, validates their headers, counts sequence gaps and garbage,
// and appends them to the spill. Reaps the target and, as the child subreaper, every orphaned
// descendant, recording how each ended. Watches processes the shim cannot enter. A first
// interrupt is left to the target (it got the same terminal signal); the next ones escalate to
// SIGTERM, then SIGKILL. SIGTERM/SIGHUP sent to viztrace alone are forwarded to the target.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/chunk_builder.h"
#include "core/fn_rings.h"
#include "core/launcher.h"
#include "core/pid_namespaces.h"
#include "core/proc_watcher.h"
#include "core/sampler.h"
#include "common/wire.h"
#include "spill/spill_writer.h"

namespace viztrace {

struct CollectorOptions {
  // How long descendants that outlive the target may keep the session open.
  std::uint64_t linger_ns = 2'000'000'000;
  // The session dir (function rings live there); -1: no function tracing.
  int session_dir_fd = -1;
  // Readable when a traced thread's function ring is full: empty the rings at once. -1: none.
  int wake_fd = -1;
  // The session's hello socket (SO_PASSCRED, non-blocking): processes in other PID namespaces
  // say there which of our pids sends their chunks. -1: none.
  int hello_fd = -1;
  // Function records carry TSC ticks: record (TSC, CLOCK_MONOTONIC) pairs to map them.
  bool tsc = false;
  // Sampled stacks to move into the session dir while the run goes on; null: not sampling.
  Sampler* sampler = nullptr;
};

struct CollectorResult {
  int target_status = 0;  // raw wait status
  bool target_reaped = false;
  int interrupts = 0;     // interrupt signals received
  std::size_t lingering = 0;  // descendants still running when collection ended
  vt_stats stats = {};
};

class Collector {
 public:
  // fifo_fd: the session FIFO opened for reading (non-blocking).
  Collector(int fifo_fd, spill::SpillWriter& spill, CollectorOptions options);

  // Marks the start of the trace; call just before launching.
  void begin(const std::vector<std::string>& command, const std::string& cwd);
  // Runs until the target has been reaped and every descendant has ended (or lingered too
  // long), then drains the FIFO and writes the final STATS record.
  CollectorResult run(const Launched& target);

 private:
  struct StreamKey {
    std::uint32_t pid, tid, image;
    bool operator==(const StreamKey&) const = default;
  };
  struct StreamKeyHash {
    std::size_t operator()(const StreamKey& k) const {
      return (std::size_t{k.pid} << 32 ^ k.tid) * 0x9E3779B97F4A7C15ull ^ k.image;
    }
  };

  bool drain_fifo();  // false when nothing was read
  void drain_hellos();
  // The sender of the chunk at p as our namespace numbers it (by the hellos), or its own pid.
  std::uint32_t sender_of(const unsigned char* p);
  void take_chunk(unsigned char* p);
  // p: a whole chunk, not necessarily aligned (garbage before it shifts it in the read buffer).
  // original: the pid and tid the chunk had before translation.
  void inspect_records(unsigned char* p, const vt_chunk_header& h,
                       const PidNamespaces::Original& original);
  std::uint32_t probe_for(const StreamKey& key);
  void reap_children(std::uint64_t now);
  void handle_signal(int sig, bool from_process, std::uint64_t now);
  void own_records(ChunkBuilder& b);
  void emit_own();
  void sample_clock();

  int fifo_fd_;
  spill::SpillWriter& spill_;
  CollectorOptions options_;
  pid_t self_;
  ChunkBuilder own_;
  std::unique_ptr<ProcWatcher> watcher_;
  std::unique_ptr<FnRings> rings_;
  PidNamespaces namespaces_;
  // (pid inside, image) -> the sender's pid in our namespace, from the hellos; 0: a stream
  // found to be of our namespace. Empty while no hello came.
  std::unordered_map<std::uint64_t, std::uint32_t> senders_;
  bool any_hello_ = false;
  std::uint64_t last_clock_ns_ = 0;
  bool rings_hot_ = false;
  // Not zeroed: its pages are touched only as far as the FIFO fills it (each page a fault).
  std::unique_ptr<unsigned char[]> buffer_;
  std::size_t buffered_ = 0;
  std::size_t last_drain_bytes_ = 0;
  std::unordered_map<StreamKey, std::uint32_t, StreamKeyHash> next_seq_;
  // The PATH string a stream sent last, until its next record (exec and spawn records that
  // the shim left unprobed are probed from it).
  struct PendingPath {
    std::string text;
    bool complete = false;
    std::string argv;  // of a DETACHED record
  };
  std::unordered_map<StreamKey, PendingPath, StreamKeyHash> paths_;
  Launched target_;
  CollectorResult result_;
  std::uint64_t target_end_ns_ = 0;
  std::uint64_t first_interrupt_ns_ = 0;  // when the first interrupt came, 0 before
  bool told_still_running_ = false;
  std::uint64_t start_ns_ = 0;
  std::uint64_t start_realtime_ns_ = 0;
  std::string command_argv_;  // NUL-separated
  std::string cwd_;
};

}  // namespace viztrace
