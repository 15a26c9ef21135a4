// The collector's side of function tracing: the rings traced threads write their calls into
// (common/wire.h, vt_fn_ring). Each ring is mapped when its thread announces it; what it holds is
// moved into the spill as VT_KIND_FUNCTIONS_PACKED chunks on every pass, so a ring never fills
// while the collector keeps up. A ring whose thread is done is emptied one last time and removed.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/wire.h"
#include "spill/spill_writer.h"

namespace viztrace {

struct RingStats {
  std::uint64_t records = 0;    // function records moved into the spill
  std::uint64_t dropped = 0;    // records the threads could not write (ring full, re-entry)
  std::uint64_t waited_ns = 0;  // how long threads waited for room in their rings
  std::uint64_t rings = 0;      // rings seen
  std::uint64_t bad_rings = 0;  // announced rings that could not be used
  std::uint64_t no_space = 0;   // of `dropped`, records the filesystem had no space for
};

class FnRings {
 public:
  // dir_fd: the session dir, where the rings are.
  FnRings(int dir_fd, spill::SpillWriter& spill) : dir_fd_(dir_fd), spill_(spill) {}
  ~FnRings();
  FnRings(const FnRings&) = delete;
  FnRings& operator=(const FnRings&) = delete;

  // A thread announced its ring, named after the pid and tid it has in its own namespace;
  // pid and tid: as ours numbers them, for the spill.
  void add(std::uint32_t name_pid, std::uint32_t name_tid, std::uint32_t image, std::uint32_t pid,
           std::uint32_t tid);
  // Moves everything new into the spill; retires rings that are done. Returns records moved.
  std::uint64_t drain();
  // The session is over: empties and removes every ring, including rings nobody announced
  // (a thread killed between making its ring and announcing it).
  void finish();

  bool empty() const { return rings_.empty(); }
  const RingStats& stats() const { return stats_; }

  // The ring file's name for a thread.
  static std::string file_name(std::uint32_t pid, std::uint32_t tid, std::uint32_t image);

 private:
  struct Ring {
    std::string name;
    vt_fn_ring* header = nullptr;
    const vt_fn_record* records = nullptr;
    std::size_t bytes = 0;
    std::uint64_t capacity = 0;      // records, checked against the file's size when mapped
    std::uint32_t seq = 0;           // next chunk's sequence number
    std::uint64_t dropped_seen = 0;  // ring->dropped already counted
    std::uint64_t no_space_seen = 0;  // ring->no_space already counted
    std::uint64_t idle_since = 0;    // drain passes with nothing new
    std::uint32_t pid = 0, tid = 0;  // the thread's, in our namespace (0: the header's)
  };

  bool map(Ring& ring);
  std::uint64_t drain_one(Ring& ring);
  void retire(Ring& ring);

  int dir_fd_;
  spill::SpillWriter& spill_;
  std::vector<Ring> rings_;
  RingStats stats_;
};

// The rings a killed viztrace left in session dir `dir` (viztrace recover): their records are
// added to the dir's spill as a new segment, with a (TSC, CLOCK_MONOTONIC) pair taken now so
// that TSC ticks can be placed even when the session sampled only once. Returns the records.
std::uint64_t rescue_rings(const std::string& dir);

// Samples (TSC, CLOCK_MONOTONIC) together, for VT_REC_CLOCK records: the TSC read on both
// sides of the clock read, their midpoint kept. Returns false when there is no usable TSC.
bool sample_tsc(std::uint64_t& tsc, std::uint64_t& monotonic_ns);
// Whether this CPU's TSC runs at a constant rate in every state, so that one linear map turns
// its ticks into CLOCK_MONOTONIC for every core (constant_tsc and nonstop_tsc).
bool tsc_usable();

}  // namespace viztrace
