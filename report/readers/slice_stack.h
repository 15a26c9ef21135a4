// The slices of one thread, nested by time, to give each its self time (its duration minus its
// direct children's) while the events stream by in whatever order their writer chose: B/E in
// time order (uftrace), X sorted by start (pre-order), X written as each slice ends, children
// before parents (post-order: VizTracer, Chrome), and all of these mixed on one thread.
//
// The stack holds slices in start order; each either contains the ones above it or ended
// before the next begins. An arrival first claims the finished slices on top that it contains
// (post-order children), then finds its parent along the parent links. When a slice gets a
// later sibling, its subtree is final and leaves the stack. When more than max_siblings
// finished slices wait at one level (a post-order writer's frontier: the children of every
// ancestor not yet written), the older ones are packed in order into runs that a later parent
// claims whole. So memory is bounded by depth x max_siblings entries (40 bytes each), never by
// the trace's length, and self times are exact unless a parent written after more than
// max_siblings / 4 waiting children starts inside a run: then it misses that run (at most
// ~8 x waiting / max_siblings slices) and the self time is counted as approximate. Slices
// that overlap without nesting are counted too.
#pragma once

#include <cstdint>
#include <vector>

namespace viztrace::report {

class SliceStack {
 public:
  using NameId = std::uint32_t;
  static constexpr std::size_t kMaxSiblings = 4096;

  explicit SliceStack(std::size_t max_siblings = kMaxSiblings)
      : max_siblings_(max_siblings < 4 ? 4 : max_siblings) {}

  // Receives every slice once, when its self time is final.
  class Sink {
   public:
    virtual void slice(NameId name, std::int64_t dur, std::int64_t self) = 0;

   protected:
    ~Sink() = default;
  };

  struct Counts {
    std::uint64_t unmatched_ends = 0;   // E with no open B (of its name) on the thread: ignored
    std::uint64_t unclosed_begins = 0;  // B never ended: closed at the thread's last timestamp
    std::uint64_t improper = 0;         // slices that overlap without nesting
    std::uint64_t approximate = 0;      // self times that could not be told exactly
  };

  // Times are ns. The sink is called from these, in no particular order.
  void begin(Sink& sink, NameId name, std::int64_t ts);  // B
  // E. A named E ends the innermost open B of that name, as Perfetto's importer does, and
  // closes the open B's inside it at the same time; with no such B it is ignored (uftrace
  // writes E events for scheduling spans that began before its recording).
  static constexpr NameId kAnyName = UINT32_MAX - 1;
  void end(Sink& sink, std::int64_t ts, NameId name = kAnyName);
  void complete(Sink& sink, NameId name, std::int64_t ts, std::int64_t dur);  // X
  // At the end of the trace: closes open slices at last_ts and hands out everything.
  void finish(Sink& sink, std::int64_t last_ts);

  const Counts& counts() const { return counts_; }
  std::size_t depth() const { return stack_.size(); }

 private:
  static constexpr std::int64_t kOpen = INT64_MAX;  // end of a B waiting for its E
  static constexpr NameId kRun = UINT32_MAX;        // name of merged finished siblings

  struct Entry {
    std::int64_t start, end;
    std::int64_t dur;          // what a parent loses to it: end - start, or a run's sum
    std::int64_t child = 0;    // time of its direct children so far; a run's member count
    std::int32_t parent = -1;  // index of the innermost entry containing it
    NameId name;
  };

  static bool contains(const Entry& outer, const Entry& inner);
  static bool inside(const Entry& inner, const Entry& outer);
  void arrive(Sink& sink, Entry s);
  void collapse(Sink& sink, std::int32_t parent);
  void merge(Sink& sink, std::int32_t parent);
  void emit(Sink& sink, const Entry& e);
  void close_innermost(std::int64_t ts);
  std::size_t swap_with_longer_child(std::size_t i, std::int64_t ts, bool& swapped);
  std::size_t swap_with_shorter_parent(std::size_t i, std::int64_t ts);

  std::size_t max_siblings_;
  std::vector<Entry> stack_;
  std::vector<std::int32_t> open_;  // indices of the open B entries, innermost last
  Counts counts_;
};

}  // namespace viztrace::report
