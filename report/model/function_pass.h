// Function calls (function chunks of the spill) turned into slices, streamed: each thread's calls
// are matched on a stack while the spill is read, and every finished call goes to a sink at
// once, so memory depends on call depth and the number of distinct functions, never on the
// length of the trace. Addresses are named through the modules each process image reported.
//
// A return that does not match the innermost open call ends the calls above the one it
// matches (longjmp skipped their returns); a return with no open call to match is counted and
// ignored. Calls still open when their thread or process ends are closed there and marked
// unfinished.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/wire.h"
#include "report/model/module_map.h"
#include "report/model/symbolizer.h"
#include "report/model/trace_model.h"

namespace viztrace::report {

struct ClockSample {
  std::uint64_t ns;   // CLOCK_MONOTONIC
  std::uint64_t tsc;  // the TSC at the same moment
};

// Maps the time of a function record (VT_CLOCK_*) onto CLOCK_MONOTONIC ns, through the
// collector's (CLOCK_MONOTONIC, TSC) pairs: the first and the last span the run, their slope is
// the TSC's rate. ns = ns0 + ((tsc - tsc0) * mult) >> 32, in integers (a long double per event
// costs more than the rest of the event).
class RecordClock {
 public:
  explicit RecordClock(const std::vector<ClockSample>& samples);
  // 0 when it cannot be mapped (TSC ticks without two samples).
  __attribute__((always_inline)) std::uint64_t to_ns(std::uint64_t raw, std::uint8_t clock) const {
    if (clock == VT_CLOCK_MONOTONIC) return raw;
    if (!tsc_mapped_) return 0;
    const bool before = raw < tsc0_;  // calls before the first sample: map backwards
    const std::uint64_t ticks = before ? tsc0_ - raw : raw - tsc0_;
    const auto delta = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(ticks) * mult_ + (1ull << 31)) >> 32);
    if (before) return delta < ns0_ ? ns0_ - delta : 0;
    return ns0_ + delta;
  }

 private:
  bool tsc_mapped_ = false;
  std::uint64_t ns0_ = 0, tsc0_ = 0;
  std::uint64_t mult_ = 0;
};

// The time of the latest record of a VT_KIND_FUNCTIONS_PACKED chunk; 0 when none can be placed.
std::uint64_t last_record_ns(const vt_chunk_header& h, const unsigned char* body,
                             const RecordClock& clock);

// Which calls the report shows (they still count in their callers' self time).
struct FunctionFilter {
  std::uint64_t min_duration_ns = 0;
  std::string include;  // ECMAScript regex searched in the name; empty: every name
  std::string exclude;  // empty: none
};

// A pattern of FunctionFilter compiled as the report uses it; throws std::regex_error.
std::regex function_name_regex(const std::string& pattern);
// Why that pattern is refused, for a message that names where it came from first:
// "'([' is not a valid regular expression: ...".
std::string function_pattern_problem(const std::string& pattern, const std::regex_error& e);

struct FunctionSlice {
  std::uint32_t pid = 0, tid = 0;  // json pid, real tid
  std::uint64_t start = 0, end = 0;
  std::uint32_t name = 0;  // index into FunctionPass::name()
  std::uint32_t depth = 0;
  bool unfinished = false;
};

struct FunctionTotals {
  std::uint32_t name = 0;
  std::uint64_t count = 0, total_ns = 0, self_ns = 0;
};

struct FunctionCounts {
  std::uint64_t calls = 0;             // slices made (shown or filtered out)
  std::uint64_t shown = 0;             // slices that passed the filter
  std::uint64_t unfinished = 0;        // calls closed at their thread's or process's end
  std::uint64_t unmatched_returns = 0; // returns without an open call
  std::uint64_t skipped_returns = 0;   // calls ended by a later return (longjmp)
  std::uint64_t unmapped = 0;          // records whose clock could not be mapped
  std::uint64_t clock_steps_back = 0;  // records earlier than their thread's previous one
  std::uint64_t malformed_chunks = 0;  // packed chunks that did not unpack: left out
};

// The calls again, in time order per thread, for a writer that needs each thread's events in
// order (Perfetto's BEGIN/END events with delta timestamps): begin once a call is known to be
// shown, end when it returns. Under --min-duration a call begins only once it is that old, and
// the calls inside it wait for it; memory stays bounded by the call depth.
class FunctionEvents {
 public:
  virtual ~FunctionEvents() = default;
  // The thread (json pid, tid) of the calls that follow; the handle is passed back with them.
  virtual std::uint32_t thread(std::uint32_t pid, std::uint32_t tid) = 0;
  virtual void begin(std::uint32_t thread, std::uint64_t ts, std::uint32_t name) = 0;
  virtual void end(std::uint32_t thread, std::uint64_t ts, bool unfinished) = 0;
};

class FunctionPass {
 public:
  // Every call shown, when it has returned; may be empty.
  using Sink = std::function<void(const FunctionSlice&)>;

