#include "report/readers/slice_stack.h"

#include <algorithm>

namespace viztrace::report {

// Whether inner nests in outer. A B still open nests where it starts: it is expected to end in
// time (end() counts it as improper when it does not).
bool SliceStack::contains(const Entry& outer, const Entry& inner) {
  if (outer.name == kRun || inner.start < outer.start) return false;
  if (outer.end == kOpen) return true;
  if (inner.end == kOpen) return inner.start < outer.end;
  return inner.end <= outer.end;
}

// Whether a finished entry lies within s (which may still be open).
bool SliceStack::inside(const Entry& inner, const Entry& outer) {
  return inner.end != kOpen && inner.start >= outer.start && inner.end <= outer.end;
}

void SliceStack::emit(Sink& sink, const Entry& e) {
  if (e.name == kRun) return;  // its members were emitted when merged
  std::int64_t self = e.dur - e.child;
  if (self < 0) {  // children over-counted: only after an approximation
    ++counts_.approximate;
    self = 0;
  }
  sink.slice(e.name, e.dur, self);
}

void SliceStack::begin(Sink& sink, NameId name, std::int64_t ts) {
  arrive(sink, Entry{ts, kOpen, 0, 0, -1, name});
}

void SliceStack::complete(Sink& sink, NameId name, std::int64_t ts, std::int64_t dur) {
  arrive(sink, Entry{ts, ts + dur, dur, 0, -1, name});
}

void SliceStack::arrive(Sink& sink, Entry s) {
  // 1. Finished slices on top that s contains are its descendants, written before it.
  while (!stack_.empty() && inside(stack_.back(), s)) {
    const Entry t = stack_.back();
    stack_.pop_back();
    // A direct child of s unless its parent is inside s too (and so claimed with it). It may
    // have been counted under an outer slice, which now has s in between.
    if (t.parent < 0 || !inside(stack_[static_cast<std::size_t>(t.parent)], s)) {
      s.child += t.dur;
      if (t.parent >= 0) stack_[static_cast<std::size_t>(t.parent)].child -= t.dur;
    }
    emit(sink, t);
  }

  // 2. The parent: the innermost entry containing s. Entries that ended before s lead to it
  // through their parent links (whatever contains s contains them too).
  std::int32_t p = static_cast<std::int32_t>(stack_.size()) - 1;
  while (p >= 0) {
    const Entry& c = stack_[static_cast<std::size_t>(p)];
    if (contains(c, s)) break;
    if (c.end != kOpen && c.end <= s.start) {
      p = c.parent;
    } else if (c.name == kRun) {  // s falls among merged siblings: their parent is its parent
      ++counts_.approximate;
      p = c.parent;
    } else if (s.end != kOpen) {  // overlaps c without nesting: a slice on its own
      ++counts_.improper;
      emit(sink, s);
      return;
    } else {  // a B that starts before an open B: nests in it, as B/E do in file order
      ++counts_.improper;
      p = open_.empty() ? -1 : open_.back();
      break;
    }
  }

  // 3. Tidy the level s joins, then push s.
  collapse(sink, p);
  merge(sink, p);
  s.parent = p;
  if (p >= 0 && s.end != kOpen) stack_[static_cast<std::size_t>(p)].child += s.dur;
  if (s.end == kOpen) open_.push_back(static_cast<std::int32_t>(stack_.size()));
  stack_.push_back(s);
}

// The entries above parent are its finished children in start order, plus the descendants of
// the last one. A new child means those descendants are final: they leave the stack.
void SliceStack::collapse(Sink& sink, std::int32_t parent) {
  std::size_t keep = stack_.size();
  while (keep > static_cast<std::size_t>(parent + 1) && stack_[keep - 1].parent != parent) --keep;
  while (stack_.size() > keep) {
    emit(sink, stack_.back());
    stack_.pop_back();
  }
}

// Too many finished entries wait under parent: the older three quarters are packed, in order,
// into runs of at most cap members each, cap chosen so that they fill at most a quarter of the
// limit. The newest quarter stays as it is: its parent is most likely the next arrival. A later
// parent still claims whole runs; one that starts inside a run (only a slice written after more
// than limit / 4 waiting children) misses at most that run, and is counted as approximate.
void SliceStack::merge(Sink& sink, std::int32_t parent) {
  const std::size_t first = static_cast<std::size_t>(parent + 1);
  if (stack_.size() - first < max_siblings_) return;
  const std::size_t last = stack_.size() - max_siblings_ / 4;
  auto members = [](const Entry& e) { return e.name == kRun ? e.child : std::int64_t{1}; };
  std::int64_t total = 0;
  for (std::size_t i = first; i < last; ++i) total += members(stack_[i]);
  // Greedy packing leaves at most 2 * total / cap + 1 runs.
  const std::int64_t cap =
      std::max<std::int64_t>(2, 8 * total / static_cast<std::int64_t>(max_siblings_) + 1);
  std::size_t out = first;
  for (std::size_t i = first; i < last; ++i) {
    const Entry e = stack_[i];
    if (out > first && members(stack_[out - 1]) + members(e) <= cap) {
      Entry& run = stack_[out - 1];
      if (run.name != kRun) {
        emit(sink, run);
        run.name = kRun;
        run.child = 1;  // a run keeps its member count here
      }
      emit(sink, e);
      run.end = e.end;
      run.dur += e.dur;
      run.child += members(e);
    } else {
      stack_[out++] = e;
    }
  }
  stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(out),
               stack_.begin() + static_cast<std::ptrdiff_t>(last));
}

void SliceStack::end(Sink& sink, std::int64_t ts, NameId name) {
  (void)sink;
  std::size_t match = open_.size();
  while (match > 0 && name != kAnyName &&
         stack_[static_cast<std::size_t>(open_[match - 1])].name != name)
    --match;
  if (match == 0) {
    ++counts_.unmatched_ends;
    return;
  }
  while (open_.size() > match) {  // open B's inside the one this E ends: they end with it
    ++counts_.improper;
    close_innermost(ts);
  }
  close_innermost(ts);
}

void SliceStack::close_innermost(std::int64_t ts) {
  const std::size_t i = static_cast<std::size_t>(open_.back());
  open_.pop_back();
  Entry& o = stack_[i];
  if (ts < o.start) {  // time running backwards on a thread
    ++counts_.improper;
    ts = o.start;
  }
  o.end = ts;
  o.dur = ts - o.start;
  if (o.parent >= 0) {
    Entry& parent = stack_[static_cast<std::size_t>(o.parent)];
    parent.child += o.dur;
    if (parent.end != kOpen && o.end > parent.end) ++counts_.improper;
  }
  if (stack_.size() > i + 1 && stack_.back().end > o.end) ++counts_.improper;
}

void SliceStack::finish(Sink& sink, std::int64_t last_ts) {
  while (!open_.empty()) {
    const Entry& o = stack_[static_cast<std::size_t>(open_.back())];
    ++counts_.unclosed_begins;
    close_innermost(std::max(last_ts, o.start));
  }
  while (!stack_.empty()) {
    emit(sink, stack_.back());
    stack_.pop_back();
  }
}

}  // namespace viztrace::report