  // Throws viztrace::Error for a regex that does not compile, naming the filter and the regex.
  FunctionPass(const TraceModel& model, const ModuleMap& modules,
               const std::vector<ClockSample>& clock, const FunctionFilter& filter, Sink sink);
  ~FunctionPass();

  // Also sends the calls, in time order, to events (not owned; nullptr: none).
  void set_events(FunctionEvents* events) { events_ = events; }

  // One VT_KIND_FUNCTIONS_PACKED chunk: its header, and the bytes after.
  void chunk(const vt_chunk_header& h, const unsigned char* body);
  // Closes the calls still open.
  void finish();

  const std::string& name(std::uint32_t id) const { return names_[id].text; }
  // Where the function is in the source ("fn_demo.cpp:161"), "" when unknown (no DWARF).
  const std::string& source(std::uint32_t id) const { return names_[id].source; }
  // The same as a path as DWARF gives it (may be relative to the build directory) and a line;
  // "" and 0 when unknown.
  const std::string& source_file(std::uint32_t id) const { return names_[id].file; }
  std::uint32_t source_line(std::uint32_t id) const { return names_[id].line; }
  const FunctionCounts& counts() const { return counts_; }
  // Functions by self time, largest first.
  std::vector<FunctionTotals> top(std::size_t n) const;

 private:
  struct Frame {
    std::uint64_t addr, start, child_ns;
    std::uint32_t name;
    bool begun;  // sent to events_
  };
  // A thread's open calls. A push stores the fields one by one: a Frame built aside and
  // copied in was read back from stores still in flight.
  class FrameStack {
   public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    Frame& back() { return frames_[size_ - 1]; }
    Frame& operator[](std::size_t i) { return frames_[i]; }
    void pop_back() { --size_; }
    void push(std::uint64_t addr, std::uint64_t start, std::uint32_t name) {
      if (size_ == frames_.size()) frames_.resize(size_ * 2 + 16);
      Frame& f = frames_[size_++];
      f.addr = addr;
      f.start = start;
      f.child_ns = 0;
      f.name = name;
      f.begun = false;
    }

   private:
    std::vector<Frame> frames_;
    std::size_t size_ = 0;
  };
  struct Stream {
    std::uint32_t pid = 0, tid = 0, image = 0;
    std::uint32_t json_pid = 0;
    const ImageModules* modules = nullptr;  // of its image, once resolved; null: none announced
    bool resolved = false;
    bool announced = false;  // events_->thread() was asked
    std::uint32_t handle = 0;
    std::size_t undecided = 0;  // stack[undecided..] are not yet old enough to be shown
    std::uint64_t last_ts = 0;
    FrameStack stack;
  };
  struct Name {
    std::string text;
    std::string source;  // file base name and line of the first address seen with this name
    std::string file;    // the same file's full path, as DWARF names it
    std::uint32_t line = 0;
    bool shown = true;
    std::uint64_t count = 0, total_ns = 0, self_ns = 0;
  };

  void resolve(Stream& s);
  // The name of the function at addr, entered at ts.
  std::uint32_t name_of(const Stream& s, std::uint64_t addr, std::uint64_t ts);
  // One record of s's thread.
  void record(Stream& s, const vt_fn_record& r, std::uint8_t clock);
  std::uint32_t intern(std::string text);
  void close(Stream& s, std::uint64_t end, bool unfinished);
  // Begins, bottom up, the open calls that are old enough at `now` to be shown.
  void decide(Stream& s, std::uint64_t now);

  const TraceModel& model_;
  const ModuleMap& modules_;
  FunctionFilter filter_;
  std::unique_ptr<std::regex> include_, exclude_;
  Sink sink_;
  FunctionEvents* events_ = nullptr;
  Symbolizer symbolizer_;
  RecordClock clock_;
  // Recent (image, address, era) -> name lookups, direct-mapped in front of addr_names_. The
  // era tells apart the modules an address held in turn (ImageModules::era).
  struct CacheEntry {
    std::uint64_t key = 0, addr = 0;
    std::uint32_t name = UINT32_MAX, era = 0;
  };
  std::vector<CacheEntry> recent_ = std::vector<CacheEntry>(1024);

  std::unordered_map<std::uint64_t, Stream> streams_;  // by (pid << 32 | tid), image checked
  struct AddrKey {
    std::uint64_t image, addr;
    std::uint32_t era;
    bool operator==(const AddrKey&) const = default;
  };
  struct AddrKeyHash {
    std::size_t operator()(const AddrKey& k) const {
      return static_cast<std::size_t>(((k.image + k.era) * 0x9E3779B97F4A7C15ull) ^ k.addr);
    }
  };
  std::unordered_map<AddrKey, std::uint32_t, AddrKeyHash> addr_names_;
  std::unordered_map<std::string, std::uint32_t> name_ids_;
  std::vector<Name> names_;
  FunctionCounts counts_;
};

}  // namespace viztrace::report
